/**
 * Benchmark (not a test): speed of the boot — power-on to the test OS's marker line — for a BIOS VM
 * (SeaBIOS, whose NIC option ROM is iPXE) and a UEFI VM (OVMF's own PXE → TFTP ipxe.efi → iPXE), in
 * one run, on LANs of network namespaces (support/boot-lan.ts), one per configuration:
 *
 *   stock     dnsmasq as the site router with its defaults (pings before offering, no IPv6 RA), and
 *             dnsmasq in proxy mode serving the same chain: TFTP ipxe.efi from /usr/lib/ipxe, iPXE →
 *             an HTTP script → kernel + initrd from a node:http static server
 *   tuned     the same with the router at `--no-ping` and sending RAs on a ULA prefix (RA only, M = O = 0:
 *             iPXE's IPv6 configurator ends at the first one). 175.176 = 1 (skip the ProxyDHCP wait) does
 *             not apply in this topology: in the router's offer it would make iPXE ignore the proxy's
 *   edgeboot  `edgeboot-relay run` in proxy mode beside the tuned router, with the cloud's Node entry
 *   edgeboot-dhcp  the relay in full DHCP mode, the only server on the LAN (no router, no RA): reference
 *
 * Relay configurations serve the relay's own iPXE (Debian trixie's 1.21.1+git20250501, `boot_files` =
 * the relay's folder, test/relay/support/boot-files.ts) unless they say `ipxe: 'old'` (bookworm's
 * /usr/lib/ipxe, 2019). `--only ipxe` (the group) compares them on LANs with no router advertisement:
 *   old-proxy / modern-proxy   the relay in proxy mode beside a router that neither pings nor sends RAs
 *   old-dhcp / modern-dhcp     the relay in full DHCP mode, alone on the LAN
 *   chain-once                 modern-proxy with `upgrade_ipxe = "always"`: the BIOS ROM's iPXE (2019) is
 *                              handed the relay's undionly.kpxe and DHCPs again (what the second DHCP costs)
 * A configuration is one entry of ALL (name, LAN, router, server, files): add one there.
 *
 * Boots alternate configuration by configuration within each round, so drift on the machine (qemu TCG on
 * 2 shared cores is noisy) hits them alike. Each relay LAN first boots one untimed BIOS VM, which fills
 * the relay's image cache (a cold cache is a one-time cost per image per site, reported separately).
 * Stages come from tcpdump on the LAN bridge and the console's timestamps (support/boot-stages.ts).
 *
 *   npm run bench:boot-time [-- --boots 2 --only stock,tuned,edgeboot,edgeboot-dhcp --firmware bios,uefi
 *                              --extra snponly,dhcp-ra --per-boot --timeline --no-warm-up]
 *
 * `--extra snponly,dhcp-ra` adds configurations: `snponly`, the relay in proxy mode handing UEFI
 * `snponly.efi` instead of `ipxe.efi` (a configuration change: `[dhcp.binaries] uefi_x64`); `dhcp-ra`, the
 * relay in full DHCP mode with a dnsmasq beside it that only sends RAs. `--timeline` prints every packet
 * and console line of each configuration's first boot, `--per-boot` each boot's stages.
 *
 * Needs root, qemu-system-x86, ovmf, ipxe, ipxe-qemu, dnsmasq and tcpdump; the kernel and initramfs come
 * from test/e2e/support/os-image.ts (cached in .cache/e2e). All traffic stays inside the namespaces made
 * here; only processes started here are stopped. ~7 minutes with the defaults.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { Credentials } from '../../relay/src/sync/credentials.ts';
import { call, randomMac, unique, type ApiTarget } from '../contract/target.ts';
import { startNodeCloud, type E2eCloud } from '../e2e/support/cloud.ts';
import { assign, osFiles, testOsProfile } from '../e2e/support/machines.ts';
import { signedChainImages } from '../e2e/support/secure-boot.ts';
import { modernIpxeDir } from '../relay/support/boot-files.ts';
import { missingPeers } from '../support/netns.ts';
import { OVMF_CODE, OVMF_VARS, startBootLan, type BootLan, type BootRun, type Firmware, type PxeServer, type RouterOptions } from './support/boot-lan.ts';
import { breakdown, median, STAGES, type Breakdown } from './support/boot-stages.ts';
import { timeline } from './support/boot-timeline.ts';

const { values } = parseArgs({
  options: {
    boots: { type: 'string', default: '2' },
    only: { type: 'string' },
    firmware: { type: 'string', default: 'bios,uefi' },
    extra: { type: 'string', default: '' },
    timeline: { type: 'boolean', default: false },
    'per-boot': { type: 'boolean', default: false },
    'warm-up': { type: 'boolean', default: true },
  },
  allowNegative: true,
});
const BOOTS = Math.max(1, Number(values.boots));
const FIRMWARES = values.firmware!.split(',').filter((f): f is Firmware => f === 'bios' || f === 'uefi');
const missing = missingPeers(['ip', 'qemu-system-x86_64', 'dnsmasq', 'tcpdump'], [[OVMF_CODE, 'ovmf'], [OVMF_VARS, 'ovmf'], ['/usr/lib/ipxe/ipxe.efi', 'ipxe'], ['/usr/lib/ipxe/qemu/efi-virtio.rom', 'ipxe-qemu']]);
if (missing.length) {
  console.error(`this benchmark needs ${missing.map((m) => m.what).join(', ')}: apt-get install ${[...new Set(missing.map((m) => m.pkg))].join(' ')}`);
  process.exit(2);
}

interface Config {
  name: string;
  label: string;
  net: number;
  router: RouterOptions | null;
  pxe: 'dnsmasq' | 'relay-proxy' | 'relay-dhcp';
  uefiBinary?: string;
  /** The relay's iPXE (default) or bookworm's /usr/lib/ipxe (2019). */
  ipxe?: 'old' | 'modern';
  upgradeIpxe?: 'never' | 'when-needed' | 'always';
  /** UEFI machines boot through trixie's shim → GRUB (the profile names them) instead of iPXE. */
  loader?: 'shim';
  /** OVMF with Secure Boot on and Microsoft's keys (UEFI only). */
  secureBoot?: boolean;
  /** `--only <group>` selects every configuration of the group. */
  group?: string;
}

