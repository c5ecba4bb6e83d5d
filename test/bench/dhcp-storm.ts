/**
 * Benchmark (not a test), issue 14: a DHCP storm at a site with several LANs behind a relay agent, and
 * DHCP while the relay's image cache is busy. The real `edgeboot-relay run` process (the bundle) with
 * `[[lan]]` entries, against dnsmasq's proxyDHCP and ISC Kea on the same address, in the same run.
 *
 *   uplink 10.60.0.0/24  relay eth0 .2 — the server under test (relay, dnsmasq or Kea, one at a time)
 *   LAN A  10.61.0.0/24  relay eth1 .2, proxy mode · ns `pull`: 50 curl clients pulling a 64 MiB image
 *   LAN C  10.63.0.0/24  behind a relay agent (giaddr 10.63.0.1): `relayed = "10.63.0.0/24"`
 *   LAN D  10.64.0.0/24  behind another (giaddr 10.64.0.1): `relayed = "10.64.0.0/24"`
 *
 * The relay agents are simulated by perfdhcp itself, one per segment in its own namespace, `-l <giaddr>`:
 * it sends each DISCOVER from giaddr:67 with giaddr set, as ISC dhcrelay forwards a broadcast, and takes
 * the answers sent back to giaddr:67 (support/storm-bed.ts says why dhcrelay is not in the path).
 * The kernel here has no 802.1Q support (CONFIG_VLAN_8021Q unset): the site's "VLANs" are separate LAN
 * bridges, not tagged interfaces. The relay does nothing VLAN-specific (it binds sockets by interface).
 *
 * 1. Storm, proxy mode: 500 PXE clients at once — 250 per relayed segment, two perfdhcp agents started
 *    together, `-R 1000000 -n 250 -r 50000` (every DISCOVER out in a few ms; MACs counted up from a base,
 *    distinct) — relay `mode = "proxy"` vs dnsmasq `--dhcp-range=…,proxy`. perfdhcp 2.2 cannot send a
 *    counted burst of DISCOVERs alone and keep listening (support/storm-perfdhcp.ts), so it REQUESTs what
 *    it was offered; a proxy ignores those. Per-client DISCOVER→OFFER latency from perfdhcp's `-x t`
 *    timers: p50/p99/max, and how many of the DISCOVERs sent (perfdhcp's pacing: 500 ± a few) had an
 *    offer within 2 s (perfdhcp does not retransmit here: a DISCOVER lost is a client not offered; a
 *    real one would retry after ~4 s).
 * 2. Storm, full mode: the same 500 as whole DORAs, relay `mode = "dhcp"` (a pool of 253 per segment)
 *    vs Kea (memfile, same pools). DISCOVER→OFFER and REQUEST→ACK latencies, leases ACKed.
 *    Every server starts fresh (empty leases) for every storm; servers alternate, order flipped per round.
 * 3. Busy cache: the relay in proxy mode; a client on LAN A gets its boot script the way iPXE does (a
 *    proxy offer → /boot → the script's signed /files/<image>/<grant> URL for a 64 MiB image), fills
 *    the cache once, then 50 curl loops pull that URL while perfdhcp sends PXE DISCOVERs at a moderate
 *    rate on LAN C. DHCP p50/p99/max busy vs idle, alternated.
 *
 * In the busy phase the 50 curl processes run on the same 2 cores as the relay (on a site they are other
 * machines): "waited" is the share of the time the relay's main thread was ready to run but had no CPU
 * (/proc/<pid>/schedstat) — high, and the DHCP delay is the machine's, not the relay's own work.
 * "perfdhcp CPU" is the two generators' user+system time (from /proc/<pid>/stat, sampled while they
 * run) — compare it with the storm's span (first DISCOVER to last OFFER): near or above 100% of it, the
 * generator was the limit, not the server. "server CPU" likewise for the server process.
 * The 2 cores are shared by everything (servers, perfdhcp, curl, other engineers): nothing is pinned.
 *
 *   npm run bench:dhcp-storm [-- --rounds 3 --busy-rate 1000 --busy-seconds 6 --pullers 50]
 *
 * Needs root, iproute2, perfdhcp (kea-admin), kea-dhcp4 (kea-dhcp4-server), dnsmasq, curl. Only the
 * processes started here are stopped (the test bed's cleanup, also on SIGINT), and only its namespaces deleted.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createStormBed, rcvbufErrors, RELAY, SEGMENTS, startDnsmasqProxy, startKea, startRelay, type Server, type StormBed } from './support/storm-bed.ts';
import { median, quantile, sampleCpu, timedPerfdhcp, type TimedRun } from './support/storm-perfdhcp.ts';
import { pxeClient } from '../relay/support/lan.ts';
import { call } from '../contract/target.ts';
import { bootableMachine, createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage } from '../relay/support/test-cloud.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    'per-segment': { type: 'string', default: '250' },
    'busy-rate': { type: 'string', default: '1000' },
    'busy-seconds': { type: 'string', default: '6' },
    pullers: { type: 'string', default: '50' },
    only: { type: 'string' },
  },
});
const ROUNDS = Number(values.rounds);
const PER_SEGMENT = Number(values['per-segment']);
const CLIENTS = PER_SEGMENT * SEGMENTS.length;
const BUSY_RATE = Number(values['busy-rate']);
const BUSY_SECONDS = Number(values['busy-seconds']);
const PULLERS = Number(values.pullers);
const IMAGE_BYTES = 64 * 1024 * 1024;
const WITHIN_MS = 2000;
const STORM_RATE = 50_000;

if (process.getuid?.() !== 0) {
  console.error('this benchmark creates network namespaces: run it as root');
  process.exit(2);
}
for (const [tool, pkg] of [['ip', 'iproute2'], ['perfdhcp', 'kea-admin'], ['kea-dhcp4', 'kea-dhcp4-server'], ['dnsmasq', 'dnsmasq-base'], ['curl', 'curl']]) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
    console.error(`${tool} is needed for this benchmark (apt-get install ${pkg})`);
    process.exit(2);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const ms = (x: number) => (Number.isFinite(x) ? (x < 10 ? x.toFixed(2) : x.toFixed(0)) : '—');

// ── one storm ──────────────────────────────────────────────────────────────────────────────────────
interface Storm {
  /** DISCOVER→OFFER latencies of both segments, ms. */
  offer: number[];
  /** REQUEST→ACK latencies (full mode). */
  ack: number[];
  offeredWithin: number;
  /** DISCOVERs perfdhcp sent (≈ the clients: perfdhcp's pacing of a burst is not exact). */
  sent: number;
  acked: number;
  /** First DISCOVER to last OFFER (or ACK), ms, the later of the two agents. */
  spanMs: number;
  perfdhcpCpuMs: number;
  serverCpuMs: number;
  /** UDP receive-queue overflows in the server's namespace and in the agents' (perfdhcp's sockets). */
  serverDrops: number;
  agentDrops: number;
}
const agentDrops = async (sb: StormBed) => (await Promise.all(SEGMENTS.map((s) => rcvbufErrors(sb.bed, s.agent)))).reduce((a, b) => a + b, 0);

