/**
 * Branch-office LANs for test/bench/boot-time.ts, one per configuration, in network namespaces (the
 * end-to-end bed of test/e2e/support/site.ts, with the site router made configurable and a dnsmasq boot
 * server as the alternative to the relay):
 *
 *   router 10.<n>.0.1  dnsmasq, addresses only: stock (pings before offering) or tuned (`--no-ping`,
 *                      and `--enable-ra` with an RA-only ULA range: an advertisement with M = O = 0)
 *   pxe    10.<n>.0.2  either dnsmasq in proxy mode (PXE menu + TFTP from /usr/lib/ipxe) beside
 *                      boot-files-server.ts on :8080, or `edgeboot-relay run` (proxy or full DHCP mode)
 *                      with its unix-socket WAN to the cloud (test/relay/support/lan.ts)
 *   lan    bridge br0 + one tap per VM, tcpdump on br0 while a VM boots
 *
 * `boot()` runs one qemu VM (TCG) and stops it at the test OS's marker line. The console is timestamped
 * per chunk, so a line has the time its first character arrived as well as its last: iPXE prints
 * `Configuring (net0 …)` at once and the dots and `ok` as it goes.
 */
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Credentials } from '../../../relay/src/sync/credentials.ts';
import { cloudBridge, startForwarder, startRelayInNs, type CloudBridge, type RelayInNs } from '../../relay/support/lan.ts';
import { createTestbed, type Spawned, type Testbed } from '../../support/netns.ts';
import { descendantCpuMs } from './host-cpu.ts';
import { netEvents, readPcap, type NetEvent } from './pcap.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export { OVMF_CODE_SB, OVMF_VARS_SB } from '../../e2e/support/site.ts';
import { OVMF_CODE_SB, OVMF_VARS_SB } from '../../e2e/support/site.ts';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const HTTP_PORT = 8080;
/** dnsmasq without DNS, in the foreground, logging DHCP, with no pid file (two instances never share one). */
const DNSMASQ = ['--no-daemon', '--conf-file=/dev/null', '--port=0', '--log-dhcp', '--pid-file='];
/** Process names (comm, 15 bytes at most) that are not servers: the VM and the capture. */
const NOT_SERVERS = ['qemu-system-x86', 'tcpdump'];

export type Firmware = 'bios' | 'uefi';

export interface RouterOptions {
  /** dnsmasq's default: ping (ARP) an address for up to 3 s before offering it. */
  ping: boolean;
  /** Router advertisements on a ULA prefix, RA only (no DHCPv6): iPXE's IPv6 configurator finishes at once. */
  ra: boolean;
  /** false: no DHCPv4 at all (an RA source beside the relay in full DHCP mode). Default true. */
  dhcp?: boolean;
}

export type PxeServer =
  | { kind: 'dnsmasq'; vmlinuz: string; initrd: string; cmdline: string }
  | {
      kind: 'relay';
      mode: 'proxy' | 'dhcp';
      creds: Credentials;
      cloud: { url: string };
      uefiBinary?: string;
      /** `boot_files`: /usr/lib/ipxe (bookworm's 2019 iPXE) or the relay's own folder (trixie's). */
      bootFiles: string;
      /** `[dhcp] upgrade_ipxe` (default: the relay's). */
      upgradeIpxe?: 'never' | 'when-needed' | 'always';
    };

export interface BootLanOptions {
  /** Testbed tag (lower-case letters and digits). */
  tag: string;
  /** Second octet of the LAN's 10.<n>.0.0/24. */
  net: number;
  /** null: no router on the LAN (the relay in full DHCP mode is the only server). */
  router: RouterOptions | null;
  pxe: PxeServer;
  work: string;
}

export interface ConsoleLine {
  text: string;
  /** ms since qemu started: first character, and the newline. */
  start: number;
  end: number;
}

export interface BootRun {
  firmware: Firmware;
  mac: string;
  /** Epoch ms at which qemu was started: the zero of every other time here. */
  t0: number;
  lines: ConsoleLine[];
  /** ms from qemu start to the end of the `EDGEBOOT-MARKER` line, or null (timed out). */
  markerAt: number | null;
  /** What tcpdump saw on the bridge, times in ms since qemu start. */
  events: NetEvent[];
  /**
   * Host CPU ms the servers used while the VM ran: every process this benchmark started (relays, cloud,
   * dnsmasq, static server, in any bed) but qemu and tcpdump. They share the host's cores with the guest.
   */
  serverCpuMs: number;
}

export interface BootLan {
  name: string;
  net: number;
  bed: Testbed;
  pxeIp: string;
  relay: RelayInNs | null;
  /** `secureBoot`: UEFI with Secure Boot on and Microsoft's keys (Debian's OVMF .ms images). */
  boot(firmware: Firmware, mac: string, opts?: { timeoutMs?: number; uuid?: string; secureBoot?: boolean }): Promise<BootRun>;
  close(): Promise<void>;
}

