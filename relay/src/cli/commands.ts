/**
 * The `edgeboot-relay` command line: usage, the two commands, and the one place where an error
 * becomes a sentence and an exit status (exit-codes.ts) instead of a stack trace.
 *
 *   edgeboot-relay enroll --cloud URL --code CODE [--state-dir DIR] [--name NAME] [--force]
 *   edgeboot-relay run [--config FILE] [flags]
 *   edgeboot-relay version | --version | help | --help
 */
import { accessSync, constants, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Enrolled } from '../../../shared/schemas/access.ts';
import { ConfigError, DEFAULT_BOOT_FILES_DIR, FLAGS, loadConfig } from '../config.ts';
import { EXIT } from '../exit-codes.ts';
import { createLogger } from '../log.ts';
import { defaultLanServices, relayCloudClient, startRelay } from '../main.ts';
import { ownArgv, perlPath, reexecWithDeviceSockets, takeActivatedSockets } from '../lan/device-sockets.ts';
import { LanUnavailableError, resolveLans, type ServedLan } from '../lan/lans.ts';
import { servableBootFiles } from '../dhcp/boot-target.ts';
import { createSocket } from 'node:dgram';
import { createCloudClient, CloudUnreachableError } from '../sync/cloud-client.ts';
import { CREDENTIALS_FILE, loadCredentials, saveCredentials } from '../sync/credentials.ts';
import { ARCH, RELEASE_KEYS, VERSION } from '../version.ts';
import { embeddedBootFiles } from '../update/embedded-boot-files.ts';
import { startUpdater } from '../update/updater.ts';
import { describeCloudFailure, describeHttpRefusal } from './cloud-failure.ts';
import { portInUseMessage, type Protocol } from './port-owner.ts';

export const DEFAULT_STATE_DIR = '/var/lib/edgeboot-relay';

/** An error whose message is for the technician as is, with the status to exit with. */
export class CliError extends Error {
  readonly status: number;
  constructor(message: string, status: number) {
    super(message);
    this.name = 'CliError';
    this.status = status;
  }
}

const USAGE = {
  main: `edgeboot-relay ${VERSION} — the edgeboot site relay (proxyDHCP/DHCP, TFTP, boot scripts, image cache)

usage:
  edgeboot-relay enroll --cloud URL --code CODE [--state-dir DIR] [--name NAME] [--force]
  edgeboot-relay run [--config /etc/edgeboot/relay.toml] [flags]
  edgeboot-relay version

"edgeboot-relay COMMAND --help" describes a command.`,
  enroll: `usage: edgeboot-relay enroll --cloud URL --code CODE [--state-dir DIR] [--name NAME] [--force]

Trades a one-time enrollment code (console site page, or \`edgeboot relays enroll-code SITE\`)
for this relay's credentials, written to DIR/${CREDENTIALS_FILE} (mode 0600).

  --cloud URL       the control plane, e.g. https://edgeboot.example.com
  --code CODE       the one-time code, e.g. ABCD-EFGH-…
  --state-dir DIR   default ${DEFAULT_STATE_DIR}; must be writable by the user running this
                    (the packaged install runs it as edgeboot-relay)
  --name NAME       how the console names this relay (default: the host name)
  --force           enroll again although DIR already holds credentials

The directory is checked before the code is sent: a code is never spent on a box that cannot
keep the credentials. Exit status: 0 enrolled, 64 usage, 69 cloud unreachable or refused (the
message says whether the code was used), 75 state directory not writable, 78 already enrolled.`,
  run: `usage: edgeboot-relay run [--config FILE] [flags]

Runs the relay until SIGTERM. FILE is TOML (keys: relay/README.md); flags override it:
${Object.keys(FLAGS)
  .map((f) => `  --${f}`)
  .join('\n')}

Exit status: 0 stopped by a signal; 3 restart requested (an update was installed or rolled back);
64 usage; 75 a port is held by another process; 78 invalid configuration, not enrolled, or a
privileged port without CAP_NET_BIND_SERVICE (not retried by systemd); 1 anything else.`,
};

