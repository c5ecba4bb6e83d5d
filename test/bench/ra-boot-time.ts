/**
 * Benchmark (not a test): what the relay's router advertisements (relay/src/ra/) save on every boot of
 * a LAN that has no IPv6 router. One LAN of network namespaces in the proxy topology (support/boot-lan.ts):
 * a router that answers DHCP at once and sends no RA, `edgeboot-relay run` in proxy mode serving the
 * relay's own iPXE (trixie's, 2025) to UEFI, and qemu VMs — SeaBIOS, whose NIC option ROM is qemu's
 * 2019 iPXE, and OVMF, which loads the relay's ipxe.efi over TFTP. The reference and the candidates
 * boot on the same LAN through the same relay, alternating boot by boot:
 *
 *   no-ra    the reference: nothing on the LAN answers iPXE's router solicitations
 *   ra       startRouterAdvertisements() in the relay's namespace: radvd, M = O = 0, lifetime 0, no prefix
 *   ra-ula   the same with the relay's generated ULA /64 (`--ula`)
 *
 * Between boots the supervisor is started or closed (radvd answers solicitations from the moment it
 * runs; a started one is checked with rdisc6 when ndisc6 is installed). Printed per firmware: the
 * seconds of iPXE's `Configuring (net0 …) … ok` line (DHCP and IPv6 autoconfiguration together), the
 * IPv6 wait alone (the last DHCP ACK → `ok`, support/boot-stages.ts), the stages the servers take
 * part in ("wire", as in boot-time.ts) and power-on → the test OS's marker line, medians with every
 * boot, and the candidate / reference ratios.
 *
 *   node test/bench/ra-boot-time.ts [--boots 3] [--firmware bios,uefi] [--ipxe modern|old] [--ula]
 *
 * `--ipxe old` serves bookworm's /usr/lib/ipxe (2019) to UEFI instead of the relay's. Needs root,
 * qemu-system-x86, ovmf, ipxe, ipxe-qemu, dnsmasq, tcpdump and radvd; the test OS comes from
 * test/e2e/support/os-image.ts (cached in .cache/e2e). ~6 minutes with the defaults.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { call, randomMac, unique } from '../contract/target.ts';
import { startNodeCloud, type E2eCloud } from '../e2e/support/cloud.ts';
import { assign, testOsProfile } from '../e2e/support/machines.ts';
import { modernIpxeDir } from '../relay/support/boot-files.ts';
import { missingPeers, type Spawned } from '../support/netns.ts';
import { OVMF_CODE, OVMF_VARS, startBootLan, type BootLan, type BootRun, type Firmware } from './support/boot-lan.ts';
import { breakdown, median } from './support/boot-stages.ts';

const { values } = parseArgs({
  options: {
    boots: { type: 'string', default: '3' },
    firmware: { type: 'string', default: 'bios,uefi' },
    ipxe: { type: 'string', default: 'modern' },
    ula: { type: 'boolean', default: false },
  },
});
const BOOTS = Math.max(1, Number(values.boots));
const FIRMWARES = values.firmware!.split(',').filter((f): f is Firmware => f === 'bios' || f === 'uefi');
const missing = missingPeers(['ip', 'qemu-system-x86_64', 'dnsmasq', 'tcpdump'], [[OVMF_CODE, 'ovmf'], [OVMF_VARS, 'ovmf'], ['/usr/lib/ipxe/ipxe.efi', 'ipxe'], ['/usr/lib/ipxe/qemu/efi-virtio.rom', 'ipxe-qemu'], ['/usr/sbin/radvd', 'radvd']]);
if (missing.length) {
  console.error(`this benchmark needs ${missing.map((m) => m.what).join(', ')}: apt-get install ${[...new Set(missing.map((m) => m.pkg))].join(' ')}`);
  process.exit(2);
}
const HAVE_RDISC6 = missingPeers(['rdisc6']).length === 0;

type Mode = 'no-ra' | 'ra' | 'ra-ula';
const MODES: Mode[] = ['no-ra', 'ra', ...(values.ula ? (['ra-ula'] as const) : [])];
const PREFIX: Record<Exclude<Mode, 'no-ra'>, string | null> = { ra: null, 'ra-ula': 'ula' };
const NET = 87;

/** The supervisor as the relay would run it, in the relay's namespace; SIGTERM → close(). */
const RUNNER = `
import { startRouterAdvertisements } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../relay/src/ra/radvd.ts')).href)};
import { createLogger } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '../../relay/src/log.ts')).href)};
const ra = await startRouterAdvertisements({ ...JSON.parse(process.argv[1]), log: createLogger({ component: 'ra' }) });
process.stdout.write(JSON.stringify({ msg: 'ready', status: ra.status() }) + '\\n');
process.once('SIGTERM', async () => { await ra.close(); process.exit(0); });
`;

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const s = (ms: number | undefined | null) => (ms === undefined || ms === null ? '—' : (ms / 1000).toFixed(1));