let taps = 0;

export async function startBootLan(o: BootLanOptions): Promise<BootLan> {
  const net = `10.${o.net}.0`;
  const pxeIp = `${net}.2`;
  const work = join(o.work, o.tag);
  mkdirSync(work, { recursive: true });
  const bed = await createTestbed(o.tag);
  let bridge: CloudBridge | null = null;
  let relay: RelayInNs | null = null;
  try {
    await bed.lan('lan');
    await bed.namespace('pxe');
    await bed.attach('pxe', 'lan', 'eth0', `${pxeIp}/24`);
    if (o.router) await startRouter(bed, net, o.net, o.router, work);

    if (o.pxe.kind === 'dnsmasq') {
      const http = bed.spawn('pxe', process.execPath, [join(ROOT, 'test/bench/support/boot-files-server.ts'), pxeIp, String(HTTP_PORT), o.pxe.vmlinuz, o.pxe.initrd, o.pxe.cmdline]);
      await http.waitForLine(/^listening/, 10_000);
      const script = (fw: Firmware) => `http://${pxeIp}:${HTTP_PORT}/boot?fw=${fw}&marker=dnsmasq`;
      // The proxy configuration of test/relay/dhcp/fixtures/regenerate.sh (what a site writes for
      // dnsmasq: a menu entry per firmware class, iPXE sent on to its script), plus dnsmasq's own TFTP.
      const proxy = bed.spawn('pxe', 'dnsmasq', [
        ...DNSMASQ,
        `--dhcp-range=${net}.0,proxy,255.255.255.0`,
        '--dhcp-userclass=set:ipxe,iPXE',
        '--pxe-prompt=edgeboot,0',
        '--pxe-service=tag:!ipxe,x86PC,edgeboot,undionly',
        '--pxe-service=tag:!ipxe,X86-64_EFI,edgeboot,ipxe.efi',
        `--pxe-service=tag:ipxe,x86PC,edgeboot,${script('bios')}`,
        `--pxe-service=tag:ipxe,X86-64_EFI,edgeboot,${script('uefi')}`,
        '--enable-tftp',
        '--tftp-root=/usr/lib/ipxe',
        `--dhcp-leasefile=${join(work, 'proxy.leases')}`,
      ]);
      await proxy.waitForLine(/DHCP, proxy on subnet/, 10_000);
    } else {
      const sock = join(work, 'cloud.sock');
      bridge = await cloudBridge(o.pxe.cloud, sock);
      await startForwarder(bed, 'pxe', sock);
      const full = o.pxe.mode === 'dhcp' ? `range = ["${net}.100", "${net}.150"]\nrouters = ["${pxeIp}"]\nlease_seconds = 600\n` : '';
      const upgrade = o.pxe.upgradeIpxe ? `upgrade_ipxe = "${o.pxe.upgradeIpxe}"\n` : '';
      const dhcp = full || upgrade ? `[dhcp]\n${full}${upgrade}` : '';
      const binaries = o.pxe.uefiBinary ? `[dhcp.binaries]\nuefi_x64 = "${o.pxe.uefiBinary}"\n` : '';
      relay = await startRelayInNs(bed, 'pxe', {
        creds: o.pxe.creds,
        stateDir: join(work, 'relay'),
        // The relay configuration of test/e2e/support/site.ts.
        toml: `interface = "eth0"\nmode = "${o.pxe.mode}"\nboot_files = "${o.pxe.bootFiles}"\n[http]\nport = ${HTTP_PORT}\npublic_url = "http://${pxeIp}:${HTTP_PORT}"\n[sync]\nwait_seconds = 5\n${dhcp}${binaries}`,
      });
    }
  } catch (err) {
    await bed.cleanup();
    bridge?.close();
    throw err;
  }

  const boot = async (firmware: Firmware, mac: string, opts: { timeoutMs?: number; uuid?: string } = {}): Promise<BootRun> => {
    const tap = `tap${++taps}`;
    await bed.run('lan', 'ip', ['tuntap', 'add', tap, 'mode', 'tap']);
    await bed.run('lan', 'ip', ['link', 'set', tap, 'master', 'br0', 'up']);
    const pcap = join(work, `${tap}.pcap`);
    // -s 1600: whole DHCP and TFTP packets, and the head of every TCP segment (offloaded segments are
    // seen on the bridge before segmentation, up to 64 KiB; their payload is not needed).
    const dump = bed.spawn('lan', 'tcpdump', ['-i', 'br0', '-n', '-U', '-s', '1600', '-w', pcap]);
    await dump.waitForLine(/listening on/, 10_000);
    try {
      const cpu = descendantCpuMs(NOT_SERVERS);
      const run = await runVm(bed, tap, work, firmware, mac, opts);
      const serverCpuMs = descendantCpuMs(NOT_SERVERS) - cpu;
      await dump.kill();
      const frames = readPcap(readFileSync(pcap));
      const events = netEvents(frames, { tftpServers: [pxeIp], httpPorts: [HTTP_PORT] }).map((e) => ({ ...e, t: e.t - run.t0 }));
      return { ...run, firmware, mac, events, serverCpuMs };
    } finally {
      await dump.kill();
      await bed.run('lan', 'ip', ['link', 'del', tap]);
      rmSync(pcap, { force: true });
    }
  };

  return {
    name: o.tag,
    net: o.net,
    bed,
    pxeIp,
    relay,
    boot,
    close: async () => {
      await bed.cleanup();
      bridge?.close();
    },
  };
}

