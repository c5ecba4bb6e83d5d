/**
 * Setting a machine's BMC from the console in a real browser (Debian's Chromium driven by
 * playwright-core, as console-browser.test.ts): the page's script seals the password with WebCrypto
 * to each relay of the site, so no request the browser sends carries it; what the cloud stores opens
 * with the relay's private key (key pairs this test makes, as relays make theirs); power buttons'
 * results appear once the relay reports; without JavaScript the form says it needs it and sends nothing.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSecret } from '../../shared/crypto/seal.ts';
import { createSite } from '../contract/fixtures.ts';
import { keyedRelay, type KeyedRelay } from '../contract/power-fixtures.ts';
import { call, randomMac } from '../contract/target.ts';
import { spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { ok } from './support.ts';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let entry: SpawnedEntry;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium (Debian package, listed in .ci/packages.txt)`);
  entry = await spawnEntry({ name: 'console-bmc', command: process.execPath, args: () => ['cloud/src/entry/node.ts'], env: { PORT: '0' }, listening: /listening on (http:\/\/\S+)/i });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await entry?.stop();
});

interface Signed {
  context: BrowserContext;
  page: Page;
  /** Every request body the browser sent, to look for the password in. */
  sent: string[];
  problems: string[];
}

async function signedIn(javaScriptEnabled = true): Promise<Signed> {
  const context = await browser.newContext({ baseURL: entry.baseUrl, javaScriptEnabled });
  const page = await context.newPage();
  const sent: string[] = [];
  const problems: string[] = [];
  page.on('request', (r) => sent.push(`${r.method()} ${r.url()} ${r.postData() ?? ''}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
  page.on('pageerror', (e) => problems.push(String(e)));
  await page.goto('/console/sign-in');
  await page.getByLabel('API token').fill(entry.adminToken);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
  return { context, page, sent, problems };
}

/** A site with two keyed relays and a machine with no BMC yet. */
async function world(): Promise<{ machineId: string; relays: KeyedRelay[] }> {
  const siteId = await createSite(entry);
  const relays = [await keyedRelay(entry, siteId), await keyedRelay(entry, siteId)];
  const m = ok(await call(entry, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId } }), 201, 'machine');
  return { machineId: m.id, relays };
}

/** Queues nothing: takes the machine's queued jobs as `relay` would, returning what it was handed. */
async function take(relay: KeyedRelay): Promise<{ id: string; bmc: { sealed: string; address: string; username: string } }[]> {
  return ok(await call(entry, 'GET', '/v1/relay/power-jobs?max=16', { token: relay.token }), 200, 'claim').jobs;
}

describe('console: setting a BMC in Chromium (Node entry)', () => {
  it('seals the password in the browser: no request carries it, and each relay opens its own copy', async () => {
    const w = await world();
    const password = `Br0wser-${crypto.randomUUID()}`;
    const s = await signedIn();
    await s.page.goto(`/console/machines/${w.machineId}`);
    // The note for browsers without JavaScript is not rendered here.
    expect(await s.page.locator('#bmc-form').innerText()).not.toContain('needs JavaScript');
    await s.page.getByLabel('Protocol').selectOption('ipmi');
    await s.page.getByLabel(/^Address/).fill('10.20.0.9:623');
    await s.page.getByLabel('User', { exact: true }).fill('admin');
    await s.page.getByLabel(/^Password/).fill(password);
    await s.page.getByRole('button', { name: 'Seal the password and save' }).click();
    await s.page.getByText('BMC saved').waitFor();

    expect(s.sent.filter((x) => x.includes(password))).toEqual([]);
    expect(s.sent.some((x) => x.startsWith(`POST ${entry.baseUrl}/console/machines/${w.machineId}/bmc `) && x.includes('credentials=') && x.includes('s1.'))).toBe(true);
    const bmc = ok(await call(entry, 'GET', `/v1/machines/${w.machineId}/bmc`), 200, 'bmc');
    expect(bmc).toMatchObject({ protocol: 'ipmi', address: '10.20.0.9:623', username: 'admin', sealedFor: w.relays.map((r) => r.relayId).sort(), missingFor: [] });

    // What the cloud stored, as each relay is handed it: ciphertext that only its key opens.
    ok(await call(entry, 'POST', `/v1/machines/${w.machineId}/power`, { json: { action: 'status' } }), 202, 'job');
    const [first] = await take(w.relays[0]!);
    expect(first!.bmc.sealed).toMatch(/^s1\.[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    expect(first!.bmc.sealed).not.toContain(password);
    expect(await openSecret(first!.bmc.sealed, w.relays[0]!.keys, { machineId: w.machineId, relayId: w.relays[0]!.relayId })).toBe(password);
    await expect(openSecret(first!.bmc.sealed, w.relays[1]!.keys, { machineId: w.machineId, relayId: w.relays[1]!.relayId })).rejects.toThrow(/not sealed to this relay/);
    ok(await call(entry, 'POST', `/v1/machines/${w.machineId}/power`, { json: { action: 'status' } }), 202, 'job');
    const [second] = await take(w.relays[1]!);
    expect(await openSecret(second!.bmc.sealed, w.relays[1]!.keys, { machineId: w.machineId, relayId: w.relays[1]!.relayId })).toBe(password);
    expect(s.problems).toEqual([]);
    await s.context.close();
  });

  it("shows a power button's result once the relay reports it, and deletes the BMC", async () => {
    const w = await world();
    const s = await signedIn();
    await s.page.goto(`/console/machines/${w.machineId}`);
    await s.page.getByLabel(/^Address/).fill('10.20.0.10');
    await s.page.getByLabel('User', { exact: true }).fill('admin');
    await s.page.getByLabel(/^Password/).fill('pw-for-power');
    await s.page.getByRole('button', { name: 'Seal the password and save' }).click();
    await s.page.getByText('BMC saved').waitFor();

    await s.page.getByRole('button', { name: 'Read power state' }).click();
    await s.page.getByText('Power job queued').waitFor();
    const row = s.page.locator('section[aria-labelledby=h-power] tbody tr').first();
    expect(await row.locator('td').nth(1).textContent()).toBe('queued');
    // The relay's part, with its key: it opens the password and reports what the BMC said.
    const [job] = await take(w.relays[0]!);
    expect(await openSecret(job!.bmc.sealed, w.relays[0]!.keys, { machineId: w.machineId, relayId: w.relays[0]!.relayId })).toBe('pw-for-power');
    ok(await call(entry, 'POST', `/v1/relay/power-jobs/${job!.id}/result`, { token: w.relays[0]!.token, json: { ok: true, powerState: 'off', durationMs: 37 } }), 200, 'report');
    await s.page.reload();
    expect((await row.locator('td').allTextContents()).slice(0, 4)).toEqual(['status', 'succeeded', 'off', '37 ms']);

    s.page.once('dialog', (d) => void d.accept());
    await s.page.getByRole('button', { name: 'Delete the BMC' }).click();
    await s.page.getByText('BMC and its sealed passwords deleted.').waitFor();
    expect((await call(entry, 'GET', `/v1/machines/${w.machineId}/bmc`)).status).toBe(404);
    expect(s.problems).toEqual([]);
    await s.context.close();
  });

  it("shows the API's refusal beside the form, never echoing the password", async () => {
    const w = await world();
    const s = await signedIn();
    await s.page.goto(`/console/machines/${w.machineId}`);
    await s.page.getByLabel(/^Address/).fill('not a host!');
    await s.page.getByLabel('User', { exact: true }).fill('admin');
    await s.page.getByLabel(/^Password/).fill('refused-pw-123');
    await s.page.getByRole('button', { name: 'Seal the password and save' }).click();
    await s.page.getByRole('alert').waitFor();
    expect(await s.page.getByRole('alert').textContent()).toContain('an IPMI address is host or host:port');
    expect(await s.page.getByLabel(/^Address/).inputValue()).toBe('not a host!');
    expect(await s.page.getByLabel(/^Password/).inputValue()).toBe('');
    expect(await s.page.content()).not.toContain('refused-pw-123');
    expect((await call(entry, 'GET', `/v1/machines/${w.machineId}/bmc`)).status).toBe(404);
    await s.context.close();
  });

  it('says setting a BMC needs JavaScript, and without it sends no password and sets nothing', async () => {
    const w = await world();
    const s = await signedIn(false);
    await s.page.goto(`/console/machines/${w.machineId}`);
    expect(await s.page.locator('#bmc-form').innerText()).toContain('Setting a BMC needs JavaScript');
    await s.page.getByLabel(/^Address/).fill('10.20.0.11');
    await s.page.getByLabel('User', { exact: true }).fill('admin');
    await s.page.getByLabel(/^Password/).fill('no-script-pw');
    await s.page.getByRole('button', { name: 'Seal the password and save' }).click();
    await s.page.getByRole('alert').waitFor();
    expect(await s.page.getByRole('alert').textContent()).toContain('Setting a BMC needs JavaScript');
    expect(s.sent.filter((x) => x.includes('no-script-pw'))).toEqual([]);
    expect((await call(entry, 'GET', `/v1/machines/${w.machineId}/bmc`)).status).toBe(404);
    await s.context.close();
  });
});