async function storm(sb: StormBed, start: () => Promise<Server>, full: boolean): Promise<Storm> {
  const server = await start();
  try {
    await sleep(500);
    const [k0, a0] = [await rcvbufErrors(sb.bed, 'relay'), await agentDrops(sb)];
    const cpu = sampleCpu(server.pid);
    const c0 = cpu.stop();
    const cpu2 = sampleCpu(server.pid);
    const runs: TimedRun[] = await Promise.all(
      SEGMENTS.map((s) => timedPerfdhcp(sb.bed, s.agent, { giaddr: s.giaddr, server: RELAY.up, initialOnly: !full, rate: STORM_RATE, count: PER_SEGMENT, macBase: s.macBase })),
    );
    const serverCpuMs = (cpu2.stop() - c0) * 1000;
    const offer = runs.flatMap((r) => r.latencies['DISCOVER-OFFER'] ?? []);
    const ack = runs.flatMap((r) => r.latencies['REQUEST-ACK'] ?? []);
    return {
      offer,
      ack,
      offeredWithin: offer.filter((x) => x <= WITHIN_MS).length,
      sent: runs.reduce((n, r) => n + (r.exchanges['DISCOVER-OFFER']?.sent ?? 0), 0),
      acked: runs.reduce((n, r) => n + (r.exchanges['REQUEST-ACK']?.received ?? 0), 0),
      spanMs: Math.max(...runs.map((r) => r.spanMs[full ? 'REQUEST-ACK' : 'DISCOVER-OFFER'] ?? NaN)),
      perfdhcpCpuMs: runs.reduce((n, r) => n + r.cpuSeconds * 1000, 0),
      serverCpuMs,
      serverDrops: (await rcvbufErrors(sb.bed, 'relay')) - k0,
      agentDrops: (await agentDrops(sb)) - a0,
    };
  } finally {
    await server.stop();
  }
}