const STOCK_ROUTER: RouterOptions = { ping: true, ra: false };
const TUNED_ROUTER: RouterOptions = { ping: false, ra: true };
/** A router that answers DHCP at once and sends no router advertisement (the issue's baseline LAN). */
const QUIET_ROUTER: RouterOptions = { ping: false, ra: false };
const ALL: Config[] = [
  { name: 'stock', label: 'stock dnsmasq (router + proxy)', net: 71, router: STOCK_ROUTER, pxe: 'dnsmasq' },
  { name: 'tuned', label: 'tuned dnsmasq (router + proxy)', net: 72, router: TUNED_ROUTER, pxe: 'dnsmasq' },
  { name: 'edgeboot', label: 'edgeboot relay, proxy (tuned router)', net: 73, router: TUNED_ROUTER, pxe: 'relay-proxy' },
  { name: 'edgeboot-dhcp', label: 'edgeboot relay, full DHCP (alone)', net: 74, router: null, pxe: 'relay-dhcp' },
  { name: 'snponly', label: 'edgeboot proxy, snponly.efi', net: 75, router: TUNED_ROUTER, pxe: 'relay-proxy', uefiBinary: 'snponly.efi' },
  { name: 'dhcp-ra', label: 'edgeboot full DHCP + an RA source', net: 76, router: { ping: false, ra: true, dhcp: false }, pxe: 'relay-dhcp' },
  { name: 'old-proxy', label: 'relay proxy, iPXE 2019, no RA', net: 77, router: QUIET_ROUTER, pxe: 'relay-proxy', ipxe: 'old', group: 'ipxe' },
  { name: 'modern-proxy', label: 'relay proxy, iPXE 2025, no RA', net: 78, router: QUIET_ROUTER, pxe: 'relay-proxy', group: 'ipxe' },
  { name: 'old-dhcp', label: 'relay full DHCP, iPXE 2019, no RA', net: 79, router: null, pxe: 'relay-dhcp', ipxe: 'old', group: 'ipxe' },
  { name: 'modern-dhcp', label: 'relay full DHCP, iPXE 2025, no RA', net: 80, router: null, pxe: 'relay-dhcp', group: 'ipxe' },
  { name: 'chain-once', label: 'modern-proxy, ROM chained once', net: 81, router: QUIET_ROUTER, pxe: 'relay-proxy', upgradeIpxe: 'always', group: 'ipxe' },
  // The signed chain against the iPXE chain on the same LANs (the issue's target: ≤ 1.10× the iPXE chain).
  { name: 'sb-proxy', label: 'relay proxy, Secure Boot, shim+GRUB', net: 82, router: QUIET_ROUTER, pxe: 'relay-proxy', loader: 'shim', secureBoot: true, group: 'secure-boot' },
  { name: 'shim-proxy', label: 'relay proxy, SB off, shim+GRUB', net: 83, router: QUIET_ROUTER, pxe: 'relay-proxy', loader: 'shim', group: 'secure-boot' },
  { name: 'ipxe-proxy', label: 'relay proxy, SB off, iPXE 2025', net: 84, router: QUIET_ROUTER, pxe: 'relay-proxy', group: 'secure-boot' },
  { name: 'sb-dhcp', label: 'relay full DHCP, Secure Boot, shim+GRUB', net: 85, router: null, pxe: 'relay-dhcp', loader: 'shim', secureBoot: true, group: 'secure-boot' },
  { name: 'ipxe-dhcp', label: 'relay full DHCP, SB off, iPXE 2025', net: 86, router: null, pxe: 'relay-dhcp', group: 'secure-boot' },
];
const wanted = values.only ? values.only.split(',') : ['stock', 'tuned', 'edgeboot', 'edgeboot-dhcp', ...values.extra!.split(',').filter(Boolean)];
const CONFIGS = ALL.filter((c) => wanted.includes(c.name) || (c.group !== undefined && wanted.includes(c.group)));
/** FIELD-NOTES "Where boot time goes", seconds (BIOS, UEFI). */
const FIELD_NOTES = 'FIELD-NOTES: stock 25.0 / 38.1 s, tuned proxy topology 11.5 / 21.7 s, floor ~8.3 / ~20.5 s (BIOS / UEFI)';
const DNSMASQ_CMDLINE = 'console=ttyS0 quiet panic=-1';
/** Stages that depend on the servers on the LAN; the rest is firmware and guest CPU under TCG. */
const WIRE = ['DHCP (firmware)', 'TFTP', 'DHCP (iPXE)', 'IPv6 wait', 'script', 'kernel+initrd'] as const;

