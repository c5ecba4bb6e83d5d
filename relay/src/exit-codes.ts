/**
 * The relay's exit statuses: a contract with systemd (`edgeboot-relay.service` names the ones not
 * worth retrying in RestartPreventExitStatus) and with install scripts. Numbers follow sysexits(3)
 * where one fits, so they mean the same to a technician reading `systemctl status`.
 *
 * Only mistakes that a restart cannot fix stop systemd: a wrong command line, an invalid
 * configuration, a box that is not enrolled, a runtime too old. Anything the environment may fix
 * by itself (a port still held, the cloud down, a crash) exits with a status systemd retries.
 */
export const EXIT = {
  /** Stopped on SIGTERM/SIGINT after closing everything. */
  ok: 0,
  /** An unexpected error (a bug, or an OS error not listed here): retried. */
  crash: 1,
  /** A new release was installed or a failed one rolled back: start again at once (update/). */
  restart: 3,
  /** EX_USAGE: unknown command or flag. Not retried. */
  usage: 64,
  /** EX_UNAVAILABLE: the cloud could not be reached or refused (enroll). Worth retrying. */
  unavailable: 69,
  /** EX_TEMPFAIL: a port is held by another process, or the state directory is not writable yet. Retried. */
  tempfail: 75,
  /** EX_CONFIG: invalid relay.toml, no credentials, or a runtime too old. Not retried. */
  config: 78,
} as const;

/** What systemd must not restart (`RestartPreventExitStatus=`). */
export const NOT_RETRIED = [EXIT.usage, EXIT.config] as const;
