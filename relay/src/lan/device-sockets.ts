import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * DHCP sockets bound to one interface each (SO_BINDTODEVICE), which Node cannot make.
 *
 * Why: a client with no address broadcasts to 255.255.255.255:67. A Node socket on 0.0.0.0:67 hears
 * those from every interface and cannot tell which one (no IP_PKTINFO), so a relay serving two LANs
 * (or a LAN and a VLAN) would answer a client with the wrong LAN's addresses and URLs. A socket bound
 * to a device hears only that device's broadcasts, and its replies to 255.255.255.255 leave by that
 * device whatever the routing table says (the kernel takes the device as the output interface), so a
 * box with no route for broadcasts still answers.
 *
 * How: systemd's socket-activation protocol (sd_listen_fds(3)): sockets at fd 3… with LISTEN_FDS,
 * LISTEN_PID and LISTEN_FDNAMES (`dhcp-<interface>`). Either systemd makes them (.socket units with
 * BindToDevice=), or the relay makes them itself: it re-executes itself (same PID, so a supervisor
 * sees one process) through `perl`, whose core Socket module can set the option — perl-base is
 * Essential in Debian, so it is on every box the relay's package installs on. Since Linux 5.7 binding
 * an unbound socket to a device needs no capability; port 67 needs CAP_NET_BIND_SERVICE, which the
 * unit's ambient capabilities carry across both exec calls.
 */
export const FD_NAME_PREFIX = 'dhcp-';
const SO_BINDTODEVICE = 25; // asm-generic/socket.h (x86-64, arm64)
const FIRST_FD = 3;

/** Sockets handed over by the activation protocol: interface → fd. Clears the variables (children must not see them). */
export function takeActivatedSockets(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Map<string, number> {
  const out = new Map<string, number>();
  const n = Number(env.LISTEN_FDS);
  const forUs = env.LISTEN_PID !== undefined && Number(env.LISTEN_PID) === pid;
  const names = (env.LISTEN_FDNAMES ?? '').split(':');
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (!forUs || !Number.isInteger(n) || n <= 0) return out;
  for (let i = 0; i < n; i++) {
    const name = names[i] ?? '';
    if (name.startsWith(FD_NAME_PREFIX)) out.set(name.slice(FD_NAME_PREFIX.length), FIRST_FD + i);
  }
  return out;
}

/**
 * The perl program: makes one UDP socket per interface (SO_REUSEADDR so the relay's own 0.0.0.0 and
 * address-bound sockets can share the port, SO_BROADCAST, the receive buffer, SO_BINDTODEVICE),
 * binds 0.0.0.0:<port>, moves them to fd 3…, sets the activation variables, and execs the relay.
 * Any failure exits 78 (EX_CONFIG) with the interface and the system's reason.
 */
const PERL = String.raw`
use strict; use warnings; use Socket qw(PF_INET SOCK_DGRAM SOL_SOCKET SO_REUSEADDR SO_BROADCAST SO_RCVBUF INADDR_ANY pack_sockaddr_in);
use POSIX qw(dup2);
my ($port, $rcvbuf, $n, @rest) = @ARGV; my @ifs = splice(@rest, 0, $n); shift @rest;
$^F = 1023;
my @socks;
for my $if (@ifs) {
  socket(my $s, PF_INET, SOCK_DGRAM, 0) or do { print STDERR "edgeboot-relay: socket for $if: $!\n"; exit 78 };
  setsockopt($s, SOL_SOCKET, SO_REUSEADDR, 1) or do { print STDERR "edgeboot-relay: SO_REUSEADDR: $!\n"; exit 78 };
  setsockopt($s, SOL_SOCKET, SO_BROADCAST, 1) or do { print STDERR "edgeboot-relay: SO_BROADCAST: $!\n"; exit 78 };
  setsockopt($s, SOL_SOCKET, SO_RCVBUF, $rcvbuf + 0);
  setsockopt($s, SOL_SOCKET, ${SO_BINDTODEVICE}, pack('Z*', $if)) or do { print STDERR "edgeboot-relay: cannot bind a socket to interface $if: $!\n"; exit 78 };
  bind($s, pack_sockaddr_in($port, INADDR_ANY)) or do { print STDERR "edgeboot-relay: cannot bind UDP port $port on $if: $!\n"; exit($!{EADDRINUSE} ? 75 : 78) };
  push @socks, $s;
}
my @high = map { POSIX::dup(fileno($_)) } @socks;
close($_) for @socks;
my %target;
for my $i (0 .. $#high) { $target{${FIRST_FD} + $i} = 1; defined(dup2($high[$i], ${FIRST_FD} + $i)) or do { print STDERR "edgeboot-relay: dup2: $!\n"; exit 78 }; }
for my $h (@high) { POSIX::close($h) unless $target{$h}; }
$ENV{LISTEN_FDS} = scalar @ifs; $ENV{LISTEN_PID} = $$; $ENV{LISTEN_FDNAMES} = join(':', map { "${FD_NAME_PREFIX}$_" } @ifs);
exec { $rest[0] } @rest or do { print STDERR "edgeboot-relay: exec $rest[0]: $!\n"; exit 71 };
`;

export function perlPath(): string | null {
  for (const p of ['/usr/bin/perl', '/bin/perl']) if (existsSync(p)) return p;
  return null;
}

/**
 * Replaces this process by perl, which makes the sockets and execs the relay again with them (see
 * above). `argv`: what to run afterwards (the relay's own command line). Never returns.
 */
export function reexecWithDeviceSockets(o: { interfaces: string[]; port: number; recvBufferBytes: number; argv: string[] }): never {
  const perl = perlPath();
  if (!perl) throw new Error('perl is missing (Debian: perl-base)');
  // Fails early, with the reason, rather than after the exec (where only stderr would say it).
  execFileSync(perl, ['-MSocket', '-MPOSIX', '-e', '1'], { stdio: 'ignore', timeout: 5_000 });
  process.execve!(perl, ['perl', '-e', PERL, String(o.port), String(o.recvBufferBytes), String(o.interfaces.length), ...o.interfaces, '--', ...o.argv], process.env);
  throw new Error('process.execve returned');
}

/** The command line that starts this relay again (a single executable carries its own script). */
export async function ownArgv(): Promise<string[]> {
  let sea = false;
  try {
    sea = (await import('node:sea')).isSea();
  } catch {
    // not a single executable
  }
  return sea ? [process.execPath, ...process.argv.slice(2)] : [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}