const started = performance.now();
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
const load = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
const s = (ms: number | undefined) => (ms === undefined ? '—' : (ms / 1000).toFixed(1));
const pad = (x: string, n: number) => x.padEnd(n);
const lpad = (x: string, n: number) => x.padStart(n);

async function ok<T = any>(r: Promise<{ status: number; body: any; text: string }>, want: number, what: string): Promise<T> {
  const x = await r;
  if (x.status !== want) throw new Error(`${what}: ${x.status} ${x.text.slice(0, 300)}`);
  return x.body as T;
}

/** A site with an enrolled relay (what test/e2e/support/site.ts does before it starts the relay). */
async function enrolledSite(t: ApiTarget, url: string, tag: string): Promise<{ siteId: string; creds: Credentials }> {
  const site = await ok(call(t, 'POST', '/v1/sites', { json: { name: unique(`bench-${tag}`) } }), 201, 'site');
  const code = await ok(call(t, 'POST', `/v1/sites/${site.id}/enrollment-codes`, { json: {} }), 201, 'enrollment code');
  const e = await ok(call(t, 'POST', '/v1/relays/enroll', { token: null, json: { code: code.code, name: unique('relay') } }), 201, 'enroll');
  return { siteId: site.id, creds: { cloudUrl: url, relayId: e.relay.id, siteId: site.id, token: e.token, bootKey: e.bootKey, bootKeyId: e.bootKeyId, enrolledAt: new Date().toISOString() } };
}

/** Resolves once the relay's snapshot lists at least `machines` machines (assignments reach it by long poll). */
async function relayKnows(lan: BootLan, machines: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const seen = lan.relay!.logs().filter((l) => l.msg === 'snapshot updated').map((l) => Number(l.machines));
    if (seen.some((n) => n >= machines)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`the relay of ${lan.name} did not learn its ${machines} machines`);
}

/** One configuration's LAN, with the MACs its boots will use (assigned in the cloud when a relay serves it). */
interface Bed {
  c: Config;
  lan: BootLan;
  servers: Record<string, string>;
  macs: string[];
}

