/**
 * What a line radvd prints (with `--logmethod stderr_clean`: the message alone, no level) means for
 * the relay's log (pure). Texts are radvd 2.19's (bookworm), from its sources: radvd.c, interface.c,
 * device-linux.c, process.c, log.c.
 */
export type RadvdLine =
  /** Expected, says nothing an operator can act on. */
  | { kind: 'chatter' }
  | { kind: 'info'; msg: string }
  /** Repeats per packet or per event: log at most once per `key` per interval. */
  | { kind: 'repeating'; key: string; msg: string }
  | { kind: 'error'; msg: string; fix?: string };

const CHATTER = [
  // The relay is not a router: it advertises lifetime 0 whatever forwarding says (radvd-conf.ts).
  /^IPv6 forwarding setting is: \d+, should be 1 or 2$/,
  /^IPv6 forwarding seems to be disabled, but continuing anyway$/,
  /^IPv6 forwarding on interface seems to be disabled, but continuing anyway$/,
  /^Correct IPv6 forwarding /,
  // Shutdown, which the supervisor reports itself.
  /^exiting, \d+ sigterm\(s\) received$/,
  /^sending stop adverts$/,
  /^removing .*\.pid$/,
  /^returning from radvd main$/,
  /^Exiting, privsep_read_loop /,
  // radvd 2.19's log_close() does not know stderr_clean and says so at every exit (log.c).
  /unknown logging method: \d+$/,
];

export function classifyRadvdLine(raw: string): RadvdLine {
  const line = raw.trim();
  if (line === '' || CHATTER.some((re) => re.test(line))) return { kind: 'chatter' };
  if (/^version [\d.]+ started$/.test(line)) return { kind: 'info', msg: `radvd ${line}` };
  if (/^config file, .*, syntax ok$/.test(line)) return { kind: 'chatter' };
  if (/can't create socket\(AF_INET6\): Operation not permitted|open_icmpv6_socket: Operation not permitted/.test(line)) {
    return {
      kind: 'error',
      msg: `radvd may not open its ICMPv6 socket: ${line}`,
      fix: 'radvd needs CAP_NET_RAW: add it to the unit (AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW and the same in CapabilityBoundingSet=), run the relay as root, or set ra = false',
    };
  }
  if (/Insecure file permissions/.test(line)) return { kind: 'error', msg: `radvd refused its configuration file: ${line}` };
  // "unable to lock pid file, …": another radvd holds this relay's pid file (radvd.c, open_and_lock_pid_file).
  if (/pid file/.test(line)) return { kind: 'error', msg: `radvd: ${line}` };
  // "our AdvManagedFlag on eth0 doesn't agree with fe80::1" (process.c, process_ra): another router
  // advertises on this LAN, and its RAs say something else than the relay's.
  const other = /^our (\w+) on (\S+) doesn't agree with (\S+)$/.exec(line);
  if (other) {
    return {
      kind: 'repeating',
      key: `disagree:${other[2]}:${other[3]}`,
      msg: `another router (${other[3]}) sends router advertisements on ${other[2]} whose ${other[1]} differs from the relay's: the site already has IPv6 router advertisements, so set ra = false for this LAN`,
    };
  }
  if (/ not found: No such device$/.test(line)) return { kind: 'repeating', key: 'no-device', msg: `radvd: ${line} (it advertises once the interface appears)` };
  // Anything else, including per-packet complaints (a malformed RS from a client), at most once per
  // interval per message shape: addresses and numbers do not make a line new.
  return { kind: 'repeating', key: line.replace(/[0-9a-f]*:[0-9a-f:.]+|\d+/gi, '#'), msg: `radvd: ${line}` };
}
