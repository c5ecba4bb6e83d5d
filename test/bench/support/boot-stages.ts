/**
 * Where one boot's time went (pure): the stages of test/bench/boot-time.ts, cut at packets seen on the
 * LAN bridge and at console lines, all in ms since qemu started.
 *
 *   firmware start   qemu start → the first DHCPDISCOVER (SeaBIOS + the iPXE ROM's init; OVMF's boot)
 *   DHCP (firmware)  OVMF's DISCOVER → its first TFTP RRQ                                           UEFI
 *                    (EDK2 collects offers until its first timeout, ~4 s, whatever arrives; in the
 *                    proxy topology it then asks the proxy on 4011 and waits out that request's whole
 *                    1 s reply window: Dhcp4 TransmitReceive polls until its timeout)
 *   TFTP             the first RRQ → the last DATA block of ipxe.efi (size probe, transfer)          UEFI
 *   iPXE start-up    the last DATA block → ipxe.efi's first DISCOVER                                UEFI
 *   DHCP (iPXE)      iPXE's first DISCOVER → the last ACK before `Configuring (net0 …)… ok`
 *   IPv6 wait        that ACK → the end of that line (ifconf waits for every configurator: IPv6 router
 *                    discovery gives up after ~13 s without an RA; the 2025 iPXE after ~4 s)
 *   chain-load       BIOS chained once (`upgrade_ipxe`): the ROM's `ok` → the chained iPXE's own
 *                    `Configuring … ok` (TFTP undionly.kpxe, its start-up, its DHCP and IPv6 wait)
 *   script           `ok` → the last byte of the script's HTTP response (with dnsmasq's menu, iPXE's
 *                    boot-server REQUEST on 4011 comes first: `PXEBS`)
 *   kernel+initrd    → the last byte of the last file download
 *   kernel → marker  → the end of the `EDGEBOOT-MARKER` line
 *
 * Each stage runs from the end of the one before, so a boot's stages add up to its total.
 */
import type { BootRun } from './boot-lan.ts';
import type { NetEvent } from './pcap.ts';

export const STAGES = ['firmware start', 'DHCP (firmware)', 'TFTP', 'iPXE start-up', 'DHCP (iPXE)', 'IPv6 wait', 'chain-load', 'script', 'kernel+initrd', 'kernel → marker'] as const;
export type Stage = (typeof STAGES)[number];

type Dhcp = Extract<NetEvent, { kind: 'dhcp' }>;

export interface Breakdown {
  total: number | null;
  /** ms per stage; a stage that does not apply (BIOS has no TFTP) or could not be placed is absent. */
  stages: Partial<Record<Stage, number>>;
  /** The DHCP exchanges, one line each: `DISCOVER 0 · OFFER(router) +3012 · …` (ms after its DISCOVER). */
  dhcp: { firmware?: string; ipxe?: string };
  /** Each HTTP request: how long from the request to the end of its download, retransmissions on the way. */
  downloads: Array<{ path: string; ms: number; retransmissions: number }>;
  /** What could not be placed, for the report. */
  problems: string[];
}