/** Runs one command; returns the exit status, or null when the process keeps running (run). */
export async function runCli(argv: string[]): Promise<number | null> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        console.log(USAGE.main);
        return command === undefined ? EXIT.usage : EXIT.ok;
      case 'version':
      case '--version':
      case '-v':
        console.log(`${VERSION} linux-${ARCH}`);
        return EXIT.ok;
      case 'enroll':
        if (wantsHelp(rest)) return help('enroll');
        await enroll(rest);
        return EXIT.ok;
      case 'run':
        if (wantsHelp(rest)) return help('run');
        await run(rest);
        return null;
      default:
        throw new CliError(`unknown command ${JSON.stringify(command)}\n\n${USAGE.main}`, EXIT.usage);
    }
  } catch (err) {
    const e = toCliError(err);
    console.error(`edgeboot-relay: ${e.message}`);
    if (e.status === EXIT.crash && err instanceof Error && err.stack) console.error(err.stack);
    const wait = failedStartDelayMs(command, e.status, process.env.EDGEBOOT_RELAY_LAUNCHER === '1');
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    return e.status;
  }
}

/** How long a failed start waits before it exits (failedStartDelayMs). */
export const FAILED_START_DELAY_MS = 1000;

/**
 * systemd restarts the relay 100 ms after it exits (`RestartSec=100ms` in edgeboot-relay.service),
 * so that the planned restart into an update (EXIT.restart) leaves PXE clients unanswered for as
 * short a time as possible. A `run` under the launcher that fails to start (a port still held by
 * dnsmasq, the state dir not writable yet) waits here instead, so such retries stay a second
 * apart and StartLimitBurst= still gives the operator about half a minute of them. Commands typed
 * by a person (enroll, version) and runs outside the launcher never wait.
 */
export function failedStartDelayMs(command: string | undefined, status: number, underLauncher: boolean): number {
  if (command !== 'run' || !underLauncher) return 0;
  return status === EXIT.ok || status === EXIT.restart ? 0 : FAILED_START_DELAY_MS;
}

function wantsHelp(argv: string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

function help(which: 'enroll' | 'run'): number {
  console.log(USAGE[which]);
  return EXIT.ok;
}

/** The message and status for anything a command threw. */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ConfigError || (err instanceof Error && err.name === 'ZodError')) return new CliError(err.message, EXIT.config);
  // An interface not there yet (a VLAN networkd has not made, a NIC not plugged in): the supervisor tries again.
  if (err instanceof LanUnavailableError) return new CliError(err.message, EXIT.tempfail);
  const e = err as NodeJS.ErrnoException & { port?: number; address?: string };
  // node:util parseArgs: an unknown flag or a flag without its value.
  if (typeof e?.code === 'string' && e.code.startsWith('ERR_PARSE_ARGS')) return new CliError(`${e.message} (see --help)`, EXIT.usage);
  if (e?.code === 'EADDRINUSE' && typeof e.port === 'number') {
    return new CliError(portInUseMessage(protocolOf(e), e.port, e.address), EXIT.tempfail);
  }
  if (e?.code === 'EACCES' && typeof e.port === 'number' && (e.syscall === 'bind' || e.syscall === 'listen')) {
    return new CliError(
      `binding ${protocolOf(e).toUpperCase()} ${e.port} needs CAP_NET_BIND_SERVICE: run the relay through edgeboot-relay.service (it grants exactly that), or use a port above 1023`,
      EXIT.config,
    );
  }
  if (e?.code === 'EAFNOSUPPORT' || /error 97/.test(String(e?.message))) {
    return new CliError(`${e.message}: a sandbox forbids an address family the relay needs (AF_NETLINK lists network interfaces; allow AF_INET AF_INET6 AF_UNIX AF_NETLINK)`, EXIT.config);
  }
  return new CliError(err instanceof Error ? err.message : String(err), EXIT.crash);
}

/** dgram sockets fail in bind(), TCP servers in listen(). */
function protocolOf(e: NodeJS.ErrnoException): Protocol {
  return e.syscall === 'listen' ? 'tcp' : 'udp';
}

/**
 * Fails before the code is spent when the credentials could not be kept: the directory must exist
 * (or be creatable) and take a file from this user.
 */
