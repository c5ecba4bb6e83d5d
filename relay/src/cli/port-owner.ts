/**
 * "UDP 67 is in use — by dnsmasq (pid 812)": who holds a port, read from /proc like `ss -p` does
 * (/proc/net/{udp,tcp}{,6} give the socket's inode, /proc/PID/fd the process that has it open).
 * Best effort: another user's processes are visible only to root; then the message falls back to
 * the usual suspects for that port.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export type Protocol = 'udp' | 'tcp';

/** Who usually holds a port that a relay needs, for when /proc cannot say. */
const SUSPECTS: Record<number, string> = {
  67: 'dnsmasq, isc-dhcp-server, kea or another DHCP server',
  68: 'a DHCP client (dhclient, systemd-networkd)',
  69: 'tftpd-hpa, atftpd or dnsmasq (enable-tftp)',
  4011: 'dnsmasq in proxy mode or another PXE server',
  80: 'a web server (nginx, apache2)',
  8080: 'a web server or proxy',
};

/** Inodes of sockets bound to `port` (any address); TCP only in LISTEN state. */
export function socketInodes(protocol: Protocol, port: number, procNet = '/proc/net'): Set<string> {
  const inodes = new Set<string>();
  for (const file of [protocol, `${protocol}6`]) {
    let text: string;
    try {
      text = readFileSync(`${procNet}/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const local = f[1]!;
      const p = Number.parseInt(local.slice(local.lastIndexOf(':') + 1), 16);
      if (p !== port) continue;
      if (protocol === 'tcp' && f[3] !== '0A') continue; // 0A = LISTEN
      if (f[9] !== '0') inodes.add(f[9]!);
    }
  }
  return inodes;
}

/** The processes holding any of `inodes`, as `name (pid N)`. */
export function processesHolding(inodes: Set<string>, proc = '/proc'): string[] {
  if (inodes.size === 0) return [];
  const found: string[] = [];
  let pids: string[];
  try {
    pids = readdirSync(proc).filter((p) => /^\d+$/.test(p));
  } catch {
    return [];
  }
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${proc}/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`${proc}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(target);
      if (m && inodes.has(m[1]!)) {
        let name = '?';
        try {
          name = readFileSync(`${proc}/${pid}/comm`, 'utf8').trim();
        } catch {
          // exited meanwhile
        }
        found.push(`${name} (pid ${pid})`);
        break;
      }
    }
  }
  return found;
}

/** The sentence a technician reads when binding `protocol` `port` failed with EADDRINUSE. */
export function portInUseMessage(protocol: Protocol, port: number, address?: string): string {
  const where = `${protocol.toUpperCase()} ${port}${address && address !== '0.0.0.0' && address !== '::' ? ` on ${address}` : ''}`;
  const holders = processesHolding(socketInodes(protocol, port));
  if (holders.length > 0) return `${where} is in use by ${holders.join(', ')}: stop it or give the relay another port`;
  const suspect = SUSPECTS[port];
  return `${where} is in use${suspect ? ` — is ${suspect} running on this box?` : ' by another process'} (\`ss -lnp${protocol === 'udp' ? 'u' : 't'} sport = :${port}\` as root names it)`;
}