async function ok<T = any>(r: Promise<{ status: number; body: any; text: string }>, want: number, what: string): Promise<T> {
  const x = await r;
  if (x.status !== want) throw new Error(`${what}: ${x.status} ${x.text.slice(0, 300)}`);
  return x.body as T;
}

async function startRa(lan: BootLan, stateDir: string, prefix: string | null): Promise<Spawned> {
  const sp = lan.bed.spawn('pxe', process.execPath, ['--input-type=module', '-e', RUNNER, JSON.stringify({ interfaces: [{ name: 'eth0', prefix }], stateDir })]);
  const ready = JSON.parse(await sp.waitForLine(/"msg":"ready"/, 20_000));
  if (ready.status.state !== 'running') throw new Error(`radvd is not running: ${JSON.stringify(ready.status)}`);
  if (HAVE_RDISC6) {
    // The bridge's own link-local address solicits like any client on the LAN would.
    const r = await lan.bed.run('lan', 'rdisc6', ['-1', '-w', '1000', '-r', '5', 'br0'], { timeoutMs: 15_000 });
    if (r.code !== 0) throw new Error(`radvd runs but rdisc6 heard no RA on the LAN: ${r.stdout}${r.stderr}`);
  }
  return sp;
}

interface Sample {
  configuring: number | null;
  ipv6: number | null;
  /** The stages the LAN's servers take part in (less noisy than the total on a busy host). */
  wire: number | null;
  total: number | null;
}

/** As in boot-time.ts: firmware start-up and the guest kernel are CPU under TCG, the rest is the LAN. */
const WIRE = ['DHCP (firmware)', 'TFTP', 'DHCP (iPXE)', 'IPv6 wait', 'script', 'kernel+initrd'] as const;