/** `servers` names the senders: address → `router`, `relay`, `proxy`. */
export function breakdown(run: BootRun, servers: Record<string, string>): Breakdown {
  const problems: string[] = [];
  const ev = run.events;
  const mine = (e: NetEvent): e is Dhcp => e.kind === 'dhcp' && e.chaddr === run.mac;
  const dhcp = ev.filter(mine);
  const firstHttp = ev.find((e) => e.kind === 'http-request');
  const ipxeDiscover = dhcp.find((e) => e.fromClient && e.client === 'ipxe' && e.type === 'DISCOVER');
  const b: Array<[Stage, number | undefined]> = [];
  const detail: Breakdown['dhcp'] = {};

  if (run.firmware === 'uefi') {
    const fwDiscover = dhcp.find((e) => e.fromClient && e.client === 'firmware' && e.type === 'DISCOVER');
    const firstRrq = ev.find((e) => e.kind === 'tftp-rrq');
    const tftpEnd = last(ev.filter((e) => e.kind === 'tftp-data' && (!ipxeDiscover || e.t < ipxeDiscover.t)));
    b.push(['firmware start', fwDiscover?.t], ['DHCP (firmware)', firstRrq?.t], ['TFTP', tftpEnd?.t], ['iPXE start-up', ipxeDiscover?.t]);
    if (fwDiscover) {
      const packets = dhcp.filter((e) => e.t >= fwDiscover.t && (!firstRrq || e.t < firstRrq.t));
      detail.firmware = `${exchange(packets, fwDiscover.t, servers)}${firstRrq ? ` · TFTP RRQ +${Math.round(firstRrq.t - fwDiscover.t)}` : ''}`;
    }
  } else {
    b.push(['firmware start', ipxeDiscover?.t]);
  }
  // ifconf's DHCP ends with the last ACK before `Configuring … ok`; a PXE boot-server request iPXE makes
  // after that (dnsmasq's menu: `PXEBS`) belongs to fetching the script.
  const configuring = run.lines.find((l) => /Configuring \(net\d/.test(l.text) && (!ipxeDiscover || l.end >= ipxeDiscover.t));
  const ifconfDone = Math.min(configuring?.end ?? Infinity, firstHttp?.t ?? Infinity);
  const ipxeAck = last(dhcp.filter((e) => !e.fromClient && e.type === 'ACK' && ipxeDiscover && e.t > ipxeDiscover.t && e.t < ifconfDone));
  if (ipxeDiscover) detail.ipxe = exchange(dhcp.filter((e) => e.t >= ipxeDiscover.t && (!firstHttp || e.t < firstHttp.t)), ipxeDiscover.t, servers);
  b.push(['DHCP (iPXE)', ipxeAck?.t]);
  b.push(['IPv6 wait', configuring?.end]);
  // A BIOS ROM chained to the relay's iPXE: TFTP after the ROM's `ok`, then the chained iPXE configures again.
  const chainRrq = run.firmware === 'bios' && configuring ? ev.find((e) => e.kind === 'tftp-rrq' && e.t >= configuring.end) : undefined;
  if (chainRrq) b.push(['chain-load', run.lines.find((l) => /Configuring \(net\d/.test(l.text) && l.start >= chainRrq.t)?.end]);

  // A download ends when iPXE prints its `… ok` (the console line's end): the last data packet can be a
  // retransmission iPXE needed, and after `boot` the kernel leaves the last segments unacknowledged, so
  // the server keeps retransmitting them. Without such a line, the last new data the server sent.
  const requests = ev.filter((e): e is Extract<NetEvent, { kind: 'http-request' }> => e.kind === 'http-request');
  const data = ev.filter((e): e is Extract<NetEvent, { kind: 'tcp-data' }> => e.kind === 'tcp-data' && e.bytes > 0 && !e.retransmit);
  const okLines = run.lines.filter((l) => /\bok\s*$/.test(l.text));
  const doneAt = (i: number): number | undefined => {
    const req = requests[i];
    if (!req) return undefined;
    const line = okLines.find((l) => l.end >= req.t);
    if (line && (!requests[i + 1] || line.end <= requests[i + 1]!.t)) return line.end;
    return last(data.filter((d) => d.conn === req.conn && d.t >= req.t && (!requests[i + 1] || d.t < requests[i + 1]!.t)))?.t;
  };
  const downloads = requests.map((r, i) => {
    const end = doneAt(i) ?? r.t;
    const retransmissions = ev.filter((e) => e.kind === 'tcp-data' && e.retransmit && e.conn === r.conn && e.t >= r.t && e.t <= end).length;
    return { path: r.line.replace(/^\S+ /, ''), ms: end - r.t, retransmissions };
  });
  b.push(['script', doneAt(0)]);
  if (requests.length < 3) problems.push(`${Math.max(0, requests.length - 1)} file request(s) after the script`);
  b.push(['kernel+initrd', requests.length > 1 ? doneAt(requests.length - 1) : undefined]);
  b.push(['kernel → marker', run.markerAt ?? undefined]);

  const stages: Breakdown['stages'] = {};
  let prev = 0;
  let gap: Stage[] = [];
  for (const [stage, end] of b) {
    if (end === undefined || end < prev) {
      gap.push(stage);
      continue;
    }
    // A stage whose end could not be placed is folded into the next one that could.
    if (gap.length) problems.push(`${gap.join(', ')}: not seen; counted in ${stage}`);
    gap = [];
    stages[stage] = end - prev;
    prev = end;
  }
  if (gap.length) problems.push(`${gap.join(', ')}: not seen`);
  return { total: run.markerAt, stages, dhcp: detail, downloads, problems };
}

/** One DHCP exchange as a line: each packet with its sender and its time after the DISCOVER that opened it. */
function exchange(packets: Dhcp[], t0: number, servers: Record<string, string>): string {
  const out: string[] = [];
  let prev = '';
  let repeats = 0;
  const flush = () => {
    if (repeats > 1) out[out.length - 1] += ` ×${repeats}`;
  };
  for (const p of packets) {
    const who = p.fromClient ? (p.dport === 4011 ? '→4011' : '') : `(${servers[p.src] ?? p.src}${p.sport === 4011 ? ':4011' : ''})`;
    const label = `${p.type}${who}`;
    if (label === prev && p.fromClient) {
      repeats++;
      continue;
    }
    flush();
    repeats = 1;
    prev = label;
    out.push(`${label} ${p.t === t0 ? '0' : `+${Math.round(p.t - t0)}`}`);
  }
  flush();
  return out.join(' · ');
}

function last<T>(xs: T[]): T | undefined {
  return xs[xs.length - 1];
}

/** Median; the mean of the middle two for an even count. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