// ── the busy cache ─────────────────────────────────────────────────────────────────────────────────
/** What iPXE on LAN A would fetch: a proxy offer's script URL, the script, its signed /files/… URL. */
async function imageUrl(sb: StormBed, mac: string, imageId: string): Promise<string> {
  const lines = await pxeClient(sb.bed, 'pull', { kind: 'ipxe', mac, steps: [{ do: 'discover', wait: 2000 }] });
  const offer = lines.find((l) => l.event === 'reply' && typeof l.hex === 'string');
  if (!offer) throw new Error(`no proxy offer on LAN A: ${JSON.stringify(lines)}`);
  const { decodeDhcp, getOption } = await import('../../relay/src/dhcp/codec.ts');
  const { fromHex } = await import('../../relay/src/dhcp/read.ts');
  const pkt = decodeDhcp(fromHex(offer.hex as string));
  const file = pkt.file || new TextDecoder().decode(getOption(pkt, 67) ?? new Uint8Array());
  const script = await sb.bed.run('pull', 'curl', ['-sS', '--fail', file.replace('${uuid}', '')]);
  const url = new RegExp(`http://${RELAY.a.replace(/\./g, '\\.')}:8080/files/${imageId}/\\S+`).exec(script.stdout)?.[0];
  if (!url) throw new Error(`no /files/${imageId}/… URL in the script:\n${script.stdout}\n${script.stderr}`);
  return url;
}

/** `n` curl loops pulling `url` in ns `pull` until stopped; bytes they received. */
function pullers(sb: StormBed, url: string, n: number) {
  const loop = `while :; do curl -s -o /dev/null -w '%{size_download}\\n' '${url}' || sleep 0.1; done`;
  const p = sb.bed.spawn('pull', 'sh', ['-c', `for i in $(seq ${n}); do (${loop}) & done; wait`]);
  const t0 = performance.now();
  return {
    async stop() {
      const seconds = (performance.now() - t0) / 1000;
      await p.kill();
      const bytes = p.stdout.reduce((s, l) => s + (Number(l) || 0), 0);
      return { bytes, seconds };
    },
  };
}

interface Moderate {
  offer: number[];
  lost: number;
  perfdhcpCpuShare: number;
  serverCpuShare: number;
  /** Share of the wall time the relay's main thread was runnable but had no CPU (/proc/<pid>/schedstat). */
  serverWaitShare: number;
  gibPerSec: number | null;
}
const runQueueWaitNs = (pid: number) => {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]);
  } catch {
    return NaN;
  }
};