async function startRouter(bed: Testbed, net: string, n: number, r: RouterOptions, work: string): Promise<void> {
  await bed.namespace('router');
  await bed.attach('router', 'lan', 'eth0', `${net}.1/24`);
  const dhcp = r.dhcp ?? true;
  const args = [...DNSMASQ, `--dhcp-leasefile=${join(work, 'router.leases')}`];
  if (dhcp) args.push(`--dhcp-range=${net}.100,${net}.199,255.255.255.0,10m`, `--dhcp-option=3,${net}.1`);
  if (!r.ping) args.push('--no-ping');
  if (r.ra) {
    // A ULA prefix, RA only: the advertisement carries the prefix for SLAAC and neither M (addresses by
    // DHCPv6) nor O (other configuration by DHCPv6), so iPXE has nothing left to wait for.
    const prefix = `fd00:eb:${n.toString(16)}::`;
    await bed.run('router', 'ip', ['-6', 'addr', 'add', `${prefix}1/64`, 'dev', 'eth0', 'nodad']);
    await waitForLinkLocal(bed, 'router');
    args.push('--enable-ra', `--dhcp-range=${prefix},ra-only,64,10m`);
  }
  const router = bed.spawn('router', 'dnsmasq', args);
  if (dhcp) await router.waitForLine(/DHCP, IP range/, 10_000);
  if (r.ra) await router.waitForLine(/router advertisement on/, 10_000);
}

/** dnsmasq sends RAs from the link-local address, which is usable only once duplicate detection is done. */
async function waitForLinkLocal(bed: Testbed, ns: string): Promise<void> {
  for (let i = 0; i < 50; i++) {
    const r = await bed.run(ns, 'ip', ['-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']);
    if (/inet6 fe80/.test(r.stdout) && !/tentative/.test(r.stdout)) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`no usable link-local address in ${ns}`);
}

/** One VM, as test/e2e/support/site.ts boots them, stopped once the marker line is complete. */
async function runVm(bed: Testbed, tap: string, work: string, firmware: Firmware, mac: string, o: { timeoutMs?: number; uuid?: string; secureBoot?: boolean }) {
  const args = ['-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio', '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`];
  if (o.uuid) args.push('-uuid', o.uuid);
  if (firmware === 'bios') {
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${mac},bootindex=1`);
  } else {
    const vars = join(work, `vars-${tap}.fd`);
    copyFileSync(o.secureBoot ? OVMF_VARS_SB : OVMF_VARS, vars);
    if (o.secureBoot) args.push('-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on');
    else args.push('-machine', 'q35');
    args.push('-drive', `if=pflash,format=raw,readonly=on,file=${o.secureBoot ? OVMF_CODE_SB : OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`);
    // No option ROM: OVMF's own PXE stack does DHCP → TFTP ipxe.efi, as on real UEFI servers.
    args.push('-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=,bootindex=1`);
  }
  const t0 = performance.timeOrigin + performance.now();
  const vm: Spawned = bed.spawn('lan', 'qemu-system-x86_64', args);
  const lines: ConsoleLine[] = [];
  let partial = '';
  let partialStart = 0;
  let markerAt: number | null = null;
  vm.child.stdout!.on('data', (chunk: Buffer) => {
    const now = performance.timeOrigin + performance.now() - t0;
    const parts = chunk.toString('latin1').split('\n');
    for (let i = 0; i < parts.length; i++) {
      if (partial === '' && parts[i] !== '') partialStart = now;
      partial += parts[i];
      if (i === parts.length - 1) break;
      const text = stripAnsi(partial);
      lines.push({ text, start: partial === '' ? now : partialStart, end: now });
      if (markerAt === null && text.includes('EDGEBOOT-MARKER')) {
        markerAt = now;
        void vm.kill();
      }
      partial = '';
    }
  });
  const timer = setTimeout(() => void vm.kill(), o.timeoutMs ?? 120_000);
  await vm.exited;
  clearTimeout(timer);
  if (partial) lines.push({ text: stripAnsi(partial), start: partialStart, end: performance.timeOrigin + performance.now() - t0 });
  rmSync(join(work, `vars-${tap}.fd`), { force: true });
  return { t0, lines, markerAt: markerAt as number | null };
}

/** iPXE and OVMF draw with escape sequences; lines are matched on plain text. */
function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[()][A-Z0-9]|\r/g, '');
}
