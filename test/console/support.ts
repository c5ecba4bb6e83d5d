/**
 * A browser stand-in for the console over plain fetch: keeps the session cookie, reads the page's
 * CSRF token, sends forms the way a browser does (Origin header, urlencoded or multipart), never
 * follows redirects so tests see them. Fetch only: runs against any target.
 */
import { createSite, createToken, enrollRelay } from '../contract/fixtures.ts';
import { call, randomMac, unique, type ApiTarget } from '../contract/target.ts';

export const COOKIE = '__Host-edgeboot-console';

export interface Page {
  status: number;
  headers: Headers;
  html: string;
  location: string | null;
}

export interface ConsoleClient {
  cookie: string | null;
  csrf: string | null;
  get(path: string, headers?: Record<string, string>): Promise<Page>;
  /** A form post with this session's CSRF token unless `csrf` says otherwise. */
  post(path: string, fields?: Record<string, string | string[]>, opts?: { csrf?: string | null; origin?: string | null; headers?: Record<string, string>; body?: BodyInit }): Promise<Page>;
}

export function consoleClient(baseUrl: string, fetchFn: (path: string, init?: RequestInit) => Promise<Response> = (p, i) => fetch(`${baseUrl}${p}`, i)): ConsoleClient & {
  signIn(token: string): Promise<Page>;
} {
  const origin = new URL(baseUrl).origin;
  const client = {
    cookie: null as string | null,
    csrf: null as string | null,
    async request(path: string, init: Omit<RequestInit, 'headers'> & { headers?: Record<string, string> }): Promise<Page> {
      const headers: Record<string, string> = { accept: 'text/html', ...init.headers };
      if (client.cookie) headers.cookie = `${COOKIE}=${client.cookie}`;
      const res = await fetchFn(path, { ...init, headers, redirect: 'manual' });
      const setCookie = res.headers.get('set-cookie');
      if (setCookie?.startsWith(`${COOKIE}=`)) {
        const value = /^[^=]+=([^;]*)/.exec(setCookie)![1]!;
        client.cookie = value === '' || /Max-Age=0/i.test(setCookie) ? null : value;
      }
      const html = await res.text();
      const csrf = /name="_csrf" value="([^"]+)"/.exec(html)?.[1];
      if (csrf) client.csrf = csrf;
      return { status: res.status, headers: res.headers, html, location: res.headers.get('location') };
    },
    get(path: string, headers: Record<string, string> = {}) {
      return client.request(path, { method: 'GET', headers });
    },
    post(path: string, fields: Record<string, string | string[]> = {}, opts: { csrf?: string | null; origin?: string | null; headers?: Record<string, string>; body?: BodyInit } = {}) {
      const form = new URLSearchParams();
      const csrf = opts.csrf === undefined ? client.csrf : opts.csrf;
      if (csrf !== null && csrf !== undefined) form.set('_csrf', csrf);
      for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) form.append(k, x);
      const o = opts.origin === undefined ? origin : opts.origin;
      const headers: Record<string, string> = { ...(o === null ? {} : { origin: o }), ...opts.headers };
      if (opts.body === undefined) headers['content-type'] ??= 'application/x-www-form-urlencoded';
      return client.request(path, { method: 'POST', headers, body: opts.body ?? form.toString() });
    },
    async signIn(token: string) {
      const r = await client.post('/console/sign-in', { token }, { csrf: null });
      if (r.status === 303) await client.get('/console');
      return r;
    },
  };
  return client;
}

export function ok<T = any>(r: { status: number; text: string; body: T }, status: number, what: string): T {
  if (r.status !== status) throw new Error(`${what} gave ${r.status}, expected ${status}: ${r.text.slice(0, 300)}`);
  return r.body;
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Two sites, each with a relay, a machine with a rendered boot and relay events (a timeline), a
 * linux profile over two images, and tokens of every person role. All through the API.
 */
export async function seedFleet(t: ApiTarget) {
  const [siteA, siteB] = [await createSite(t, unique('site-a')), await createSite(t, unique('site-b'))];
  const kernel = ok(await call(t, 'POST', '/v1/images', { json: { name: unique('vmlinuz'), kind: 'kernel' } }), 201, 'kernel image');
  ok(await call(t, 'PUT', `/v1/images/${kernel.id}/content`, { body: new Uint8Array(4096).fill(7), headers: { 'content-type': 'application/octet-stream' } }), 200, 'kernel bytes');
  const initrd = ok(await call(t, 'POST', '/v1/images', { json: { name: unique('initrd'), kind: 'initrd' } }), 201, 'initrd image');
  ok(await call(t, 'PUT', `/v1/images/${initrd.id}/content`, { body: new Uint8Array(2048).fill(9), headers: { 'content-type': 'application/octet-stream' } }), 200, 'initrd bytes');
  const profile = ok(
    await call(t, 'POST', '/v1/profiles', { json: { name: unique('debian'), spec: { kind: 'linux', kernel: kernel.id, initrds: [initrd.id], cmdline: 'console=ttyS0' } } }),
    201,
    'profile',
  );
  const script = ok(await call(t, 'POST', '/v1/profiles', { json: { name: unique('shell'), spec: { kind: 'ipxe', script: '#!ipxe\necho {{bootId}}\nshell\n' } } }), 201, 'ipxe profile');
  const machine = async (siteId: string, hostname: string) => {
    const relay = await enrollRelay(t, siteId);
    const mac = randomMac();
    const m = ok(await call(t, 'POST', '/v1/machines', { json: { mac, siteId, arch: 'bios', hostname } }), 201, 'machine');
    return { relay, mac, id: m.id as string };
  };
  const a = await machine(siteA, unique('node-a'));
  const b = await machine(siteB, unique('node-b'));
  // A boot of machine A: DHCP and TFTP seen by the relay, the script rendered by the cloud, a file fetched.
  ok(await call(t, 'POST', '/v1/assignments', { json: { profileId: script.id, selector: { machineId: a.id } } }), 201, 'assignment A');
  const t0 = Date.now() - 5_000;
  ok(
    await call(t, 'POST', '/v1/relay/events', {
      token: a.relay.token,
      json: {
        events: [
          { id: `c-${crypto.randomUUID()}`, mac: a.mac, stage: 'dhcp-discover', at: iso(t0) },
          { id: `c-${crypto.randomUUID()}`, mac: a.mac, stage: 'dhcp-offer', at: iso(t0 + 1200) },
          { id: `c-${crypto.randomUUID()}`, mac: a.mac, stage: 'tftp-start', at: iso(t0 + 1500) },
          { id: `c-${crypto.randomUUID()}`, mac: a.mac, stage: 'tftp-done', at: iso(t0 + 2400), durationMs: 900, detail: { file: 'undionly.kpxe' } },
        ],
      },
    }),
    200,
    'relay events',
  );
  const script1 = await call(t, 'GET', `/v1/relay/boot?mac=${encodeURIComponent(a.mac)}&arch=0`, { token: a.relay.token });
  ok(script1, 200, 'boot script');
  const [viewer, operatorA, operatorB, viewerB] = [
    await createToken(t, { role: 'viewer' }),
    await createToken(t, { role: 'operator', siteIds: [siteA] }),
    await createToken(t, { role: 'operator', siteIds: [siteB] }),
    await createToken(t, { role: 'viewer', siteIds: [siteB] }),
  ];
  return { siteA, siteB, kernel, initrd, profile, script, a, b, viewer, operatorA, operatorB, viewerB };
}
export type Fleet = Awaited<ReturnType<typeof seedFleet>>;