export function assertWritableStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
    const probe = join(dir, `.enroll-probe-${process.pid}`);
    writeFileSync(probe, '', { mode: 0o600 });
    rmSync(probe);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const uid = process.getuid?.();
    throw new CliError(
      `cannot write the state directory ${dir} (${code}) as uid ${uid}; the enrollment code was NOT used. ` +
        'Run enroll as the user the relay runs as, once the directory exists (the package creates it: `sudo -u edgeboot-relay edgeboot-relay enroll …`), or pass --state-dir',
      EXIT.tempfail,
    );
  }
}

async function enroll(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { cloud: { type: 'string' }, code: { type: 'string' }, 'state-dir': { type: 'string' }, name: { type: 'string' }, force: { type: 'boolean' } },
  });
  if (!values.cloud || !values.code) throw new CliError(`enroll needs --cloud and --code\n\n${USAGE.enroll}`, EXIT.usage);
  let cloud: URL;
  try {
    cloud = new URL(values.cloud);
    if (cloud.protocol !== 'https:' && cloud.protocol !== 'http:') throw new Error('not http(s)');
  } catch {
    throw new CliError(`--cloud must be an http(s) URL, not ${JSON.stringify(values.cloud)}`, EXIT.usage);
  }
  const stateDir = values['state-dir'] ?? DEFAULT_STATE_DIR;
  assertWritableStateDir(stateDir);
  if (!values.force && loadCredentials(stateDir)) throw new CliError(`${stateDir} already holds credentials; use --force to enroll again`, EXIT.config);

  const url = cloud.href.replace(/\/$/, '');
  const client = createCloudClient({ baseUrl: url, token: null, userAgent: `edgeboot-relay/${VERSION}` });
  try {
    let r: { status: number; body: unknown };
    try {
      // Not retried: a POST whose answer was lost may have spent the code (the message then says so).
      r = await client.json({ method: 'POST', path: '/v1/relays/enroll', json: { code: values.code, name: values.name ?? hostname().slice(0, 64), version: VERSION }, retry: false });
    } catch (err) {
      const cause = err instanceof CloudUnreachableError ? (err.cause ?? err) : err;
      throw new CliError(`${describeCloudFailure(`${url}/v1/relays/enroll`, cause)}. The enrollment code was not used: run the same command again.`, EXIT.unavailable);
    }
    if (r.status !== 201) {
      const used = r.status === 410 ? ' The code cannot be used again: create a new one (console site page, or `edgeboot relays enroll-code SITE`).' : r.status >= 500 ? ' The code was not used: try again.' : '';
      throw new CliError(`enrollment refused: ${describeHttpRefusal(`${url}/v1/relays/enroll`, r.status, r.body)}.${used}`, r.status >= 500 ? EXIT.unavailable : EXIT.config);
    }
    const e = Enrolled.parse(r.body);
    try {
      saveCredentials(stateDir, { cloudUrl: url, relayId: e.relay.id, siteId: e.relay.siteId, token: e.token, bootKey: e.bootKey, bootKeyId: e.bootKeyId, enrolledAt: new Date().toISOString() });
    } catch (err) {
      throw new CliError(
        `enrolled as relay ${e.relay.id} but could not save its credentials in ${stateDir} (${(err as Error).message}); ` +
          `the cloud shows it as "never seen": revoke it (\`edgeboot relays revoke ${e.relay.id}\`) and enroll with a new code`,
        EXIT.tempfail,
      );
    }
    console.log(`enrolled relay ${e.relay.id} for site ${e.relay.siteId}; credentials in ${join(stateDir, CREDENTIALS_FILE)}`);
  } finally {
    await client.close();
  }
}