function sample(run: BootRun, servers: Record<string, string>): Sample {
  const b = breakdown(run, servers);
  // The firmware's own iPXE on BIOS, ipxe.efi on UEFI: the first `Configuring` line of iPXE's ifconf.
  const line = run.lines.find((l) => /Configuring \(net\d/.test(l.text));
  const wire = b.total === null ? null : WIRE.reduce((a, st) => a + (b.stages[st] ?? 0), 0);
  return { configuring: line && /ok\s*$/.test(line.text) ? line.end - line.start : null, ipv6: b.stages['IPv6 wait'] ?? null, wire, total: b.total };
}

const work = mkdtempSync(join(tmpdir(), 'eb-bench-ra-'));
let cloud: E2eCloud | undefined;
let lan: BootLan | undefined;
let ra: Spawned | null = null;
try {
  console.log(`load average at start: ${load()} (qemu TCG needs the CPU: other work on the machine slows every boot)`);
  console.log(`ra-boot-time: ${MODES.join(', ')} × ${FIRMWARES.join(', ')}, ${BOOTS} boot(s) each, UEFI iPXE ${values.ipxe === 'old' ? "bookworm's (2019)" : "the relay's (2025)"}; setting up…`);
  cloud = await startNodeCloud();
  const profileId = await testOsProfile(cloud);
  const site = await ok(call(cloud, 'POST', '/v1/sites', { json: { name: unique('bench-ra') } }), 201, 'site');
  const code = await ok(call(cloud, 'POST', `/v1/sites/${site.id}/enrollment-codes`, { json: {} }), 201, 'enrollment code');
  const e = await ok(call(cloud, 'POST', '/v1/relays/enroll', { token: null, json: { code: code.code, name: unique('relay') } }), 201, 'enroll');
  const creds = { cloudUrl: cloud.url, relayId: e.relay.id, siteId: site.id, token: e.token, bootKey: e.bootKey, bootKeyId: e.bootKeyId, enrolledAt: new Date().toISOString() };
  lan = await startBootLan({
    tag: 'btra',
    net: NET,
    router: { ping: false, ra: false },
    pxe: { kind: 'relay', mode: 'proxy', creds, cloud, bootFiles: values.ipxe === 'old' ? '/usr/lib/ipxe' : await modernIpxeDir() },
    work,
  });
  const macs = Array.from({ length: MODES.length * FIRMWARES.length * BOOTS + 1 }, () => randomMac());
  for (const mac of macs) await assign(cloud, site.id, mac, profileId);
  const deadline = Date.now() + 20_000;
  while (!lan.relay!.logs().some((l) => l.msg === 'snapshot updated' && Number(l.machines) >= macs.length)) {
    if (Date.now() > deadline) throw new Error('the relay did not learn its machines');
    await new Promise((r) => setTimeout(r, 100));
  }
  const servers = { [`10.${NET}.0.1`]: 'router', [`10.${NET}.0.2`]: 'relay' };
  console.log(`ready after ${elapsed()}`);

  // One untimed boot fills the relay's image cache.
  const warm = await lan.boot(FIRMWARES[0]!, macs.pop()!, { timeoutMs: 90_000 });
  console.log(`warm-up ${FIRMWARES[0]}: ${s(warm.markerAt)} s [${elapsed()}]`);

  const results = new Map<string, Sample[]>();
  const stateDir = join(work, 'ra-state');
  for (let round = 0; round < BOOTS; round++) {
    for (const mode of MODES) {
      await ra?.kill();
      ra = mode === 'no-ra' ? null : await startRa(lan, stateDir, PREFIX[mode]);
      for (const fw of FIRMWARES) {
        const run = await lan.boot(fw, macs.pop()!, { timeoutMs: 90_000 });
        const x = sample(run, servers);
        results.set(`${mode}/${fw}`, [...(results.get(`${mode}/${fw}`) ?? []), x]);
        console.log(`round ${round + 1}/${BOOTS} ${mode.padEnd(6)} ${fw}: Configuring ${s(x.configuring)} s, IPv6 wait ${s(x.ipv6)} s, wire ${s(x.wire)} s, power-on → marker ${run.markerAt === null ? 'NO MARKER' : `${s(run.markerAt)} s`} [${elapsed()}]`);
      }
    }
  }
  await ra?.kill();
  ra = null;

  const med = (k: string, f: keyof Sample) => {
    const xs = (results.get(k) ?? []).map((r) => r[f]).filter((v): v is number => v !== null);
    return xs.length ? { m: median(xs), all: xs } : null;
  };
  const cell = (k: string, f: keyof Sample) => {
    const x = med(k, f);
    return x ? `${s(x.m)} [${x.all.map((v) => s(v)).join(' ')}]` : '—';
  };
  console.log(`\nSeconds, median of ${BOOTS} boot(s) [each boot]; qemu TCG on shared cores (load now ${load()})\n`);
  console.log(`"wire" sums the stages the servers take part in (${WIRE.join(', ')}); the rest is firmware and guest CPU.\n`);
  console.log(`${'mode / firmware'.padEnd(16)} ${'Configuring … ok'.padEnd(24)} ${'IPv6 wait'.padEnd(24)} ${'wire'.padEnd(24)} power-on → marker`);
  for (const fw of FIRMWARES) {
    for (const mode of MODES) console.log(`${`${mode} ${fw}`.padEnd(16)} ${(['configuring', 'ipv6', 'wire'] as const).map((f) => cell(`${mode}/${fw}`, f).padEnd(24)).join(' ')} ${cell(`${mode}/${fw}`, 'total')}`);
  }
  console.log('');
  for (const fw of FIRMWARES) {
    for (const mode of MODES.filter((m) => m !== 'no-ra')) {
      const parts = (['configuring', 'wire', 'total'] as const).map((f) => {
        const a = med(`${mode}/${fw}`, f);
        const b = med(`no-ra/${fw}`, f);
        return `${{ configuring: 'Configuring', wire: 'wire', total: 'power-on → marker' }[f]} ${a && b ? `${(a.m / b.m).toFixed(2)}× (${a.m - b.m >= 0 ? '+' : ''}${s(a.m - b.m)} s)` : '—'}`;
      });
      console.log(`${`${mode} / no-ra ${fw}`.padEnd(22)} ${parts.join('   ')}`);
    }
  }
  console.log(`\ntotal run ${elapsed()}; load average at the end: ${load()}`);
} finally {
  await ra?.kill();
  await lan?.close();
  await cloud?.close();
  rmSync(work, { recursive: true, force: true });
}
