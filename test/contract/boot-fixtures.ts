/**
 * Boots with a live callback token, made the way a machine gets one: an `ipxe` profile whose script
 * prints the token, assigned to a new machine's MAC, rendered through GET /v1/relay/boot with the
 * relay's token. Fetch only (also runs inside workerd).
 */
import { enrollRelay } from './fixtures.ts';
import { call, randomMac, unique, type ApiTarget } from './target.ts';

export interface RenderedBoot {
  siteId: string;
  relay: { relayId: string; token: string };
  mac: string;
  machineId: string;
  profileId: string;
  assignmentId: string;
  bootId: string;
  token: string;
}

async function ok(p: Promise<{ status: number; text: string; body: any }>, status: number, what: string): Promise<any> {
  const r = await p;
  if (r.status !== status) throw new Error(`boot fixture: ${what} gave ${r.status}: ${r.text.slice(0, 300)}`);
  return r.body;
}

const SCRIPT = '#!ipxe\necho callback {{callbackToken}} {{bootId}}\n';

/** A new machine at `siteId` with a rendered boot; `relay` defaults to a newly enrolled one. */
export async function renderedBoot(
  t: ApiTarget,
  siteId: string,
  opts: { once?: boolean; relay?: { relayId: string; token: string } } = {},
): Promise<RenderedBoot> {
  const relay = opts.relay ?? (await enrollRelay(t, siteId));
  const mac = randomMac();
  const profile = await ok(call(t, 'POST', '/v1/profiles', { json: { name: unique('cb-profile'), spec: { kind: 'ipxe', script: SCRIPT } } }), 201, 'profile');
  const machine = await ok(call(t, 'POST', '/v1/machines', { json: { mac, siteId, arch: 'bios' } }), 201, 'machine');
  const assignment = await ok(call(t, 'POST', '/v1/assignments', { json: { profileId: profile.id, selector: { mac }, once: opts.once ?? false } }), 201, 'assignment');
  return { siteId, relay, mac, machineId: machine.id, profileId: profile.id, assignmentId: assignment.id, ...(await renderAgain(t, relay.token, mac)) };
}

/** Renders the machine's script again (a new boot with a new token). */
export async function renderAgain(t: ApiTarget, relayToken: string, mac: string): Promise<{ bootId: string; token: string }> {
  const r = await call(t, 'GET', `/v1/relay/boot?mac=${encodeURIComponent(mac)}&arch=0`, { token: relayToken });
  const m = /^echo callback (ebc_[A-Za-z0-9_-]+) (boot_[0-9a-z]+)$/m.exec(r.text);
  if (r.status !== 200 || !m) throw new Error(`boot fixture: render gave ${r.status}: ${r.text.slice(0, 300)}`);
  return { token: m[1]!, bootId: m[2]! };
}

let serial = 0;
/** A relay-chosen event id (8–64 of [A-Za-z0-9_-]) no other event of this run has. */
export function relayEventId(prefix = 'ev'): string {
  return `${prefix}-${Date.now().toString(36)}-${(serial++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
