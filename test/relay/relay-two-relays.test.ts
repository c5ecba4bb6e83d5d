import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from '../../cloud/src/ports/sql-database.ts';
import { decodeDhcp, getOption, type DhcpPacket } from '../../relay/src/dhcp/codec.ts';
import { MESSAGE_TYPES, OPT } from '../../relay/src/dhcp/options.ts';
import { fromHex, messageType } from '../../relay/src/dhcp/read.ts';
import type { Credentials } from '../../relay/src/sync/credentials.ts';
import { randomMac } from '../contract/target.ts';
import { createTestbed, requireTools, type Testbed } from '../support/netns.ts';
import { cloudBridge, type CloudBridge, pxeClient, startForwarder, startRelayInNs, type RelayInNs } from './support/lan.ts';
import { until } from './support/relay-harness.ts';
import { bootableMachine, createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage, type TestCloud } from './support/test-cloud.ts';

/**
 * Two relays of one site on one LAN (issue 14), each the real `edgeboot-relay run` in its own network
 * namespace, with clients in several more namespaces ("lanes": one client at a time per lane, since
 * clients of one namespace would share its sockets on ports 68 and 4011).
 *
 *   router 10.90.0.1 (dnsmasq) ─┐                       (proxy mode only)
 *   relay A  .2 ────────────────┤
 *   relay B  .3 ────────────────┼── LAN ── lanes c0…c9 (.50…)  /  d0…d5 (no address, DHCP mode)
 *
 * Proxy mode: both relays answer; the firmware takes one offer. A relay killed in the middle of a
 * boot storm costs its clients a retry: firmware that hears nothing more from its proxy DISCOVERs
 * again (PXE 2.1) and takes the offer that comes, from the other relay.
 * DHCP mode, split pools: each relay leases only its own range; a REQUEST naming one server is left
 * to that server (RFC 2131 §4.3.2), so no address is ever leased twice.
 */
requireTools(['dnsmasq', 'curl']);

const IPXE_DIR = '/usr/lib/ipxe';
const IPXE_EFI_BYTES = statSync(join(IPXE_DIR, 'ipxe.efi')).size;
type Which = 'a' | 'b';
type Line = Record<string, unknown>;

/** `extra`: top-level keys (mode), then any tables ([dhcp]). */
const relayToml = (ip: string, extra: string) => {
  const at = extra.indexOf('[');
  const [top, tables] = at < 0 ? [extra, ''] : [extra.slice(0, at), extra.slice(at)];
  return `interface = "eth0"\nboot_files = "${IPXE_DIR}"\n${top}[http]\nport = 8080\npublic_url = "http://${ip}:8080"\n[sync]\nwait_seconds = 5\n${tables}`;
};

/** Replies from `ip` in a pxe-client run, decoded. */
const repliesFrom = (lines: Line[], ip: string): DhcpPacket[] =>
  lines.filter((l) => l.event === 'reply' && String(l.from).startsWith(`${ip}:`)).map((l) => decodeDhcp(fromHex(l.hex as string)));
/**
 * Everything `ip` sent this client, replies and strays alike: a step stops at the first ACK or NAK,
 * so another server's later answer to the same REQUEST arrives as a stray.
 */
const allFrom = (lines: Line[], ip: string): DhcpPacket[] =>
  lines.filter((l) => (l.event === 'reply' || l.event === 'stray') && String(l.from).startsWith(`${ip}:`)).map((l) => decodeDhcp(fromHex(l.hex as string)));
/** A REQUEST step, then a second of listening for late answers from the other relay. */
const requestThenListen = (address: string, serverId: string | null) => [{ do: 'request', address, serverId, wait: 1500 }, { do: 'sleep', ms: 1000 }];

/** A relay's Prometheus metric (first sample matching `name{labels}`), read over the LAN. */
async function metric(bed: Testbed, ns: string, ip: string, sample: string): Promise<number | null> {
  const r = await bed.run(ns, 'curl', ['-sS', '--max-time', '5', `http://${ip}:8080/metrics`]);
  const line = r.stdout.split('\n').find((l) => l.startsWith(`${sample} `));
  return line === undefined ? null : Number(line.slice(sample.length + 1));
}

interface World {
  bed: Testbed;
  cloud: TestCloud;
  bridge: CloudBridge;
  site: string;
  work: string;
  creds: Record<Which, Credentials>;
  relays: Record<Which, RelayInNs>;
  ip: Record<Which, string>;
}