async function setUp(c: Config, os: { vmlinuz: string; initrd: string }, cloud: E2eCloud | undefined, profiles: { ipxe: string; shim: string }, work: string, warmUp: boolean): Promise<Bed> {
  const profileId = c.loader === 'shim' ? profiles.shim : profiles.ipxe;
  const macs = Array.from({ length: BOOTS * FIRMWARES.length + (warmUp ? 1 : 0) }, () => randomMac());
  let pxe: PxeServer;
  let siteId = '';
  if (c.pxe === 'dnsmasq') {
    pxe = { kind: 'dnsmasq', vmlinuz: os.vmlinuz, initrd: os.initrd, cmdline: DNSMASQ_CMDLINE };
  } else {
    const site = await enrolledSite(cloud!, cloud!.url, c.name);
    siteId = site.siteId;
    pxe = {
      kind: 'relay',
      mode: c.pxe === 'relay-dhcp' ? 'dhcp' : 'proxy',
      creds: site.creds,
      cloud: cloud!,
      bootFiles: c.ipxe === 'old' ? '/usr/lib/ipxe' : await modernIpxeDir(),
      ...(c.uefiBinary ? { uefiBinary: c.uefiBinary } : {}),
      ...(c.upgradeIpxe ? { upgradeIpxe: c.upgradeIpxe } : {}),
    };
  }
  const lan = await startBootLan({ tag: `bt${c.name.replace(/[^a-z]/g, '').slice(0, 10)}`, net: c.net, router: c.router, pxe, work });
  if (c.pxe !== 'dnsmasq') {
    for (const mac of macs) await assign(cloud!, siteId, mac, profileId);
    await relayKnows(lan, macs.length);
  }
  return { c, lan, macs, servers: { [`10.${c.net}.0.1`]: 'router', [`10.${c.net}.0.2`]: c.pxe === 'dnsmasq' ? 'proxy' : 'relay' } };
}

type Results = Map<string, Array<{ run: BootRun; b: Breakdown }>>;
const key = (c: Config, fw: Firmware) => `${c.name}/${fw}`;

function printTotals(results: Results): void {
  const totals = (k: string) => (results.get(k) ?? []).map((r) => r.b.total).filter((t): t is number => t !== null);
  const med = (k: string) => (totals(k).length ? median(totals(k)) : undefined);
  console.log(`\nBoot time, qemu start → EDGEBOOT-MARKER line (qemu TCG, no KVM), median of ${BOOTS} boot(s) [each boot]\n`);
  const w = 38;
  const cell = (c: Config, fw: Firmware) => {
    if (!FIRMWARES.includes(fw)) return '—';
    const all = totals(key(c, fw));
    const failed = (results.get(key(c, fw))?.length ?? 0) - all.length;
    return `${s(med(key(c, fw)))} [${all.map((t) => s(t)).join(' ')}]${failed ? ` ${failed} failed` : ''}`;
  };
  console.log(`${pad('configuration', w)} ${pad('BIOS s', 22)} UEFI s`);
  for (const c of CONFIGS) console.log(`${pad(c.label, w)} ${pad(cell(c, 'bios'), 22)} ${cell(c, 'uefi')}`);
  console.log(FIELD_NOTES);
  const ratio = (other: string, label: string) => {
    if (!CONFIGS.some((c) => c.name === 'edgeboot') || !CONFIGS.some((c) => c.name === other)) return;
    const cells = FIRMWARES.map((fw) => {
      const x = med(`edgeboot/${fw}`);
      const y = med(`${other}/${fw}`);
      return `${fw.toUpperCase()} ${x && y ? `${(x / y).toFixed(2)}×` : '—'}`;
    });
    console.log(`${pad(label, w)} ${cells.join('   ')}   (below 1: edgeboot faster)`);
  };
  console.log('');
  ratio('tuned', 'edgeboot / tuned dnsmasq');
  ratio('stock', 'edgeboot / stock dnsmasq');
  // The iPXE group: modern over old (the issue's target: UEFI ≤ 0.75×), and what chaining once costs.
  const vs = (a: string, b: string, label: string) => {
    if (!CONFIGS.some((c) => c.name === a) || !CONFIGS.some((c) => c.name === b)) return;
    const cells = FIRMWARES.map((fw) => {
      const x = med(`${a}/${fw}`);
      const y = med(`${b}/${fw}`);
      return `${fw.toUpperCase()} ${x && y ? `${(x / y).toFixed(2)}× (${x - y >= 0 ? '+' : ''}${s(x - y)} s)` : '—'}`;
    });
    console.log(`${pad(label, w)} ${cells.join('   ')}`);
  };
  vs('modern-proxy', 'old-proxy', 'iPXE 2025 / 2019, proxy');
  vs('modern-dhcp', 'old-dhcp', 'iPXE 2025 / 2019, full DHCP');
  vs('chain-once', 'modern-proxy', 'chained once / ROM iPXE, proxy');
  vs('sb-proxy', 'ipxe-proxy', 'Secure Boot shim+GRUB / iPXE, proxy');
  vs('shim-proxy', 'ipxe-proxy', 'shim+GRUB / iPXE (SB off), proxy');
  vs('sb-dhcp', 'ipxe-dhcp', 'Secure Boot shim+GRUB / iPXE, DHCP');
}

