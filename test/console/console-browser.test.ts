/**
 * The console in a real browser: Debian's Chromium (/usr/bin/chromium, `.ci/packages.txt`) driven by
 * playwright-core — never a downloaded browser — against the Node entry. Signs in, reads a machine's
 * boot timeline, assigns a profile and sees it in the API, uploads an image with the page's script
 * (multipart, with progress) and without JavaScript, gets validation messages, and checks the
 * phone layout and keyboard access. Screenshots go to test-results/console/ for review.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, randomMac, unique } from '../contract/target.ts';
import { REPO_ROOT, spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { COOKIE, ok, seedFleet, type Fleet } from './support.ts';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = join(REPO_ROOT, 'test-results/console');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let entry: SpawnedEntry;
let fleet: Fleet;
let browser: Browser;
let context: BrowserContext;
let page: Page;
const problems: string[] = [];

const shot = (p: Page, name: string) => p.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (Debian package, listed in .ci/packages.txt)`);
  mkdirSync(SHOTS, { recursive: true });
  entry = await spawnEntry({ name: 'console-browser', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
  fleet = await seedFleet(entry);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  context = await browser.newContext({ baseURL: entry.baseUrl, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  // A CSP violation or a script error would mean a page relies on something the policy forbids.
  page.on('console', (m) => m.type() === 'error' && problems.push(`${m.text()} ${m.location().url}`));
  page.on('pageerror', (e) => problems.push(String(e)));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await entry?.stop();
});

describe('web console in Chromium (Node entry)', () => {
  it('signs in with a token and shows the fleet overview', async () => {
    await page.goto('/');
    await expect.poll(() => new URL(page.url()).pathname).toBe('/console/sign-in');
    await shot(page, '01-sign-in');
    await page.getByLabel('API token').fill(entry.adminToken);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    const cookie = (await context.cookies()).find((c) => c.name === COOKIE)!;
    expect(cookie).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Lax', path: '/' });
    expect(await page.evaluate(() => document.cookie)).not.toContain(COOKIE);
    expect(await page.getByRole('table').first().textContent()).toContain('discovered');
    await shot(page, '02-overview');
  });

  it("reads a machine's boot timeline as a chart with stage durations", async () => {
    await page.goto(`/console/machines/${fleet.a.id}`);
    await page.getByRole('heading', { name: 'Boot timeline' }).waitFor();
    const chart = page.getByRole('img', { name: /Boot stages over/ });
    await expect.poll(() => chart.count()).toBeGreaterThan(0);
    const title = (await chart.first().getAttribute('aria-labelledby'))!;
    const label = await page.locator(`#${title}`).textContent();
    expect(label).toContain('tftp-done 900 ms');
    expect(label).toContain('script-rendered');
    // The bars: one per stage, the TFTP transfer drawn with its 900 ms.
    expect(await chart.first().locator('rect').count()).toBeGreaterThanOrEqual(5);
    await page.getByText(/Stages and callbacks/).click();
    expect(await page.getByRole('cell', { name: 'undionly.kpxe' }).count()).toBeGreaterThan(0);
    await shot(page, '03-machine-timeline');
  });

  it('assigns a profile to a machine, and the API shows the assignment', async () => {
    const mac = randomMac();
    const m = ok(await call(entry, 'POST', '/v1/machines', { json: { mac, siteId: fleet.siteA, arch: 'uefi-x64', hostname: unique('assign-me') } }), 201, 'machine');
    await page.goto(`/console/machines/${m.id}`);
    const profile = ok(await call(entry, 'GET', `/v1/profiles/${fleet.profile.id}`), 200, 'profile');
    await page.getByLabel('Assign a profile to this machine').selectOption({ label: `${profile.name} (linux)` });
    await page.getByLabel(/One-shot/).check();
    await page.getByRole('button', { name: 'Assign' }).click();
    await page.getByText('Assignment created.').waitFor();
    const match = ok(await call(entry, 'GET', `/v1/machines/${m.id}/assignment`), 200, 'assignment');
    expect(match.assignment).toMatchObject({ profileId: fleet.profile.id, once: true, selector: { machineId: m.id } });
    const explain = ok(await call(entry, 'GET', `/v1/machines/${m.id}/explain`), 200, 'explain');
    expect(explain).toMatchObject({ action: 'boot', profile: { id: fleet.profile.id }, once: true });
    expect(await page.locator('main').textContent()).toContain(profile.name);
    await shot(page, '04-machine-assigned');
  });

  it('uploads an image through the multipart API part by part with a progress bar, and lists its size and hash', async () => {
    // 11 MiB in parts of 5 MiB (the smallest S3 and R2 take): three PUTs, the second held back so the bar shows.
    const bytes = randomBytes(11 * 1024 * 1024 + 17);
    const sha = createHash('sha256').update(bytes).digest('hex');
    const name = unique('initrd');
    await page.goto('/console/images');
    await page.locator('#upload').evaluate((f) => f.setAttribute('data-part-size', String(5 * 1024 * 1024)));
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Kind').selectOption('initrd');
    await page.getByLabel('File').setInputFiles({ name: 'initrd.img', mimeType: 'application/octet-stream', buffer: bytes });
    const parts: string[] = [];
    page.on('request', (r) => r.url().includes('/console/api/images/') && r.method() === 'PUT' && parts.push(new URL(r.url()).pathname.split('/').pop()!));
    let release!: () => void;
    const held = new Promise<void>((done) => (release = done));
    await page.route('**/parts/3', async (route) => {
      await held;
      await route.continue();
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    // Parts 1 and 2 are through, part 3 is held: the bar stands at 10 of 11 MiB.
    const progress = page.getByRole('progressbar', { name: 'Upload progress' });
    await expect.poll(async () => Number(await progress.getAttribute('value')), { timeout: 15_000 }).toBeGreaterThanOrEqual(10 * 1024 * 1024);
    expect(await page.locator('#upload-status').textContent()).toMatch(/^10(\.0)? MiB of 11 MiB · .*\/s · about \d+ s left · part 2 of 3$/);
    await shot(page, '05-upload-progress');
    release();
    await page.getByText('Image uploaded.').waitFor();
    expect(parts).toEqual(['1', '2', '3']);
    const row = page.getByRole('row').filter({ hasText: name });
    expect(await row.textContent()).toContain(sha);
    expect(await row.textContent()).toContain('11 MiB');
    const images = ok(await call(entry, 'GET', '/v1/images?limit=500'), 200, 'images').items;
    expect(images.find((i: any) => i.name === name)).toMatchObject({ status: 'ready', size: bytes.length, sha256: sha, kind: 'initrd' });
    await shot(page, '06-images');
  });

  it('works without JavaScript: the upload form posts the file itself', async () => {
    const noJs = await browser.newContext({ baseURL: entry.baseUrl, javaScriptEnabled: false });
    const p = await noJs.newPage();
    await p.goto('/console/sign-in');
    await p.getByLabel('API token').fill(entry.adminToken);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.getByRole('heading', { name: 'Fleet overview' }).waitFor();
    await p.goto('/console/images');
    const name = unique('nojs');
    const bytes = randomBytes(10_000);
    await p.getByLabel('Name').fill(name);
    await p.getByLabel('File').setInputFiles({ name: 'x.bin', mimeType: 'application/octet-stream', buffer: bytes });
    await p.getByRole('button', { name: 'Upload' }).click();
    await p.getByText('Image uploaded.').waitFor();
    expect(await p.getByRole('row').filter({ hasText: name }).textContent()).toContain(createHash('sha256').update(bytes).digest('hex'));
    await noJs.close();
  });

  it("shows the schema's validation messages next to the fields, then creates the profile", async () => {
    await page.goto('/console/profiles/new');
    await page.getByLabel('Name', { exact: true }).fill('!bad name');
    await page.getByLabel('Kind', { exact: true }).selectOption('linux');
    await page.getByRole('button', { name: 'Create profile' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/name: letters, digits/);
    expect(await page.getByLabel('Name', { exact: true }).getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('!bad name');
    await shot(page, '07-profile-validation');
    const name = unique('console-profile');
    await page.getByLabel('Name', { exact: true }).fill(name);
    await page.getByLabel('Kernel image (linux)').selectOption(fleet.kernel.id);
    await page.getByLabel('Kernel command line (linux)').fill('console=ttyS0 quiet');
    await page.getByRole('button', { name: 'Create profile' }).click();
    await page.getByText('Created.').waitFor();
    const list = ok(await call(entry, 'GET', '/v1/profiles?limit=500'), 200, 'profiles').items;
    expect(list.find((p: any) => p.name === name)?.spec).toMatchObject({ kind: 'linux', kernel: fleet.kernel.id, cmdline: 'console=ttyS0 quiet' });
  });

  it('creates an assignment by labels and shows the audit log', async () => {
    await page.goto('/console/assignments');
    const profile = ok(await call(entry, 'GET', `/v1/profiles/${fleet.script.id}`), 200, 'profile');
    await page.getByLabel('Profile').selectOption({ label: `${profile.name} (ipxe)` });
    await page.getByLabel('Labels').fill('rack=r12, role=db');
    await page.getByRole('button', { name: 'Create assignment' }).click();
    await page.getByText('Created.').waitFor();
    await page.goto('/console/audit');
    expect(await page.getByRole('table').textContent()).toContain('POST /v1/assignments');
    await shot(page, '08-audit');
  });

  it('is usable on a phone: no sideways scrolling, a skip link for keyboards', async () => {
    const phone = await browser.newContext({ baseURL: entry.baseUrl, viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
    await phone.addCookies((await context.cookies()).map((c) => ({ ...c })));
    const p = await phone.newPage();
    for (const [path, name] of [
      ['/console', '09-phone-overview'],
      [`/console/machines/${fleet.a.id}`, '10-phone-machine'],
      ['/console/images', '11-phone-images'],
    ] as const) {
      await p.goto(path);
      await p.locator('main').waitFor();
      expect(await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth), path).toBeLessThanOrEqual(0);
      await shot(p, name);
    }
    await phone.close();
    await page.goto('/console');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => location.hash)).toBe('#main');
  });

  it('labels every control, has one h1 and a main landmark on every page, and shows keyboard focus', async () => {
    const pages = ['/console', `/console/sites/${fleet.siteA}`, '/console/machines', `/console/machines/${fleet.a.id}`, '/console/images', '/console/profiles/new', `/console/profiles/${fleet.profile.id}`, '/console/assignments', '/console/audit'];
    for (const path of pages) {
      await page.goto(path);
      const facts = await page.evaluate(() => ({
        lang: document.documentElement.lang,
        h1: document.querySelectorAll('h1').length,
        main: document.querySelectorAll('main').length,
        unlabelled: [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
          .filter((el) => {
            const e = el as HTMLInputElement;
            return !(e.labels && e.labels.length > 0) && !e.getAttribute('aria-label') && !(el.tagName === 'BUTTON' && el.textContent!.trim());
          })
          .map((el) => el.outerHTML.slice(0, 80)),
      }));
      expect(facts, path).toEqual({ lang: 'en', h1: 1, main: 1, unlabelled: [] });
    }
    await page.goto('/console/assignments');
    await page.getByLabel('Machine MAC').focus();
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).toBe('solid');
  });

  it('signs out, and the pages ask for a token again', async () => {
    await page.goto('/console');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You are signed out.').waitFor();
    await page.goto(`/console/machines/${fleet.a.id}`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    // Pages answering a form with its problems are 400 on purpose; anything else is a fault.
    expect(problems.filter((m) => !m.includes('status of 400 (Bad Request)'))).toEqual([]);
  });
});
