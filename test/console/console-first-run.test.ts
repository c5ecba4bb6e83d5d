/**
 * The console in Chromium (Debian's /usr/bin/chromium via playwright-core) from an empty install: a
 * new admin is led from "no sites" through a site, a relay (enrolled with the code the page shows,
 * as the install script would), an image, a profile and an assignment; on a phone without JavaScript
 * (every form a plain POST) and on a desktop with it. Then the pages for machines, tokens, webhooks
 * and a site's settings, on both viewports. Screenshots go to test-results/console/ for review.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dellReport } from '../contract/api/inventory.contract.ts';
import { renderedBoot } from '../contract/boot-fixtures.ts';
import { call, randomMac } from '../contract/target.ts';
import { REPO_ROOT, spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { ok } from './support.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(REPO_ROOT, 'test-results/console');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true },
  desktop: { viewport: { width: 1280, height: 900 } },
} as const;
type Viewport = keyof typeof VIEWPORTS;

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (Debian package, listed in .ci/packages.txt)`);
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

/** A fresh install (its own empty data directory) and a signed-in admin in a browser of that size. */
async function freshInstall(name: string, size: Viewport, javaScriptEnabled = true) {
  const entry = await spawnEntry({ name, command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
  const context = await browser.newContext({ baseURL: entry.baseUrl, javaScriptEnabled, ...VIEWPORTS[size] });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`${m.text()} ${m.location().url}`));
  page.on('pageerror', (e) => problems.push(String(e)));
  // The pages' confirm() before a delete or revoke: accepted, as a person would.
  page.on('dialog', (d) => void d.accept());
  await page.goto('/console');
  await page.getByLabel('API token').fill(entry.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
  return { entry, context, page, problems };
}

async function close(s: { entry: SpawnedEntry; context: BrowserContext }) {
  await s.context.close();
  await s.entry.stop();
}

/** Nothing wider than the screen (tables scroll inside their own box), and a screenshot. */
async function fits(page: Page, name: string) {
  await page.locator('main').waitFor();
  // Against the configured width: a phone browser widens its layout viewport to a too-wide page.
  const width = page.viewportSize()!.width;
  const wide = await page.evaluate(
    (w) => [...document.querySelectorAll('body *')].filter((e) => (e.getBoundingClientRect().right > w || e.scrollWidth > e.clientWidth + 1) && getComputedStyle(e).overflowX === 'visible' && !e.parentElement?.closest('.scroll')).map((e) => `${e.tagName.toLowerCase()}.${e.className}: ${(e.textContent ?? '').slice(0, 40)}`).slice(0, 5),
    width,
  );
  expect(await page.evaluate(() => document.documentElement.scrollWidth), `${name}: ${wide.join(' | ')}`).toBeLessThanOrEqual(width);
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

const steps = (page: Page) => page.getByRole('region', { name: 'Getting started' });

async function firstRun(size: Viewport, javaScript: boolean) {
  const s = await freshInstall(`first-run-${size}`, size, javaScript);
  const { page, entry } = s;
  try {
    await expect.poll(() => steps(page).count()).toBe(1);
    expect(await page.getByText('No sites yet.').count()).toBe(1);
    // The next step is marked for assistive technology too.
    expect(await steps(page).locator('[aria-current=step]').textContent()).toContain('Create a site');
    await fits(page, `first-run-${size}-1-empty`);

    // 1. A site.
    await steps(page).getByRole('link', { name: 'Create a site' }).click();
    await page.getByRole('textbox', { name: /^Name/ }).fill('branch-paris');
    await page.getByRole('textbox', { name: /^Description/ }).fill('Paris office, 2nd floor');
    await page.getByRole('button', { name: 'Create site' }).click();
    await page.getByText('Site created. Next: enroll a relay').waitFor();
    await page.getByRole('heading', { name: 'Site branch-paris' }).waitFor();
    const siteId = new URL(page.url()).pathname.split('/').pop()!;

    // 2. A relay: the page's code and install command; the box enrolls with that code.
    await page.getByRole('button', { name: 'New enrollment code for a relay' }).click();
    const command = (await page.locator('code').filter({ hasText: 'install.sh' }).textContent())!;
    expect(command).toContain(`curl -fsSL ${entry.baseUrl}/v1/relays/install.sh | sudo sh -s -- --code `);
    const code = /--code (\S+)/.exec(command)![1]!;
    await fits(page, `first-run-${size}-2-enrollment`);
    ok(await call(entry, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: 'relay-paris' } }), 201, 'enroll with the code from the page');
    await page.goto(`/console/sites/${siteId}`);
    expect(await page.getByRole('cell', { name: 'relay-paris', exact: true }).count()).toBe(1);

    // 3. An image.
    await page.goto('/console');
    await steps(page).getByRole('link', { name: 'Upload an image' }).click();
    await page.getByLabel('Name', { exact: true }).fill('vmlinuz-bookworm');
    await page.getByLabel('Kind', { exact: true }).selectOption('kernel');
    await page.getByLabel('File').setInputFiles({ name: 'vmlinuz', mimeType: 'application/octet-stream', buffer: Buffer.alloc(64 * 1024, 7) });
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByText('Image uploaded.').waitFor();

    // 4. A profile that boots it.
    await page.goto('/console');
    await steps(page).getByRole('link', { name: 'Create a profile' }).click();
    await page.getByLabel('Name', { exact: true }).fill('debian-install');
    await page.getByLabel('Kind', { exact: true }).selectOption('linux');
    await page.getByLabel('Kernel image (linux)').selectOption({ label: 'vmlinuz-bookworm (kernel)' });
    await page.getByLabel('Kernel command line (linux)').fill('console=ttyS0');
    await fits(page, `first-run-${size}-profile-form`);
    await page.getByRole('button', { name: 'Create profile' }).click();
    await page.getByRole('heading', { name: 'Profile debian-install' }).waitFor();

    // 5. The assignment, to a machine not seen yet, by its MAC.
    await page.goto('/console');
    expect(await steps(page).locator('[aria-current=step]').textContent()).toContain('Assign the profile');
    await fits(page, `first-run-${size}-3-four-done`);
    await steps(page).getByRole('link', { name: 'Assign the profile' }).click();
    const mac = randomMac();
    await page.getByLabel('Profile', { exact: true }).selectOption({ label: 'debian-install (linux)' });
    await page.getByRole('textbox', { name: /^Machine MAC/ }).fill(mac);
    await page.getByLabel('Site', { exact: true }).selectOption({ label: 'branch-paris' });
    await page.getByRole('button', { name: 'Create assignment' }).click();
    await page.getByText('Created.').waitFor();
    // People read names: the profile and the site by name, the machine by its MAC; no ids.
    const row = (await page.getByRole('table').first().textContent())!;
    expect(row).toContain('debian-install');
    expect(row).toContain(`MAC ${mac}`);
    expect(row).toContain('site branch-paris');
    expect(row).not.toContain(siteId);
    await fits(page, `first-run-${size}-4-assignment`);

    const profile = ok(await call(entry, 'GET', '/v1/profiles'), 200, 'profiles').items[0];
    const assignments = ok(await call(entry, 'GET', '/v1/assignments'), 200, 'assignments').items;
    expect(assignments).toEqual([expect.objectContaining({ profileId: profile.id, selector: { mac, siteId } })]);
    // Every step taken: the overview no longer shows the list.
    await page.goto('/console');
    await page.getByRole('link', { name: 'branch-paris' }).first().waitFor();
    expect(await steps(page).count()).toBe(0);
    await fits(page, `first-run-${size}-5-overview`);
    expect(s.problems).toEqual([]);
  } finally {
    await close(s);
  }
}