async function run(argv: string[]): Promise<void> {
  const flagOptions = Object.fromEntries(Object.keys(FLAGS).map((f) => [f, { type: 'string' as const }]));
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string' }, ...flagOptions } });
  const { config: file, ...overrides } = values as Record<string, string | undefined>;
  const config = loadConfig(file ?? null, overrides);
  const creds = loadCredentials(config.state_dir);
  if (!creds) throw new CliError(`no credentials in ${config.state_dir}: run \`edgeboot-relay enroll --cloud URL --code CODE --state-dir ${config.state_dir}\` first`, EXIT.config);
  const log = createLogger({ component: 'relay', quiet: config.log.quiet });
  // A packaged executable carries its iPXE binaries inside; they are served from a copy in the state dir.
  if (config.boot_files === DEFAULT_BOOT_FILES_DIR) {
    const embedded = embeddedBootFiles(config.state_dir);
    if (embedded) config.boot_files = embedded;
  }
  // Every LAN found on this box, and every boot file DHCP would offer found in boot_files, before
  // anything starts: either missing is a configuration error.
  const lans = resolveLans(config);
  const boot = servableBootFiles(config.dhcp.binaries, (name) => existsSync(join(config.boot_files, name)));
  // A folder missing altogether is said by startRelay (with how to build the relay's own binaries).
  if (boot.problems.length && existsSync(config.boot_files)) throw new CliError(`the relay cannot offer its boot files:\n${boot.problems.map((p) => `  ${p}`).join('\n')}`, EXIT.config);
  const deviceFds = await deviceSockets(config, lans, log);
  let restart: (why: string) => void = () => undefined;
  const relay = await startRelay(config, creds, { log, lans, lanServices: defaultLanServices({ lans, deviceFds, restart: (why) => restart(why) }) });
  log.info('relay running', { version: VERSION, http: relay.httpUrl, publicUrl: config.http.public_url, relayId: creds.relayId, siteId: creds.siteId });
  const updaterClient = relayCloudClient(config, creds, { connections: 2 });
  const updater = startUpdater({
    stateDir: config.state_dir,
    client: updaterClient,
    version: VERSION,
    arch: ARCH,
    keys: RELEASE_KEYS,
    healthy: () => relay.context.snapshot.confirmedAt !== null,
    log: log.child('update'),
  });
  const stop = (signal: string, status: number = EXIT.ok) => {
    log.info('stopping', { signal });
    const force = setTimeout(() => process.exit(EXIT.crash), 10_000);
    force.unref();
    Promise.all([updater.stop().then(() => updaterClient.close()), relay.close()]).then(
      () => process.exit(status),
      (err: unknown) => {
        log.error('unclean stop', { err });
        process.exit(EXIT.crash);
      },
    );
  };
  updater.onRestart((reason) => stop(reason, EXIT.restart));
  // An interface made again needs sockets bound to the new device: the launcher (systemd) starts the
  // relay again at once; run by hand, it replaces itself.
  restart = (why) => {
    if (process.env.EDGEBOOT_RELAY_LAUNCHER) return stop(why, EXIT.restart);
    log.info('stopping', { signal: why });
    void Promise.all([updater.stop().then(() => updaterClient.close()), relay.close()]).then(async () => {
      const argv = await ownArgv();
      process.execve!(argv[0]!, argv, process.env);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

/**
 * Sockets bound to each served interface (lan/device-sockets.ts): handed over by systemd, or made by
 * re-executing through perl (this function then does not return). Without them one LAN is still
 * served on the shared socket (as before); several cannot be told apart, which is an error.
 */
async function deviceSockets(config: ReturnType<typeof loadConfig>, lans: ServedLan[], log: ReturnType<typeof createLogger>): Promise<Map<string, number>> {
  const wanted = lans.filter((l) => l.interface && !l.relayed).map((l) => l.interface!);
  const activated = takeActivatedSockets();
  const missing = wanted.filter((i) => !activated.has(i));
  if (activated.size > 0 || wanted.length === 0) {
    if (missing.length > 1 || (missing.length === 1 && wanted.length > 1)) {
      throw new CliError(`no socket bound to ${missing.join(', ')} was handed over (LISTEN_FDNAMES): serving several LANs needs one per interface`, EXIT.config);
    }
    return activated;
  }
  if (process.platform !== 'linux' || !perlPath()) {
    if (wanted.length > 1) throw new CliError('serving several LANs needs sockets bound to each interface, which the relay makes with perl (Debian: perl-base): install it', EXIT.config);
    log.warn('perl is missing: the DHCP socket hears every interface and broadcast replies follow the routing table', { fix: 'install perl-base' });
    return activated;
  }
  // The usual error (who holds the port) when another DHCP server has it, before this process is replaced.
  await new Promise<void>((resolve, reject) => {
    const probe = createSocket('udp4');
    probe.once('error', reject);
    probe.bind(config.dhcp.port, '0.0.0.0', () => probe.close(() => resolve()));
  });
  reexecWithDeviceSockets({ interfaces: wanted, port: config.dhcp.port, recvBufferBytes: config.dhcp.recv_buffer, argv: await ownArgv() });
}
