/**
 * A small Redfish service standing in for a BMC (no Redfish BMC emulator is packaged in Debian).
 * THE BMC IS A TEST DOUBLE; THE POWER STATE IS REAL: "On" starts a qemu process, "ForceOff" quits it
 * through QMP, "ForceRestart" is QMP `system_reset`, "GracefulShutdown" is QMP `system_powerdown`,
 * and PowerState is whether that qemu runs. It implements only what the relay's driver uses: the
 * service root, the Systems collection, one ComputerSystem (PowerState, Boot, Reset), and sessions
 * (optional: off, the service answers 404 and the client must use HTTP basic).
 */
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface RedfishDouble {
  url: string;
  fingerprint: string;
  /** Every request line received, in order (method and path). */
  requests: string[];
  /** QMP commands sent to the VM. */
  qmpCommands: string[];
  bootOverride: { target: string; enabled: string } | null;
  vmRunning(): boolean;
  vmPid(): number | null;
  close(): Promise<void>;
}

export interface RedfishDoubleOptions {
  dir: string;
  username: string;
  password: string;
  tls?: boolean;
  sessions?: boolean;
  qemuArgs: string[];
}

export function selfSignedCert(dir: string): { key: string; cert: string } {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=bmc.test'], { stdio: 'ignore' });
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}

/** One QMP command on a fresh connection: greeting, capabilities, the command, its answer. */
function qmp(socketPath: string, execute: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = connect(socketPath);
    let buf = '';
    let step = 0;
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(line);
        if (msg.event) continue;
        if (step === 0) s.write('{"execute":"qmp_capabilities"}\n');
        else if (step === 1) s.write(`${JSON.stringify({ execute })}\n`);
        else {
          s.end();
          return msg.error ? reject(new Error(msg.error.desc)) : resolve(msg.return);
        }
        step++;
      }
    });
    s.on('error', reject);
    s.on('close', () => (step === 2 && execute === 'quit' ? resolve(null) : undefined));
  });
}

export async function startRedfishDouble(o: RedfishDoubleOptions): Promise<RedfishDouble> {
  const tls = o.tls ?? true;
  const pem = tls ? selfSignedCert(o.dir) : null;
  const fingerprint = pem ? new X509Certificate(pem.cert).fingerprint256.replaceAll(':', '').toLowerCase() : '';
  const qmpPath = join(o.dir, 'qmp.sock');
  const sessions = new Map<string, true>();
  let vm: ChildProcess | null = null;
  const d: RedfishDouble = {
    url: '',
    fingerprint,
    requests: [],
    qmpCommands: [],
    bootOverride: null,
    vmRunning: () => vm !== null && vm.exitCode === null && vm.signalCode === null,
    vmPid: () => (d.vmRunning() ? vm!.pid! : null),
    close: async () => {
      if (d.vmRunning()) {
        vm!.kill('SIGKILL');
        await new Promise((r) => vm!.once('exit', r));
      }
      await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
    },
  };

  async function send(execute: string): Promise<void> {
    d.qmpCommands.push(execute);
    await qmp(qmpPath, execute);
  }

  async function powerOn(): Promise<void> {
    if (d.vmRunning()) return;
    const boot = d.bootOverride?.target === 'Pxe' ? ['-boot', 'once=n'] : [];
    if (d.bootOverride?.enabled === 'Once') d.bootOverride = null;
    vm = spawn('qemu-system-x86_64', [...o.qemuArgs, ...boot, '-qmp', `unix:${qmpPath},server=on,wait=off`], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try {
        await qmp(qmpPath, 'query-status');
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    throw new Error('qemu did not open its QMP socket');
  }

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const err = (res: ServerResponse, status: number, message: string) => json(res, status, { error: { code: 'Base.1.0.GeneralError', message, '@Message.ExtendedInfo': [{ Message: message }] } });

  function authorised(req: IncomingMessage): boolean {
    const t = req.headers['x-auth-token'];
    if (typeof t === 'string' && sessions.has(t)) return true;
    const b = req.headers.authorization;
    return typeof b === 'string' && b === `Basic ${Buffer.from(`${o.username}:${o.password}`).toString('base64')}`;
  }

  async function handle(req: IncomingMessage, res: ServerResponse, body: string): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    d.requests.push(`${req.method} ${path}`);
    if (path === '/redfish/v1/SessionService/Sessions' && req.method === 'POST') {
      if (!o.sessions) return err(res, 404, 'no session service');
      const c = JSON.parse(body || '{}');
      if (c.UserName !== o.username || c.Password !== o.password) return err(res, 401, 'invalid credentials');
      const token = randomBytes(16).toString('hex');
      sessions.set(token, true);
      return json(res, 201, { Id: token.slice(0, 8) }, { 'x-auth-token': token, location: `/redfish/v1/SessionService/Sessions/${token}` });
    }
    if (path.startsWith('/redfish/v1/SessionService/Sessions/') && req.method === 'DELETE') {
      sessions.delete(path.split('/').pop()!);
      res.writeHead(204).end();
      return;
    }
    if (!authorised(req)) return err(res, 401, 'authentication required');
    if (path === '/redfish/v1/Systems' && req.method === 'GET') return json(res, 200, { Members: [{ '@odata.id': '/redfish/v1/Systems/vm1' }], 'Members@odata.count': 1 });
    if (path === '/redfish/v1/Systems/vm1' && req.method === 'GET') {
      return json(res, 200, { Id: 'vm1', PowerState: d.vmRunning() ? 'On' : 'Off', Boot: { BootSourceOverrideTarget: d.bootOverride?.target ?? 'None', BootSourceOverrideEnabled: d.bootOverride?.enabled ?? 'Disabled' } });
    }
    if (path === '/redfish/v1/Systems/vm1' && req.method === 'PATCH') {
      const b = JSON.parse(body || '{}').Boot;
      if (!b || b.BootSourceOverrideTarget !== 'Pxe' || !['Once', 'Continuous', 'Disabled'].includes(b.BootSourceOverrideEnabled)) return err(res, 400, 'unsupported Boot property');
      d.bootOverride = { target: b.BootSourceOverrideTarget, enabled: b.BootSourceOverrideEnabled };
      res.writeHead(204).end();
      return;
    }
    if (path === '/redfish/v1/Systems/vm1/Actions/ComputerSystem.Reset' && req.method === 'POST') {
      const t = JSON.parse(body || '{}').ResetType;
      if (t === 'On') await powerOn();
      else if (t === 'ForceOff') {
        if (d.vmRunning()) {
          const exited = new Promise((r) => vm!.once('exit', r));
          await send('quit');
          await exited;
        }
      } else if (t === 'ForceRestart') {
        if (!d.vmRunning()) return err(res, 409, 'the system is off');
        await send('system_reset');
      } else if (t === 'GracefulShutdown') {
        if (!d.vmRunning()) return err(res, 409, 'the system is off');
        await send('system_powerdown');
      } else return err(res, 400, `ResetType ${String(t)} is not supported`);
      res.writeHead(204).end();
      return;
    }
    return err(res, 404, `no resource ${path}`);
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      handle(req, res, body).catch((e: Error) => err(res, 500, e.message));
    });
  };
  const server = pem ? createHttpsServer({ key: pem.key, cert: pem.cert }, listener) : createHttpServer(listener);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  d.url = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as { port: number }).port}`;
  return d;
}
