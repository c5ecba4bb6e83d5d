/**
 * One boot as a readable timeline (pure): every DHCP packet, TFTP and HTTP exchange, IPv6 router
 * solicitation and advertisement, the servers' ARP requests, and the console lines, in seconds since
 * qemu started. TFTP DATA and HTTP response bytes are summed per transfer; nonces are elided.
 */
import type { BootRun } from './boot-lan.ts';

const sec = (ms: number) => (ms / 1000).toFixed(3);
const noNonce = (s: string) => s.replace(/nonce=[^&\s]*/, 'nonce=…');

/** `servers` names the senders: address → `router`, `relay`, `proxy`. */
export function timeline(run: BootRun, servers: Record<string, string>): string[] {
  const rows: Array<[number, string]> = [];
  const who = (ip: string) => servers[ip] ?? ip;
  const tftp = new Map<string, { first: number; last: number; blocks: number; bytes: number }>();
  // Per connection, the responses in request order: a request opens one, data fills the last.
  const http = new Map<string, Array<{ first: number; last: number; bytes: number; line: string }>>();
  for (const e of run.events) {
    switch (e.kind) {
      case 'dhcp': {
        const from = e.fromClient ? `client(${e.client}) ${e.sport}→${e.dport}` : `${who(e.src)}:${e.sport}→${e.dport}`;
        const extra = [e.yiaddr !== '0.0.0.0' ? `yiaddr ${e.yiaddr}` : '', e.siaddr !== '0.0.0.0' && !e.fromClient ? `siaddr ${e.siaddr}` : '', e.file ? `file ${noNonce(e.file)}` : '', e.pxeMenu ? '43:menu' : '', e.noProxyDhcp ? '175.176' : ''];
        rows.push([e.t, `DHCP ${e.type} ${from} ${extra.filter(Boolean).join(' ')}`]);
        break;
      }
      case 'tftp-rrq':
        rows.push([e.t, `TFTP RRQ ${e.file} ${JSON.stringify(e.options)}`]);
        break;
      case 'tftp-oack':
      case 'tftp-error':
        rows.push([e.t, `TFTP ${e.kind === 'tftp-oack' ? 'OACK' : 'ERROR'} ${e.src}→${e.dst} ${e.text}`]);
        break;
      case 'tftp-data': {
        const k = `${e.src}→${e.dst}`;
        const x = tftp.get(k) ?? { first: e.t, last: e.t, blocks: 0, bytes: 0 };
        x.last = e.t;
        x.blocks++;
        x.bytes += e.bytes;
        tftp.set(k, x);
        break;
      }
      case 'http-request':
        rows.push([e.t, `HTTP ${noNonce(e.line).slice(0, 110)}`]);
        http.set(e.conn, [...(http.get(e.conn) ?? []), { first: e.t, last: e.t, bytes: 0, line: noNonce(e.line).slice(0, 60) }]);
        break;
      case 'tcp-data': {
        const cur = http.get(e.conn)?.at(-1);
        if (e.retransmit) rows.push([e.t, `TCP retransmission to the client, ${e.bytes} bytes`]);
        else if (cur && e.bytes > 0) {
          if (cur.bytes === 0) cur.first = e.t;
          cur.last = e.t;
          cur.bytes += e.bytes;
        }
        break;
      }
      case 'rs':
        rows.push([e.t, `ICMPv6 router solicitation from ${e.src}`]);
        break;
      case 'ra':
        rows.push([e.t, `ICMPv6 router advertisement M=${Number(e.managed)} O=${Number(e.other)} router lifetime ${e.routerLifetime} s ${e.prefixes.join(', ')}`]);
        break;
      case 'arp-request':
        if (servers[e.sender]) rows.push([e.t, `ARP who-has ${e.target} tell ${who(e.sender)}`]);
        break;
      case 'tcp-syn':
        break;
    }
  }
  for (const [k, x] of tftp) rows.push([x.first, `TFTP DATA ${k}: ${x.blocks} blocks, ${x.bytes} bytes, until ${sec(x.last)}`]);
  for (const x of [...http.values()].flat()) rows.push([x.last, `HTTP response sent: ${x.bytes} bytes (${x.line}) from ${sec(x.first)}`]);
  for (const l of run.lines) if (l.text.trim()) rows.push([l.start, `console ${l.end - l.start > 50 ? `[until ${sec(l.end)}] ` : ''}${noNonce(l.text.trim()).slice(0, 110)}`]);
  rows.sort((a, b) => a[0] - b[0]);
  return rows.map(([t, text]) => `${sec(t).padStart(8)}  ${text}`);
}