function printStages(results: Results): void {
  console.log(`\nWhere the time goes (s, median per stage; a boot's stages add up to its total). "wire" sums the`);
  console.log(`stages the servers take part in (${WIRE.join(', ')}): less noisy than the total on a busy host.`);
  console.log(`"srv CPU": host CPU the servers (relay + cloud, or dnsmasq + static server) used during the boot\n`);
  const cols = STAGES.map((st) => st.replace('DHCP (firmware)', 'DHCP fw').replace('DHCP (iPXE)', 'DHCP iPXE').replace('kernel → marker', 'kernel→mark'));
  const cw = cols.map((c) => Math.max(6, c.length));
  console.log(`${pad('', 20)} ${cols.map((c, i) => lpad(c, cw[i]!)).join(' ')} ${lpad('total', 6)} ${lpad('wire', 5)} ${lpad('srv CPU', 8)}`);
  for (const c of CONFIGS) {
    for (const fw of FIRMWARES) {
      const rs = results.get(key(c, fw)) ?? [];
      const cells = STAGES.map((st, i) => {
        const xs = rs.map((r) => r.b.stages[st]).filter((x): x is number => x !== undefined);
        return lpad(xs.length ? s(median(xs)) : '—', cw[i]!);
      });
      const totals = rs.map((r) => r.b.total).filter((t): t is number => t !== null);
      const wire = rs.map((r) => WIRE.reduce((a, st) => a + (r.b.stages[st] ?? 0), 0));
      const cpu = rs.length ? `${median(rs.map((r) => r.run.serverCpuMs)).toFixed(0)} ms` : '—';
      console.log(`${pad(`${c.name} ${fw}`, 20)} ${cells.join(' ')} ${lpad(totals.length ? s(median(totals)) : '—', 6)} ${lpad(wire.length ? s(median(wire)) : '—', 5)} ${lpad(cpu, 8)}`);
      if (!values['per-boot']) continue;
      rs.forEach((r, n) => {
        const one = STAGES.map((st, i) => lpad(s(r.b.stages[st]), cw[i]!));
        const w = WIRE.reduce((a, st) => a + (r.b.stages[st] ?? 0), 0);
        console.log(`${pad(`  boot ${n + 1}`, 20)} ${one.join(' ')} ${lpad(s(r.b.total ?? undefined), 6)} ${lpad(s(w), 5)} ${lpad(`${r.run.serverCpuMs} ms`, 8)}`);
      });
    }
  }
}