async function moderate(sb: StormBed, relayPid: number, url: string | null, macBase: string): Promise<Moderate> {
  const pull = url ? pullers(sb, url, PULLERS) : null;
  if (pull) await sleep(1500); // the pullers ramp up
  const cpu = sampleCpu(relayPid);
  const c0 = cpu.stop();
  const cpu2 = sampleCpu(relayPid);
  const w0 = runQueueWaitNs(relayPid);
  const t0 = performance.now();
  const s = SEGMENTS[0];
  const r = await timedPerfdhcp(sb.bed, s.agent, { giaddr: s.giaddr, server: RELAY.up, initialOnly: true, rate: BUSY_RATE, seconds: BUSY_SECONDS, macBase });
  const wall = (performance.now() - t0) / 1000;
  const serverCpu = cpu2.stop() - c0;
  const serverWaitShare = (runQueueWaitNs(relayPid) - w0) / 1e9 / wall;
  const pulled = pull ? await pull.stop() : null;
  // The relay still flushes the responses of the pullers just killed: let that settle before the next phase.
  if (pull) await sleep(3000);
  const e = r.exchanges['DISCOVER-OFFER'];
  return {
    offer: r.latencies['DISCOVER-OFFER'] ?? [],
    lost: (e?.sent ?? 0) - (e?.received ?? 0),
    perfdhcpCpuShare: r.cpuSeconds / r.wallSeconds,
    serverCpuShare: serverCpu / wall,
    serverWaitShare,
    gibPerSec: pulled ? pulled.bytes / pulled.seconds / 1024 ** 3 : null,
  };
}