async function twoRelays(tag: string, net: string, extra: Record<Which, string>, lanes: Array<{ name: string; address?: string }>, router?: (bed: Testbed, work: string) => Promise<void>): Promise<World> {
  const cloud = await startTestCloud();
  const site = await createSite(cloud);
  const creds = { a: await enrolledCredentials(cloud, site), b: await enrolledCredentials(cloud, site) };
  const work = mkdtempSync(join(tmpdir(), `edgeboot-two-${tag}-`));
  const bridge = await cloudBridge(cloud, join(work, 'cloud.sock'));
  const bed = await createTestbed(tag);
  const ip = { a: `${net}.2`, b: `${net}.3` };
  await bed.lan('lan');
  for (const w of ['a', 'b'] as const) {
    await bed.namespace(`relay-${w}`);
    await bed.attach(`relay-${w}`, 'lan', 'eth0', `${ip[w]}/24`);
  }
  for (const l of lanes) {
    await bed.namespace(l.name);
    await bed.attach(l.name, 'lan', 'eth0', l.address);
  }
  if (router) await router(bed, work);
  const relays = {} as Record<Which, RelayInNs>;
  for (const w of ['a', 'b'] as const) {
    await startForwarder(bed, `relay-${w}`, join(work, 'cloud.sock'));
    relays[w] = await startRelayInNs(bed, `relay-${w}`, { creds: creds[w], stateDir: join(work, `relay-${w}`), toml: relayToml(ip[w], extra[w]) });
  }
  return { bed, cloud, bridge, site, work, creds, relays, ip };
}

async function teardown(w: World | undefined): Promise<void> {
  await w?.bed.cleanup();
  w?.bridge.close();
  await w?.cloud.close();
}

/** Kills a relay as a crash or a pulled plug would (SIGKILL to its process group), and waits for it to be gone. */
async function crash(r: RelayInNs): Promise<void> {
  process.kill(-r.process.pid, 'SIGKILL');
  await r.process.exited;
}