/** The pages that run a fleet once it has begun: machines, tokens, webhooks, a site's settings and its relay. */
async function fleetPages(size: Viewport) {
  const s = await freshInstall(`fleet-pages-${size}`, size);
  const { page, entry } = s;
  try {
    const siteId = ok(await call(entry, 'POST', '/v1/sites', { json: { name: 'lab' } }), 201, 'site').id;
    const code = ok(await call(entry, 'POST', `/v1/sites/${siteId}/enrollment-codes`, { json: {} }), 201, 'code').code;
    const enrolled = ok(await call(entry, 'POST', '/v1/relays/enroll', { token: null, json: { code, name: 'relay-lab' } }), 201, 'enroll');
    const relay = enrolled.relay;
    const relayToken: string = enrolled.token;

    // Machines: add one by MAC, edit its labels, reprovision its filter, delete it.
    await page.goto('/console/machines');
    expect(await page.getByText('No machines yet').count()).toBe(1);
    const mac = randomMac();
    const add = page.getByRole('region', { name: 'Add a machine' });
    await add.getByRole('textbox', { name: /^MAC address/ }).fill(mac);
    await add.getByRole('textbox', { name: /^Hostname/ }).fill('web-1');
    await add.getByLabel('Site', { exact: true }).selectOption({ label: 'lab' });
    await add.getByRole('textbox', { name: /^Labels/ }).fill('rack=r1');
    await add.getByRole('button', { name: 'Add machine' }).click();
    await page.getByText('Machine added.').waitFor();
    await page.getByRole('heading', { name: /^Machine web-1/ }).waitFor();
    await fits(page, `fleet-${size}-1-machine`);
    await page.getByRole('textbox', { name: /^Labels/ }).fill('rack=r2, env=lab');
    await page.getByRole('button', { name: 'Save machine' }).click();
    await page.getByText('Saved.').waitFor();
    const machine = ok(await call(entry, 'GET', `/v1/machines/${mac}`), 200, 'machine');
    expect(machine).toMatchObject({ hostname: 'web-1', siteId, labels: { rack: 'r2', env: 'lab' } });
    ok(await call(entry, 'PATCH', `/v1/machines/${machine.id}`, { json: { state: 'deployed' } }), 200, 'deployed');
    await page.goto(`/console/machines?siteId=${siteId}&state=deployed`);
    await page.getByRole('button', { name: 'Reprovision 1 machine of this filter' }).click();
    await page.getByText('Reprovisioned 1 machine:').waitFor();
    expect(ok(await call(entry, 'GET', `/v1/machines/${machine.id}`), 200, 'machine').state).toBe('ready');
    await fits(page, `fleet-${size}-2-machines`);
    await page.goto(`/console/machines/${machine.id}`);
    await page.getByRole('button', { name: 'Delete machine' }).click();
    await page.getByText('Deleted.').waitFor();
    expect((await call(entry, 'GET', `/v1/machines/${machine.id}`)).status).toBe(404);

    // A machine that ran the imager: its hardware, in tables that fit the screen.
    const boot = await renderedBoot(entry, siteId, { relay: { relayId: relay.id, token: relayToken } });
    ok(await call(entry, 'POST', `/v1/callback/inventory?mac=${boot.mac}`, { token: boot.token, json: dellReport() }), 200, 'inventory');
    await page.goto(`/console/machines/${boot.machineId}`);
    const hardware = page.getByRole('region', { name: 'Hardware' });
    await hardware.getByRole('cell', { name: 'ST4000NM0035' }).waitFor();
    expect(await hardware.getByRole('cell', { name: '25 Gb/s' }).count()).toBe(1);
    await fits(page, `fleet-${size}-2b-hardware`);

    // Tokens: an operator of lab; the secret once; revoke.
    await page.goto('/console/tokens');
    await page.getByRole('textbox', { name: /^Name/ }).fill('ci-deploy');
    await page.getByRole('radio', { name: /^Operator/ }).check();
    await page.getByRole('checkbox', { name: 'lab' }).check();
    await page.getByRole('button', { name: 'Create token' }).click();
    const secret = await page.getByLabel('Secret').inputValue();
    expect(secret).toMatch(/^ebt_[0-9a-z]{32}$/);
    await fits(page, `fleet-${size}-3-token-created`);
    const token = ok(await call(entry, 'GET', '/v1/tokens'), 200, 'tokens').items.find((t: any) => t.name === 'ci-deploy');
    expect(token).toMatchObject({ role: 'operator', siteIds: [siteId], revokedAt: null });
    await page.goto('/console/tokens');
    expect(await page.content()).not.toContain(secret);
    await page.getByRole('button', { name: 'Revoke ci-deploy' }).click();
    await page.getByText('Token revoked.').waitFor();
    expect(ok(await call(entry, 'GET', `/v1/tokens/${token.id}`), 200, 'token').revokedAt).not.toBeNull();

    // Webhooks: create for lab, send a test event, see it in the delivery log, delete.
    await page.goto('/console/webhooks');
    await page.getByRole('textbox', { name: /^Receiver URL/ }).fill('https://hooks.example.com/edgeboot');
    await page.getByLabel('Events of').selectOption({ label: 'Site lab' });
    await page.getByRole('checkbox', { name: 'machine.deployed' }).check();
    await page.getByRole('button', { name: 'Create webhook' }).click();
    expect(await page.getByLabel('Signing secret').inputValue()).toMatch(/^whsec_/);
    await page.getByRole('link', { name: 'Its delivery log' }).click();
    await page.getByRole('button', { name: 'Send test event' }).click();
    await page.getByText('Test event queued').waitFor();
    await page.getByRole('cell', { name: 'webhook.test' }).waitFor();
    await fits(page, `fleet-${size}-4-webhook-log`);
    await page.getByRole('button', { name: 'Delete webhook' }).click();
    await page.getByText('Deleted.').waitFor();
    expect(ok(await call(entry, 'GET', '/v1/webhooks'), 200, 'webhooks').items).toEqual([]);

    // The site: rename it, revoke its relay.
    await page.goto(`/console/sites/${siteId}`);
    await page.getByRole('textbox', { name: /^Name/ }).fill('lab-2');
    await page.getByRole('button', { name: 'Save site' }).click();
    await page.getByRole('heading', { name: 'Site lab-2' }).waitFor();
    await page.getByRole('button', { name: 'Revoke relay-lab' }).click();
    await page.getByText('Relay revoked').waitFor();
    expect(ok(await call(entry, 'GET', `/v1/relays/${relay.id}`), 200, 'relay').revokedAt).not.toBeNull();
    await fits(page, `fleet-${size}-5-site`);
    expect(s.problems).toEqual([]);
  } finally {
    await close(s);
  }
}

describe('the console from an empty install (Chromium)', () => {
  it('leads a new admin from no sites to an assignment on a phone, without JavaScript', () => firstRun('phone', false), 120_000);
  it('leads a new admin from no sites to an assignment on a desktop, with JavaScript', () => firstRun('desktop', true), 120_000);
  it('runs machines, tokens, webhooks, a site and its relay on a phone', () => fleetPages('phone'), 120_000);
  it('runs machines, tokens, webhooks, a site and its relay on a desktop', () => fleetPages('desktop'), 120_000);
});
