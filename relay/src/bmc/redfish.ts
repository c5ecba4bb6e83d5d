import { Agent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { PowerState } from '../../../shared/schemas/bmc.ts';
import { BmcError, type BmcDriver, type BmcTarget } from './driver.ts';

/**
 * Redfish (DMTF DSP0266): ComputerSystem.Reset (On, ForceOff, ForceRestart, GracefulShutdown),
 * PowerState, and Boot.BootSourceOverrideTarget = Pxe with BootSourceOverrideEnabled = Once.
 *
 * Authentication: a session (POST /redfish/v1/SessionService/Sessions, then X-Auth-Token, deleted at
 * the end), or HTTP basic when the service has no session service. Certificates: with a pinned
 * SHA-256 fingerprint the TLS connection is made and checked *before* any request (and so any
 * credential) is written, and the certificate chain is not otherwise trusted (BMCs mostly have
 * self-signed certificates); without a pin the system's CAs decide. Every request is bounded in
 * time and answer size.
 */
export interface RedfishOptions {
  requestTimeoutMs?: number;
  maxBodyBytes?: number;
}

interface Answer {
  status: number;
  headers: IncomingMessage['headers'];
  json: any;
}

const RESET_TYPE = { on: 'On', off: 'ForceOff', cycle: 'ForceRestart', shutdown: 'GracefulShutdown' } as const;

const normalise = (fp: string) => fp.replaceAll(':', '').toLowerCase();

export function redfishDriver(target: BmcTarget, opts: RedfishOptions = {}): BmcDriver {
  const base = new URL(target.address);
  const timeoutMs = opts.requestTimeoutMs ?? 10_000;
  const maxBody = opts.maxBodyBytes ?? 1 << 20;
  const pin = target.tlsFingerprint ? normalise(target.tlsFingerprint) : null;
  let session: { token: string; location: string | null } | null = null;
  let basic = false;
  let systemPath: string | null = target.systemId ? `/redfish/v1/Systems/${encodeURIComponent(target.systemId)}` : null;

  /** A TLS connection whose leaf certificate matches the pin, before anything is sent on it. */
  function pinnedSocket(): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const s = tlsConnect({ host: base.hostname.replace(/^\[|\]$/g, ''), port: Number(base.port || 443), servername: /^[\d.]+$|:/.test(base.hostname) ? undefined : base.hostname, rejectUnauthorized: false });
      const timer = setTimeout(() => s.destroy(new BmcError('unreachable', `no TLS answer from ${base.host} within ${timeoutMs / 1000} s`)), timeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        const got = normalise(s.getPeerCertificate().fingerprint256 ?? '');
        if (got !== pin) {
          s.destroy();
          reject(new BmcError('tls', `the BMC at ${base.host} presented a certificate with SHA-256 fingerprint ${got || '(none)'}, not the pinned one: nothing was sent`));
          return;
        }
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(err instanceof BmcError ? err : new BmcError('unreachable', `cannot reach the BMC at ${base.host}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      });
    });
  }

  async function call(method: string, path: string, body?: unknown, auth = true): Promise<Answer> {
    const headers: Record<string, string> = { accept: 'application/json', 'odata-version': '4.0' };
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (auth && session) headers['x-auth-token'] = session.token;
    else if (auth && basic) headers.authorization = `Basic ${Buffer.from(`${target.username}:${target.password}`).toString('base64')}`;
    const options: RequestOptions = { method, host: base.hostname.replace(/^\[|\]$/g, ''), port: base.port || (base.protocol === 'https:' ? 443 : 80), path, headers, agent: false };
    const https = base.protocol === 'https:';
    if (https && pin) {
      const socket = await pinnedSocket();
      // The verified connection is this request's only socket (an Agent ignores a request's own createConnection).
      options.agent = new (class extends Agent {
        override createConnection() {
          return socket;
        }
      })();
    }
    return new Promise<Answer>((resolve, reject) => {
      const req = (https && !pin ? httpsRequest : httpRequest)(options, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > maxBody) req.destroy(new BmcError('protocol', `the BMC at ${base.host} sent more than ${maxBody} bytes for ${path}`));
          else chunks.push(c);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: any = null;
          if (text) {
            try {
              json = JSON.parse(text);
            } catch {
              if (res.statusCode! < 300) return reject(new BmcError('protocol', `the BMC at ${base.host} answered ${path} with something that is not JSON`));
            }
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
        });
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new BmcError('timeout', `the BMC at ${base.host} did not answer ${method} ${path} within ${timeoutMs / 1000} s`)));
      req.on('error', (err) => {
        if (err instanceof BmcError) return reject(err);
        const code = (err as NodeJS.ErrnoException).code;
        if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return reject(new BmcError('tls', `the BMC at ${base.host} has a certificate this relay does not trust (${code}): pin it with --tls-fingerprint`));
        reject(new BmcError('unreachable', `cannot reach the BMC at ${base.host}: ${code ?? err.message}`));
      });
      req.end(payload);
    });
  }

  const message = (a: Answer): string => {
    const e = a.json?.error;
    const info = e?.['@Message.ExtendedInfo']?.[0]?.Message ?? e?.message;
    return typeof info === 'string' ? info.slice(0, 160) : `HTTP ${a.status}`;
  };

  async function authed(method: string, path: string, body?: unknown): Promise<Answer> {
    if (!session && !basic) await login();
    const a = await call(method, path, body);
    if (a.status === 401 || a.status === 403) throw new BmcError('auth', `the BMC at ${base.host} refused the user name or password (${message(a)})`);
    return a;
  }

  async function login(): Promise<void> {
    const a = await call('POST', '/redfish/v1/SessionService/Sessions', { UserName: target.username, Password: target.password }, false);
    if (a.status === 201 || a.status === 200) {
      const token = a.headers['x-auth-token'];
      if (typeof token !== 'string' || !token) throw new BmcError('protocol', `the BMC at ${base.host} made a session without an X-Auth-Token`);
      const loc = a.headers.location;
      session = { token, location: typeof loc === 'string' ? new URL(loc, base).pathname : null };
      return;
    }
    if (a.status === 401 || a.status === 403 || a.status === 400) throw new BmcError('auth', `the BMC at ${base.host} refused the user name or password (${message(a)})`);
    // No session service (404, 405, 501): HTTP basic on every request.
    basic = true;
  }

  async function logout(): Promise<void> {
    const s = session;
    session = null;
    basic = false;
    if (s?.location) await call('DELETE', s.location, undefined, false).catch(() => undefined);
  }

  async function system(): Promise<string> {
    if (systemPath) return systemPath;
    const a = await authed('GET', '/redfish/v1/Systems');
    if (a.status !== 200) throw new BmcError('protocol', `the BMC at ${base.host} answered /redfish/v1/Systems with ${a.status}`);
    const members: string[] = (Array.isArray(a.json?.Members) ? a.json.Members : []).map((m: any) => m?.['@odata.id']).filter((x: unknown) => typeof x === 'string');
    if (members.length !== 1) throw new BmcError('refused', `the BMC at ${base.host} manages ${members.length} systems: set the system id (--system-id)`);
    return (systemPath = new URL(members[0]!, base).pathname);
  }

  /** Runs `fn` in one session, logged out afterwards whatever happens. */
  async function inSession<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      await logout();
    }
  }

  async function readState(): Promise<PowerState> {
    const a = await authed('GET', await system());
    if (a.status !== 200) throw new BmcError(a.status === 404 ? 'refused' : 'protocol', `the BMC at ${base.host} answered the system with ${a.status}: ${message(a)}`);
    const s = a.json?.PowerState;
    if (s === 'On' || s === 'PoweringOn') return 'on';
    if (s === 'Off' || s === 'PoweringOff') return 'off';
    throw new BmcError('protocol', `the BMC at ${base.host} reported PowerState ${JSON.stringify(s)?.slice(0, 40)}`);
  }

  async function reset(kind: keyof typeof RESET_TYPE): Promise<void> {
    const a = await authed('POST', `${await system()}/Actions/ComputerSystem.Reset`, { ResetType: RESET_TYPE[kind] });
    if (a.status >= 300) throw new BmcError('refused', `the BMC at ${base.host} refused ${RESET_TYPE[kind]}: ${message(a)}`);
  }

  return {
    powerState: () => inSession(readState),
    power: (action) => inSession(() => reset(action)),
    shutdown: () => inSession(() => reset('shutdown')),
    bootFromNetworkOnce: () =>
      inSession(async () => {
        const a = await authed('PATCH', await system(), { Boot: { BootSourceOverrideTarget: 'Pxe', BootSourceOverrideEnabled: 'Once' } });
        if (a.status >= 300) throw new BmcError('refused', `the BMC at ${base.host} refused the network-boot override: ${message(a)}`);
      }),
  };
}