describe('two relays of one site in proxy mode beside the site router', () => {
  const LANES = Array.from({ length: 10 }, (_, i) => ({ name: `c${i}`, address: `10.90.0.${50 + i}/24` }));
  let w: World;
  let macs: string[];

  beforeAll(async () => {
    w = await twoRelays('tworelp', '10.90.0', { a: 'mode = "proxy"\n', b: 'mode = "proxy"\n' }, LANES, async (bed, work) => {
      await bed.namespace('router');
      await bed.attach('router', 'lan', 'eth0', '10.90.0.1/24');
      const dnsmasq = bed.spawn('router', 'dnsmasq', ['--no-daemon', '--conf-file=/dev/null', '--port=0', '--no-ping', '--dhcp-range=10.90.0.100,10.90.0.250,255.255.255.0,10m', `--dhcp-leasefile=${join(work, 'router.leases')}`]);
      await dnsmasq.waitForLine(/DHCP, IP range/, 10_000);
    });
    const kernel = (await uploadImage(w.cloud, randomBytesOf(16 * 1024))).id;
    macs = [];
    for (let i = 0; i < 102; i++) macs.push((await bootableMachine(w.cloud, w.site, [kernel])).mac);
    for (const r of ['a', 'b'] as const) await until(`relay ${r} holds every machine`, async () => (await metric(w.bed, 'c0', w.ip[r], 'edgeboot_relay_snapshot_machines')) === macs.length, 30_000);
  }, 180_000);
  afterAll(() => teardown(w));

  interface Attempt {
    /** Relays whose proxy offer the firmware's DISCOVER got. */
    offered: Which[];
    chose: Which | null;
    /** The relay that served ipxe.efi over TFTP, and the one that served the script. */
    tftp?: Which;
    script?: Which;
    failedAt?: 'discover' | '4011' | 'tftp' | 'ipxe-discover' | 'http';
    /** Offers per relay seen by this attempt's DISCOVERs (firmware and iPXE). */
    offers: Record<Which, number>;
  }

  /**
   * One netboot as UEFI firmware then iPXE do it, in `lane`: DISCOVER (take the offer of `prefer` if
   * it came, else any relay's), the 4011 REQUEST to that relay, ipxe.efi over TFTP from it, iPXE's
   * DISCOVER, the script over HTTP. Stops at the first step that gets no answer.
   */
  async function bootOnce(lane: { name: string; address?: string }, mac: string, prefer: Which, onChosen: (r: Which) => Promise<void> = async () => {}): Promise<Attempt> {
    const ciaddr = lane.address!.split('/')[0]!;
    const offers = { a: 0, b: 0 };
    const seen = (lines: Line[]) => {
      for (const r of ['a', 'b'] as const) offers[r] += repliesFrom(lines, w.ip[r]).length;
      return (['a', 'b'] as const).filter((r) => repliesFrom(lines, w.ip[r]).length > 0);
    };
    const offered = seen(await pxeClient(w.bed, lane.name, { kind: 'uefi', mac, steps: [{ do: 'discover', wait: 800 }] }));
    const chose = offered.includes(prefer) ? prefer : (offered[0] ?? null);
    const attempt: Attempt = { offered, chose, offers };
    if (chose === null) return { ...attempt, failedAt: 'discover' };
    await onChosen(chose);
    const ack = repliesFrom(await pxeClient(w.bed, lane.name, { kind: 'uefi', mac, steps: [{ do: 'request4011', server: w.ip[chose], ciaddr, wait: 1500, first: true }] }), w.ip[chose])[0];
    if (ack?.file !== 'ipxe.efi') return { ...attempt, failedAt: '4011' };
    const tftp = await w.bed.run(lane.name, 'sh', ['-c', `curl -sS --max-time 10 --tftp-blksize 1468 tftp://${w.ip[chose]}/ipxe.efi | wc -c`], { timeoutMs: 15_000 });
    if (Number(tftp.stdout.trim()) !== IPXE_EFI_BYTES) return { ...attempt, failedAt: 'tftp' };
    // iPXE, started, DISCOVERs again and likewise takes the offer of the relay it came from, else any.
    const ipxeLines = await pxeClient(w.bed, lane.name, { kind: 'ipxe', mac, steps: [{ do: 'discover', wait: 800 }] });
    const ipxeOffered = seen(ipxeLines);
    const script = ipxeOffered.includes(chose) ? chose : ipxeOffered[0];
    if (!script) return { ...attempt, tftp: chose, failedAt: 'ipxe-discover' };
    const offer = repliesFrom(ipxeLines, w.ip[script])[0]!;
    const url = (offer.file || new TextDecoder().decode(getOption(offer, OPT.bootFileName))).replace('${uuid}', '');
    const got = await w.bed.run(lane.name, 'curl', ['-sS', '--fail', '--max-time', '10', url], { timeoutMs: 15_000 });
    if (!got.stdout.startsWith('#!ipxe')) return { ...attempt, tftp: chose, script, failedAt: 'http' };
    return { ...attempt, tftp: chose, script };
  }

  it('lets a client boot through either relay: both answer every DISCOVER', async () => {
    for (const [i, prefer] of [[100, 'a'], [101, 'b']] as const) {
      const a = await bootOnce(LANES[0]!, macs[i]!, prefer);
      expect(a.offered.sort()).toEqual(['a', 'b']);
      expect(a).toMatchObject({ chose: prefer, tftp: prefer, script: prefer });
      expect(a.failedAt).toBeUndefined();
    }
  });

  it('boots 100 clients to their scripts while relay A is killed mid-storm: each through B after at most a retry, every event in the cloud once', async () => {
    const KILL_AFTER = 6;
    let chosenA = 0;
    let killedBy: string | null = null;
    let killed: Promise<void> | null = null;
    const results = new Map<string, Attempt[]>();
    await Promise.all(
      LANES.map(async (lane, l) => {
        for (let k = 0; k < 10; k++) {
          const n = l * 10 + k;
          const mac = macs[n]!;
          const attempts: Attempt[] = [];
          results.set(mac, attempts);
          // Which offer firmware takes is its own affair: here half the clients favour each relay.
          for (let tries = 0; tries < 6; tries++) {
            const a = await bootOnce(lane, mac, n % 2 === 0 ? 'a' : 'b', async (r) => {
              // The client that takes A's offer when A has answered enough others sees A die before its next step.
              if (r === 'a' && ++chosenA === KILL_AFTER) {
                killedBy = mac;
                killed = crash(w.relays.a);
              }
              if (r === 'a' && killedBy === mac) await killed;
            });
            attempts.push(a);
            if (!a.failedAt) break;
          }
        }
      }),
    );
    expect(killedBy).not.toBeNull();
    expect(w.relays.a.process.child.exitCode ?? w.relays.a.process.child.signalCode).not.toBeNull();
    // Every client booted; the one that saw A die mid-boot retried and finished through B.
    const failed = [...results].filter(([, a]) => a.at(-1)!.failedAt);
    expect(failed.map(([mac, a]) => `${mac}: ${JSON.stringify(a)}`)).toEqual([]);
    const victim = results.get(killedBy!)!;
    expect(victim[0]).toMatchObject({ chose: 'a', failedAt: '4011' });
    expect(victim.at(-1)).toMatchObject({ chose: 'b', tftp: 'b', script: 'b' });
    const finals = [...results.values()].map((a) => a.at(-1)!);
    expect(finals.filter((a) => a.script === 'a').length).toBeLessThan(KILL_AFTER);
    expect(finals.filter((a) => a.script === 'b').length).toBeGreaterThan(90);

    // B's events: its queue drains, and the cloud holds exactly what B counts as shipped.
    await until('B ships every event', async () => (await metric(w.bed, 'c0', w.ip.b, 'edgeboot_relay_event_queue_depth')) === 0, 30_000);
    const shippedB = (await metric(w.bed, 'c0', w.ip.b, 'edgeboot_relay_events_shipped'))!;
    const rowsB = await w.cloud.deps.db.all<{ n: number }>(sql("SELECT COUNT(*) AS n FROM boot_events WHERE relay_id = ? AND source = 'relay'", w.creds.b.relayId));
    expect(rowsB[0]!.n).toBe(shippedB);

    // A, restarted on its state, ships what it held when it died; then every client's events are in.
    w.relays.a = await startRelayInNs(w.bed, 'relay-a', { creds: w.creds.a, stateDir: join(w.work, 'relay-a'), toml: relayToml(w.ip.a, 'mode = "proxy"\n'), waitForSnapshot: false });
    await until('A ships what it held', async () => (await metric(w.bed, 'c0', w.ip.a, 'edgeboot_relay_event_queue_depth')) === 0, 30_000);
    // B, stopped as an operator would, passes on the repeated exchanges it was still counting (sync/event-fold.ts)
    // and ships them when it is back: then each exchange is on record once, as an event or in its count.
    await w.relays.b.stop();
    w.relays.b = await startRelayInNs(w.bed, 'relay-b', { creds: w.creds.b, stateDir: join(w.work, 'relay-b'), toml: relayToml(w.ip.b, 'mode = "proxy"\n'), waitForSnapshot: false });
    await until('B ships what it held', async () => (await metric(w.bed, 'c0', w.ip.b, 'edgeboot_relay_event_queue_depth')) === 0, 30_000);
    const rows = await w.cloud.deps.db.all<{ mac: string; relay_id: string; stage: string; detail: string | null }>(
      sql('SELECT mac, relay_id, stage, detail FROM boot_events WHERE site_id = ? AND source = ?', w.site, 'relay'),
    );
    /** Exchanges on record: an event is one, and a folded run's says how many more (`detail.repeats`). */
    const count = (mac: string, relay: Which, stage: string) =>
      rows.filter((r) => r.mac === mac && r.relay_id === w.creds[relay].relayId && r.stage === stage).reduce((n, r) => n + 1 + ((r.detail && (JSON.parse(r.detail) as { repeats?: number }).repeats) || 0), 0);
    for (const [mac, attempts] of results) {
      const last = attempts.at(-1)!;
      // B never died: its transfer's event is in. A was SIGKILLed at a moment of the storm's choosing: a
      // transfer whose last ACK it had taken but not yet reported (the pump's end line, or Node's own
      // loop, a millisecond behind) can lose its tftp-done, as its other last events may; never twice.
      if (last.tftp === 'b') expect(count(mac, 'b', 'tftp-done'), `${mac} tftp-done from b`).toBeGreaterThanOrEqual(1);
      expect(count(mac, 'a', 'tftp-done'), `${mac} tftp-done from a`).toBeLessThanOrEqual(attempts.filter((a) => a.tftp === 'a').length);
      expect(count(mac, last.script!, 'script-fetched'), `${mac} script-fetched from ${last.script}`).toBe(1);
      // One 4011 ACK event per boot-server ACK B sent this client: none lost, none twice.
      const ackedBy = (r: Which) => attempts.filter((a) => a.chose === r && a.failedAt !== 'discover' && a.failedAt !== '4011').length;
      expect(count(mac, 'b', 'dhcp-ack'), `${mac} 4011 ACKs from B`).toBe(ackedBy('b'));
      // Offers: an offer within 2 s of the same one is a retransmission the relay does not count
      // (sync/event-fold.ts RETRANSMIT_MS) — so never more often than they were sent.
      const offersB = attempts.reduce((n, a) => n + a.offers.b, 0);
      expect(count(mac, 'b', 'proxy-offer'), `${mac} proxy offers from B`).toBeLessThanOrEqual(offersB);
      expect(count(mac, 'b', 'proxy-offer') > 0).toBe(offersB > 0);
      // A died once: what it sent last may not have reached its journal, but nothing arrives twice.
      expect(count(mac, 'a', 'proxy-offer'), `${mac} proxy offers from A`).toBeLessThanOrEqual(attempts.reduce((n, a) => n + a.offers.a, 0));
      expect(count(mac, 'a', 'dhcp-ack'), `${mac} 4011 ACKs from A`).toBeLessThanOrEqual(ackedBy('a'));
    }
  }, 600_000);
});

