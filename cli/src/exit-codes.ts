/**
 * The exit codes scripts can rely on. They are part of the CLI's contract (printed by `--help`,
 * listed in the README): a wrapper can retry on UNAVAILABLE, fix its input on USAGE or REJECTED,
 * and tell "does not exist" from "may not" without parsing messages.
 */
export const EXIT = {
  /** Done. */
  OK: 0,
  /** Anything else: a local file that cannot be read, a checksum the server disagrees with, a bug. */
  ERROR: 1,
  /**
   * `apply --exit-code`: the fleet differs from the file (as `git diff --exit-code`). Nothing is
   * printed on stderr for it, which tells it from ERROR; every API error has its own code below.
   */
  DIFFERS: 1,
  /** Bad arguments or a bad input file, found before the API was asked anything. */
  USAGE: 2,
  /** The API answered 404: no such object, or not visible to this token. */
  NOT_FOUND: 3,
  /** Not logged in, or the API answered 401/403: the token is missing, wrong, expired, or its role may not do this. */
  AUTH: 4,
  /** The API refused the request as it stands (400/409/410/422…): a validation error, a name taken, a conflict. */
  REJECTED: 5,
  /** The API could not be reached, timed out, or answered 5xx: retrying later may help. */
  UNAVAILABLE: 6,
  /** Interrupted (Ctrl-C); an interrupted upload can be resumed by running the same command again. */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    other error (unreadable local file, checksum mismatch, …); for apply --exit-code: the fleet differs from the file
  2    usage: bad arguments or input file (nothing was sent)
  3    not found (404): no such object, or not visible to this token
  4    unauthorized or forbidden (401/403), or not logged in
  5    rejected (400/409/410/422…): validation failed, name taken, conflict
  6    API unreachable, timed out, or 5xx: retrying may help
  130  interrupted (Ctrl-C)`;

/** HTTP status of an API error → exit code. */
export function exitCodeForStatus(status: number): ExitCode {
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 401 || status === 403) return EXIT.AUTH;
  if (status >= 500 || status === 408 || status === 429) return EXIT.UNAVAILABLE;
  if (status >= 400) return EXIT.REJECTED;
  return EXIT.ERROR;
}