function printDetails(results: Results): void {
  console.log(`\nDHCP exchanges (first timed boot; ms after the DISCOVER that opened each; ×n = retransmissions)`);
  for (const c of CONFIGS) {
    for (const fw of FIRMWARES) {
      const r = results.get(key(c, fw))?.[0];
      if (r?.b.dhcp.firmware) console.log(`${pad(`${c.name} ${fw} OVMF`, 20)} ${r.b.dhcp.firmware}`);
      if (r?.b.dhcp.ipxe) console.log(`${pad(`${c.name} ${fw} iPXE`, 20)} ${r.b.dhcp.ipxe}`);
    }
  }
  console.log(`\nHTTP downloads (median ms from the request to iPXE's "ok"; retransmissions by the server, all boots)`);
  const names = ['script', 'kernel', 'initrd'];
  for (const c of CONFIGS) {
    for (const fw of FIRMWARES) {
      const rs = results.get(key(c, fw)) ?? [];
      const n = Math.max(0, ...rs.map((r) => r.b.downloads.length));
      const cells = Array.from({ length: n }, (_, i) => {
        const ds = rs.map((r) => r.b.downloads[i]).filter((d) => d !== undefined);
        const retx = ds.reduce((a, d) => a + d.retransmissions, 0);
        return `${names[i] ?? `file ${i}`} ${median(ds.map((d) => d.ms)).toFixed(0)}${retx ? ` (${retx} retx)` : ''}`;
      });
      console.log(`${pad(`${c.name} ${fw}`, 20)} ${cells.join(' · ')}`);
    }
  }
  const problems = [...results.entries()].flatMap(([k, rs]) => rs.flatMap((r, i) => r.b.problems.map((p) => `${k} boot ${i + 1}: ${p}`)));
  if (problems.length) console.log(`\nnot placed:\n  ${problems.join('\n  ')}`);
}

const work = mkdtempSync(join(tmpdir(), 'eb-bench-boot-'));
const beds: Bed[] = [];
let cloud: E2eCloud | undefined;
try {
  console.log(`load average at start: ${load()} (qemu TCG needs the CPU: other work on the machine slows every boot)`);
  console.log(`boot-time: ${CONFIGS.map((c) => c.name).join(', ')} × ${FIRMWARES.join(', ')}, ${BOOTS} boot(s) each; setting up…`);
  const os = await osFiles();
  const profiles = { ipxe: '', shim: '' };
  if (CONFIGS.some((c) => c.pxe !== 'dnsmasq')) {
    cloud = await startNodeCloud();
    profiles.ipxe = await testOsProfile(cloud);
    // The same test OS, booted through trixie's shim and GRUB (Debian's signed kernel: Secure Boot accepts it).
    if (CONFIGS.some((c) => c.loader === 'shim')) profiles.shim = await testOsProfile(cloud, await signedChainImages(cloud));
  }
  for (const c of CONFIGS) beds.push(await setUp(c, os, cloud, profiles, work, values['warm-up']! && c.pxe !== 'dnsmasq'));
  console.log(`ready after ${elapsed()}\n`);

  const fw0 = FIRMWARES[0]!;
  for (const bed of beds.filter((b) => b.macs.length > BOOTS * FIRMWARES.length)) {
    const run = await bed.lan.boot(fw0, bed.macs.pop()!, { timeoutMs: 90_000, secureBoot: bed.c.secureBoot === true });
    const b = breakdown(run, bed.servers);
    console.log(`warm-up ${bed.c.name} ${fw0}: ${s(run.markerAt ?? undefined)} s (cold image cache: kernel+initrd ${s(b.stages['kernel+initrd'])} s) [${elapsed()}]`);
  }

  const results: Results = new Map();
  for (let round = 0; round < BOOTS; round++) {
    for (const bed of beds) {
      for (const fw of FIRMWARES) {
        const run = await bed.lan.boot(fw, bed.macs.pop()!, { timeoutMs: 90_000, secureBoot: bed.c.secureBoot === true });
        const k = key(bed.c, fw);
        results.set(k, [...(results.get(k) ?? []), { run, b: breakdown(run, bed.servers) }]);
        console.log(`round ${round + 1}/${BOOTS} ${pad(bed.c.name, 14)} ${fw}: ${run.markerAt === null ? 'NO MARKER (timed out)' : `${s(run.markerAt)} s`} [${elapsed()}]`);
      }
    }
  }

  printTotals(results);
  printStages(results);
  printDetails(results);
  if (values.timeline) {
    for (const bed of beds) {
      for (const fw of FIRMWARES) {
        const r = results.get(key(bed.c, fw))?.[0];
        if (!r) continue;
        console.log(`\n--- timeline: ${bed.c.name} ${fw.toUpperCase()} (${r.run.mac}), s since qemu start`);
        for (const line of timeline(r.run, bed.servers)) console.log(line);
      }
    }
  }
  console.log(`\ntotal run ${elapsed()}; load average at the end: ${load()}`);
} finally {
  for (const bed of beds) await bed.lan.close();
  await cloud?.close();
  rmSync(work, { recursive: true, force: true });
}