describe('two relays of one site in DHCP mode with split pools', () => {
  const LANES = Array.from({ length: 6 }, (_, i) => ({ name: `d${i}` }));
  const dhcpToml = (first: string, last: string) => `mode = "dhcp"\n[dhcp]\nrange = ["${first}", "${last}"]\nrouters = ["10.91.0.1"]\nlease_seconds = 600\n`;
  const RANGE = { a: [100, 149], b: [150, 199] } as const;
  let w: World;

  beforeAll(async () => {
    w = await twoRelays('tworeld', '10.91.0', { a: dhcpToml('10.91.0.100', '10.91.0.149'), b: dhcpToml('10.91.0.150', '10.91.0.199') }, LANES);
  }, 180_000);
  afterAll(() => teardown(w));

  const host = (ip: string) => Number(ip.split('.')[3]);
  const which = (serverIp: string): Which => (serverIp === w.ip.a ? 'a' : 'b');

  interface Dora {
    mac: string;
    address: string | null;
    server: string | null;
    /** Who answered the REQUEST step, by server address and message type. */
    answers: Array<{ from: string; type: number | undefined }>;
  }

  /** `from`: take that relay's offer (as a client whose firmware preferred it); default: the first. */
  async function dora(lane: string, mac = randomMac(), from?: string): Promise<Dora> {
    // The step ends at the first ACK: listening on catches the other relay's answer, should it send one.
    const lines = await pxeClient(w.bed, lane, { kind: 'uefi', mac, steps: [{ do: 'dora', wait: 1500, ...(from ? { server: from } : {}) }, { do: 'sleep', ms: 700 }] });
    const lease = lines.find((l) => l.event === 'lease') as { address: string; serverId: string } | undefined;
    const answers = lines
      .filter((l) => (l.event === 'reply' || l.event === 'stray') && l.type !== MESSAGE_TYPES.OFFER)
      .map((l) => ({ from: String(l.from).split(':')[0]!, type: messageType(decodeDhcp(fromHex(l.hex as string))) }));
    return { mac, address: lease?.address ?? null, server: lease?.serverId ?? null, answers };
  }

  /** Bound leases per relay from its journal (`leases.jsonl`: the last change per address wins). */
  function boundLeases(r: Which): Map<string, string> {
    const byIp = new Map<string, { mac: string; state: string }>();
    for (const line of readFileSync(join(w.work, `relay-${r}`, 'leases.jsonl'), 'utf8').split('\n').filter(Boolean)) {
      const c = JSON.parse(line) as { ip: string; mac: string; state: string };
      byIp.set(c.ip, c);
    }
    return new Map([...byIp].filter(([, c]) => c.state === 'bound').map(([ip, c]) => [ip, c.mac]));
  }

  it('leases 60 clients from both pools, each address to one client, each from the range of the relay that ACKed it', async () => {
    const got: Dora[] = [];
    await Promise.all(LANES.map(async (lane) => {
      // Firmware takes whichever offer it likes: some clients here take A's, some B's, the rest the first.
      for (let k = 0; k < 10; k++) got.push(await dora(lane.name, randomMac(), [w.ip.a, w.ip.b, undefined][k % 3]));
    }));
    expect(got.filter((d) => d.address === null).map((d) => d.mac)).toEqual([]);
    expect(new Set(got.map((d) => d.address)).size).toBe(60);
    for (const d of got) {
      const [lo, hi] = RANGE[which(d.server!)];
      expect(host(d.address!), `${d.address} from ${d.server}`).toBeGreaterThanOrEqual(lo);
      expect(host(d.address!)).toBeLessThanOrEqual(hi);
      // The REQUEST named one server: only that one answered it.
      expect(d.answers.map((a) => a.from)).toEqual([d.server]);
      expect(d.answers[0]!.type).toBe(MESSAGE_TYPES.ACK);
    }
    expect(got.filter((d) => d.server === w.ip.a).length).toBeGreaterThan(0);
    expect(got.filter((d) => d.server === w.ip.b).length).toBeGreaterThan(0);
    // The relays' own lease tables: no address held by two MACs, no MAC holding leases on both relays.
    const a = boundLeases('a');
    const b = boundLeases('b');
    expect([...a.keys()].filter((ip) => b.has(ip))).toEqual([]);
    expect([...a.values()].filter((mac) => [...b.values()].includes(mac))).toEqual([]);
    for (const d of got) expect((d.server === w.ip.a ? a : b).get(d.address!)).toBe(d.mac);
    expect(await metric(w.bed, 'relay-b', w.ip.b, 'edgeboot_relay_dhcp_ignored{reason="other-server"}')).toBeGreaterThan(0);
  }, 300_000);

  it('leaves a REQUEST naming relay A to A: B neither ACKs nor NAKs it, whichever range the address is in', async () => {
    const ours = await pxeClient(w.bed, 'd0', { kind: 'uefi', mac: randomMac(), steps: requestThenListen('10.91.0.149', w.ip.a) });
    expect(allFrom(ours, w.ip.b)).toEqual([]);
    // A answers (an ACK while .149 is free, as when this test runs alone).
    expect(repliesFrom(ours, w.ip.a)).toHaveLength(1);
    const theirs = await pxeClient(w.bed, 'd0', { kind: 'uefi', mac: randomMac(), steps: requestThenListen('10.91.0.180', w.ip.a) });
    expect(allFrom(theirs, w.ip.b)).toEqual([]);
    // A is asked for an address outside its range: it says no, and B does not step in.
    expect(repliesFrom(theirs, w.ip.a).map(messageType)).toEqual([MESSAGE_TYPES.NAK]);
  });

  it("leaves a rebooting client's REQUEST for A's address (INIT-REBOOT, no server id) to A: B, with no record of the client, stays silent", async () => {
    // RFC 2131 §4.3.2: "If the DHCP server has no record of this client, then it MUST remain silent …
    // necessary for peaceful coexistence of non-communicating DHCP servers on the same wire."
    // Which offer a client takes is the firmware's choice: this one takes A's.
    const held = await dora('d1', randomMac(), w.ip.a);
    expect(held.server, 'a lease from A').toBe(w.ip.a);
    const lines = await pxeClient(w.bed, 'd1', { kind: 'uefi', mac: held.mac, steps: requestThenListen(held.address!, null) });
    expect(allFrom(lines, w.ip.a).map(messageType)).toEqual([MESSAGE_TYPES.ACK]);
    expect(allFrom(lines, w.ip.b).map(messageType)).toEqual([]);
  });

  it('keeps leasing from B alone once A is dead', async () => {
    await crash(w.relays.a);
    try {
      for (const lane of LANES.slice(0, 5)) {
        const d = await dora(lane.name);
        expect(d.server).toBe(w.ip.b);
        expect(host(d.address!)).toBeGreaterThanOrEqual(RANGE.b[0]);
        expect(host(d.address!)).toBeLessThanOrEqual(RANGE.b[1]);
      }
    } finally {
      w.relays.a = await startRelayInNs(w.bed, 'relay-a', { creds: w.creds.a, stateDir: join(w.work, 'relay-a'), toml: relayToml(w.ip.a, dhcpToml('10.91.0.100', '10.91.0.149')), waitForSnapshot: false });
    }
  }, 120_000);
});
