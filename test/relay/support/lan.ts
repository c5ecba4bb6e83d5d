/**
 * The relay as a site runs it, inside a network namespace: the real `edgeboot-relay run` process with
 * its DHCP, TFTP and HTTP servers on a LAN of namespaces, talking to a test cloud in this process.
 *
 *   [client ns] ── LAN bridge ── [relay ns: edgeboot-relay + unix-forward 127.0.0.1:8787] ══unix══ test cloud
 *
 * The cloud (test-cloud.ts) listens on loopback in the test process; a unix socket in a temp dir
 * pipes to it (unix sockets are files, so they cross network namespaces), and `unix-forward.ts` in
 * the relay's namespace turns it back into TCP. Stopping the cloud is a WAN cut: the relay's
 * connections are reset, exactly as when the uplink goes away.
 */
import { createConnection, createServer, type Socket } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { saveCredentials, type Credentials } from '../../../relay/src/sync/credentials.ts';
import { buildRelay } from '../../../scripts/build-relay.ts';
import type { Spawned, Testbed } from '../../support/netns.ts';

const ROOT = resolve(import.meta.dirname, '../../..');
/** The relay as sites run it: the bundle (scripts/build-relay.ts), built once per test process from the current sources. */
let bundle: Promise<string> | undefined;
export const relayMain = () => (bundle ??= buildRelay());
const FORWARD = join(ROOT, 'test/support/unix-forward.ts');
/** Where the relay reaches the cloud inside its namespace. */
export const CLOUD_IN_NS = '127.0.0.1:8787';

export interface CloudBridge {
  close(): void;
  /** The WAN goes down: open connections are reset and new ones refused, until restore(). */
  cut(): void;
  restore(): void;
  /** Bytes the cloud has sent through the bridge so far (counted here, where the relay has no say). */
  bytesFromCloud(): number;
}

/** A unix socket at `path` whose connections are piped to the cloud's TCP port (while it is up). */
export async function cloudBridge(cloud: { url: string }, path: string): Promise<CloudBridge> {
  const { hostname, port } = new URL(cloud.url);
  const open = new Set<Socket>();
  let down = false;
  let fromCloud = 0;
  const server = createServer((lan) => {
    if (down) return void lan.destroy();
    const up = createConnection({ host: hostname, port: Number(port) });
    open.add(lan).add(up);
    const end = () => {
      lan.destroy();
      up.destroy();
      open.delete(lan);
      open.delete(up);
    };
    up.on('error', end).on('close', end);
    lan.on('error', end).on('close', end);
    up.on('data', (c: Buffer) => (fromCloud += c.length));
    lan.pipe(up).pipe(lan);
  });
  await new Promise<void>((r) => server.listen(path, r));
  return {
    close: () => {
      server.close();
      for (const s of open) s.destroy();
    },
    cut: () => {
      down = true;
      // A TCP connection is reset, as a dropped uplink does; the unix side of the bridge cannot be (Node
      // refuses resetAndDestroy on a pipe) and is simply closed.
      for (const s of open) {
        if (s.remoteAddress !== undefined) s.resetAndDestroy();
        else s.destroy();
      }
    },
    restore: () => void (down = false),
    bytesFromCloud: () => fromCloud,
  };
}

/** `unix-forward.ts` in `ns`: TCP 127.0.0.1:8787 there → the cloud bridge's unix socket. */
export async function startForwarder(bed: Testbed, ns: string, unixPath: string): Promise<Spawned> {
  const fwd = bed.spawn(ns, process.execPath, [FORWARD, CLOUD_IN_NS, unixPath]);
  await fwd.waitForLine(/^listening/, 10_000);
  return fwd;
}

export interface RelayInNs {
  process: Spawned;
  stateDir: string;
  configPath: string;
  /** Log lines (JSON) the relay printed so far, parsed. */
  logs(): Array<Record<string, unknown>>;
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

/**
 * Starts `edgeboot-relay run --config <stateDir>/relay.toml` in `ns`. `toml` is the
 * configuration (state_dir and cloud.url are set here); resolves once DHCP, TFTP and the first
 * snapshot are up.
 */
export async function startRelayInNs(bed: Testbed, ns: string, o: { creds: Credentials; stateDir: string; toml: string; waitForSnapshot?: boolean }): Promise<RelayInNs> {
  saveCredentials(o.stateDir, { ...o.creds, cloudUrl: `http://${CLOUD_IN_NS}` });
  const configPath = join(o.stateDir, 'relay.toml');
  writeFileSync(configPath, `state_dir = ${JSON.stringify(o.stateDir)}\n${o.toml}`);
  const p = bed.spawn(ns, process.execPath, [await relayMain(), 'run', '--config', configPath]);
  const parsed = () =>
    p.stdout.flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  const waitForLog = async (msg: string, timeoutMs = 15_000) => JSON.parse(await p.waitForLine((l) => l.includes(`"msg":${JSON.stringify(msg)}`), timeoutMs)) as Record<string, unknown>;
  await Promise.all([waitForLog('dhcp listening'), waitForLog('tftp listening'), ...(o.waitForSnapshot === false ? [] : [waitForLog('snapshot updated')])]).catch((err: unknown) => {
    throw new Error(`the relay did not start: ${(err as Error).message}\nstdout:\n${p.stdout.join('\n')}\nstderr:\n${p.stderr.join('\n')}`);
  });
  return { process: p, stateDir: o.stateDir, configPath, logs: parsed, waitForLog, stop: () => p.kill() };
}

/** The scripted PXE client (test/relay/dhcp/support/pxe-client.ts) run once in `ns`; its JSON lines. */
export async function pxeClient(bed: Testbed, ns: string, spec: Record<string, unknown>, timeoutMs = 30_000): Promise<Array<Record<string, unknown>>> {
  const r = await bed.run(ns, process.execPath, [join(ROOT, 'test/relay/dhcp/support/pxe-client.ts'), JSON.stringify(spec)], { timeoutMs });
  const lines = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  if (r.code !== 0) throw new Error(`pxe-client failed (${r.code}): ${lines.filter((l) => l.event !== 'reply').map((l) => JSON.stringify(l)).join('\n')}\n${r.stderr}`);
  return lines;
}
