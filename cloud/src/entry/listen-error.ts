/**
 * What a local entry (Node, Deno) says when it cannot listen: one line naming the address and what
 * to do, instead of the runtime's unhandled-error stack. 75 is sysexits' EX_TEMPFAIL, as the relay
 * uses for a port in use: trying again later (or elsewhere) may work; a supervisor can tell it apart.
 */
export const EXIT_PORT_IN_USE = 75;
export const EXIT_LISTEN_FAILED = 78;

export interface ListenFailure {
  message: string;
  exitCode: number;
}

/** `port` null: the runtime chose it from a flag this process cannot read (`deno serve --port`). */
export function listenFailure(kind: 'in-use' | 'denied', host: string, port: number | null): ListenFailure {
  const where = port === null ? `the port given to deno serve (--port) on ${host}` : `port ${port} on ${host}`;
  if (kind === 'in-use') {
    return { message: `edgeboot: ${where} is already in use (another edgeboot, or another program): stop it or set PORT to a free port`, exitCode: EXIT_PORT_IN_USE };
  }
  return { message: `edgeboot: not allowed to listen on ${where} (ports below 1024 need privileges): set PORT to a port above 1023`, exitCode: EXIT_LISTEN_FAILED };
}