// ── run ────────────────────────────────────────────────────────────────────────────────────────────
const cloud = await startTestCloud();
let sb: StormBed | undefined;
let cleaned: Promise<void> | undefined;
const cleanup = () =>
  (cleaned ??= (async () => {
    await sb?.close();
    await cloud.close();
  })());
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\n${sig}: stopping what this run started and deleting its namespaces`);
    void cleanup().then(() => process.exit(130));
  });
}

const t0 = performance.now();
try {
  const site = await createSite(cloud);
  const creds = await enrolledCredentials(cloud, site);
  const image = await uploadImage(cloud, randomBytesOf(IMAGE_BYTES));
  const puller = await bootableMachine(cloud, site, [image.id]);
  // The storm's clients are machines the cloud has never seen: the site's default profile netboots them
  // (without one they go to their local disk, and a proxy sends them no offer at all).
  const patched = await call(cloud, 'PATCH', `/v1/sites/${site}`, { json: { defaultProfileId: puller.profileId } });
  if (patched.status !== 200) throw new Error(`site default profile: ${patched.status} ${patched.text}`);
  sb = await createStormBed(cloud);
  const bed = sb;
  console.log(`DHCP storm at a multi-LAN site: ${CLIENTS} PXE clients at once, ${PER_SEGMENT} on each of ${SEGMENTS.map((s) => `${s.net}.0/24`).join(' and ')} behind a relay agent (perfdhcp as the agent, giaddr ${SEGMENTS.map((s) => s.giaddr).join('/')})`);
  console.log(`perfdhcp ${spawnSync('perfdhcp', ['-v'], { encoding: 'utf8' }).stdout.trim()}, kea-dhcp4 ${spawnSync('kea-dhcp4', ['-v'], { encoding: 'utf8' }).stdout.trim()}, ${spawnSync('dnsmasq', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0]}`);
  console.log(`${ROUNDS} rounds, servers alternated (order flipped each round), fresh server per storm; nothing pinned; load average before: ${loadavg()}\n`);

  type Name = 'relay proxy' | 'dnsmasq proxy' | 'relay dhcp' | 'Kea';
  const contenders: Array<[Name, () => Promise<Server>, boolean]> = [];
  if (values.only !== 'busy') {
    if (values.only !== 'full') contenders.push(['relay proxy', () => startRelay(bed, creds, 'proxy'), false], ['dnsmasq proxy', () => startDnsmasqProxy(bed), false]);
    if (values.only !== 'proxy') contenders.push(['relay dhcp', () => startRelay(bed, creds, 'dhcp'), true], ['Kea', () => startKea(bed), true]);
  }
  const storms = new Map<Name, Storm[]>(contenders.map(([n]) => [n, []]));
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [...contenders].reverse() : contenders;
    for (const [name, start, full] of order) {
      const st = await storm(bed, start, full);
      storms.get(name)!.push(st);
      console.log(
        `  round ${r + 1} ${name.padEnd(13)} offered ≤2 s ${st.offeredWithin}/${st.sent}${full ? `, ACKed ${st.acked}` : ''}; OFFER p50 ${ms(quantile(st.offer, 0.5))} p99 ${ms(quantile(st.offer, 0.99))} max ${ms(Math.max(...st.offer))} ms${full ? `; ACK p99 ${ms(quantile(st.ack, 0.99))} ms` : ''}; span ${ms(st.spanMs)} ms; CPU perfdhcp ${ms(st.perfdhcpCpuMs)} ms, server ${ms(st.serverCpuMs)} ms; kernel drops server ${st.serverDrops} perfdhcp ${st.agentDrops}`,
      );
    }
  }

  const busy: Moderate[] = [];
  const idle: Moderate[] = [];
  if (values.only === undefined || values.only === 'busy') {
    console.log(`\nbusy cache: relay proxy mode, ${PULLERS} curl loops on LAN A pulling a 64 MiB image from its cache, perfdhcp ${BUSY_RATE} PXE DISCOVERs/s for ${BUSY_SECONDS} s on ${SEGMENTS[0].net}.0/24`);
    const relay = await startRelay(bed, creds, 'proxy');
    try {
      const url = await imageUrl(bed, puller.mac, image.id);
      const fill = await bed.bed.run('pull', 'curl', ['-sS', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{time_total}', url], { timeoutMs: 120_000 });
      const [code, size, secs] = fill.stdout.split(' ');
      if (code !== '200' || Number(size) !== IMAGE_BYTES) throw new Error(`the cache fill returned ${fill.stdout} ${fill.stderr}`);
      console.log(`  cache filled through the relay (${secs} s); URL from the script: ${url.replace(/\/[^/]+$/, '/<grant>')}`);
      for (let r = 0; r < ROUNDS; r++) {
        for (const loaded of r % 2 ? [true, false] : [false, true]) {
          const m = await moderate(bed, relay.pid, loaded ? url : null, `00:0d:${loaded ? '01' : '02'}:${r.toString(16).padStart(2, '0')}:00:00`);
          (loaded ? busy : idle).push(m);
          console.log(
            `  round ${r + 1} ${loaded ? 'busy' : 'idle'}: OFFER p50 ${ms(quantile(m.offer, 0.5))} p99 ${ms(quantile(m.offer, 0.99))} max ${ms(Math.max(...m.offer))} ms, lost ${m.lost}; relay CPU ${(m.serverCpuShare * 100).toFixed(0)}% (waited for a CPU ${(m.serverWaitShare * 100).toFixed(0)}% of the time), perfdhcp CPU ${(m.perfdhcpCpuShare * 100).toFixed(0)}%${m.gibPerSec === null ? '' : `; pullers ${m.gibPerSec.toFixed(2)} GiB/s`}`,
          );
        }
      }
    } finally {
      await relay.stop();
    }
  }

  // ── the tables ───────────────────────────────────────────────────────────────────────────────────
  const med = (xs: number[]) => median(xs);
  const cell = (xs: number[], f = ms) => `${f(med(xs))} [${f(Math.min(...xs))}–${f(Math.max(...xs))}]`;
  const col = (name: Name, pick: (s: Storm) => number) => (storms.get(name) ?? []).map(pick);
  const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
  if (contenders.length) {
    console.log(`\n${CLIENTS} at once — medians of ${ROUNDS} [min–max]; latencies in ms; CPU in ms over the whole storm`);
    console.log(`${'server'.padEnd(14)} ${'offered ≤2 s'.padStart(16)} ${'OFFER p50'.padStart(20)} ${'OFFER p99'.padStart(20)} ${'OFFER max'.padStart(20)} ${'ACK p99'.padStart(18)} ${'span'.padStart(18)} ${'perfdhcp CPU'.padStart(18)} ${'server CPU'.padStart(18)}`);
    for (const [name, , full] of contenders) {
      const f0 = (x: number) => x.toFixed(0);
      console.log(
        [
          name.padEnd(14),
          cell(col(name, (s) => s.offeredWithin), f0).padStart(16),
          cell(col(name, (s) => quantile(s.offer, 0.5))).padStart(20),
          cell(col(name, (s) => quantile(s.offer, 0.99))).padStart(20),
          cell(col(name, (s) => Math.max(...s.offer))).padStart(20),
          (full ? cell(col(name, (s) => quantile(s.ack, 0.99))) : '').padStart(18),
          cell(col(name, (s) => s.spanMs)).padStart(18),
          cell(col(name, (s) => s.perfdhcpCpuMs)).padStart(18),
          cell(col(name, (s) => s.serverCpuMs)).padStart(18),
        ].join(' '),
      );
    }
    const pairs: Array<[Name, Name]> = [['relay proxy', 'dnsmasq proxy'], ['relay dhcp', 'Kea']];
    for (const [ours, ref] of pairs) {
      if (!storms.get(ours)?.length || !storms.get(ref)?.length) continue;
      const r = (pick: (s: Storm) => number) => ratio(med(col(ours, pick)), med(col(ref, pick)));
      console.log(
        `ratio ${ours}/${ref}: offered ≤2 s ${r((s) => s.offeredWithin)}; OFFER p50 ${r((s) => quantile(s.offer, 0.5))}, p99 ${r((s) => quantile(s.offer, 0.99))}, max ${r((s) => Math.max(...s.offer))}${ref === 'Kea' ? `; ACK p99 ${r((s) => quantile(s.ack, 0.99))}` : ''}; span ${r((s) => s.spanMs)}; server CPU ${r((s) => s.serverCpuMs)}`,
      );
    }
    console.log('  (relay ahead: offered ratio ≥ 1, latency/CPU ratios < 1. perfdhcp CPU near or above the span: the generator was the limit.)');
  }
  if (busy.length) {
    const b = (pick: (m: Moderate) => number, xs: Moderate[]) => xs.map(pick);
    console.log(`\nrelay DHCP while its cache serves ${PULLERS} pullers — medians of ${ROUNDS} [min–max], ms`);
    for (const [label, xs] of [['idle', idle], ['busy', busy]] as const) {
      console.log(
        `${label.padEnd(6)} OFFER p50 ${cell(b((m) => quantile(m.offer, 0.5), xs))}  p99 ${cell(b((m) => quantile(m.offer, 0.99), xs))}  max ${cell(b((m) => Math.max(...m.offer), xs))}  lost ${cell(b((m) => m.lost, xs), (x) => x.toFixed(0))}  relay CPU ${cell(b((m) => m.serverCpuShare * 100, xs), (x) => `${x.toFixed(0)}%`)} waited ${cell(b((m) => m.serverWaitShare * 100, xs), (x) => `${x.toFixed(0)}%`)}  perfdhcp CPU ${cell(b((m) => m.perfdhcpCpuShare * 100, xs), (x) => `${x.toFixed(0)}%`)}${label === 'busy' ? `  pullers ${cell(b((m) => m.gibPerSec ?? NaN, xs), (x) => `${x.toFixed(2)} GiB/s`)}` : ''}`,
      );
    }
    console.log(`ratio busy/idle: OFFER p50 ${ratio(med(busy.map((m) => quantile(m.offer, 0.5))), med(idle.map((m) => quantile(m.offer, 0.5))))}, p99 ${ratio(med(busy.map((m) => quantile(m.offer, 0.99))), med(idle.map((m) => quantile(m.offer, 0.99))))}`);
  }
} finally {
  await cleanup();
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s; load average after: ${loadavg()})`);
}
