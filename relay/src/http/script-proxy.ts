import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { GRUB_FAILURES, type GrubFailure } from '../../../shared/boot/grub-config.ts';
import { decideRange } from '../../../shared/http/range.ts';
import { normalizeMac } from '../../../shared/mac.ts';
import type { EventSink } from '../events.ts';
import type { Logger } from '../log.ts';
import { writeFileAtomic } from '../sync/atomic-file.ts';
import { CloudUnreachableError, header, type CloudClient } from '../sync/cloud-client.ts';
import type { FileGrants } from './file-grants.ts';
import { rewriteFileUrls } from './file-urls.ts';
import { simple, type ImageCache } from './image-cache.ts';
import type { Counter, MetricsRegistry } from './metrics.ts';
import { normalizeIp, type NonceRegistry } from './nonces.ts';

/*
 * GET /boot?mac=<mac>&nonce=<n>&arch=<option 93>[&choose=<profile>] — the via-relay boot script.
 *
 * 1. The nonce must be one the DHCP layer issued for this MAC and this client address (403 otherwise).
 * 2. The relay asks the cloud's GET /v1/relay/boot with its token and fileBase = its own LAN base,
 *    and keeps the script it got per MAC (and menu choice) on disk.
 * 3. When the cloud cannot be reached (WAN cut, 5xx), the last script for that MAC is served.
 * 4. Either way the script is rewritten for this client before it goes out:
 *    - `<base>/v1/files/<img>?sig=…` → `<base>/files/<img>/<grant>` (http/file-grants.ts): the image
 *      cache serves those to this client even after the cloud's signature expired; the signed path
 *      is remembered as the image's upstream source;
 *    - menu items `<base>/v1/relay/boot?…&choose=<p>` → `<base>/boot?mac=…&nonce=<new>&choose=<p>`,
 *      a fresh nonce for the same MAC and address, so choosing from a menu passes the same check.
 *    The cached copy is the cloud's original, so grants and nonces are minted per serving.
 */

export interface ScriptProxyDeps {
  client: CloudClient;
  nonces: NonceRegistry;
  grants: FileGrants;
  cache: ImageCache;
  events: EventSink;
  log: Logger;
  metrics: MetricsRegistry;
  /** http://<relay LAN address>[:port], the fileBase the cloud renders URLs with. */
  baseUrl: string;
  /** With several LANs: the base URL of the LAN whose relay address a request came to (default: baseUrl). */
  baseUrlFor?: (localAddress: string) => string;
  /** Where the last script per MAC is kept. */
  dir: string;
  /** How long to wait for the cloud before falling back to the cached script. */
  timeoutMs?: number;
}

const CHOOSE_URL = /https?:\/\/[^\s/]+\/v1\/relay\/boot\?[^\s]*?[?&]choose=(prf_[0-9a-z]{26})/g;
const ARCH = /^[0-9]{1,5}$/;
const CHOOSE = /^prf_[0-9a-z]{26}$/;
const GRUB_PATH = /^\/grub\/([0-9a-f]{2}(?:-[0-9a-f]{2}){5})\/([A-Za-z0-9_-]{16,64})(?:\/(prf_[0-9a-z]{26}))?$/;
const REPORT_PATH = /^\/grub\/report\/([0-9]{1,12}\.[0-9a-f]{12}\.[A-Za-z0-9_-]{22})\/([a-z-]{1,32})$/;
/** The cloud's placeholders in a GRUB configuration (shared/boot/grub-config.ts, rendered on this relay's base). */
const GRUB_CHOOSE = /(\(http,[^)\s']+\))\/grub\/choose\/(prf_[0-9a-z]{26})/g;
const GRUB_REPORT = /(\(http,[^)\s']+\))\/grub\/report\/([a-z-]{1,32})/g;
/** What a report grant is minted for (FileGrants binds it to the client's address and MAC). */
const REPORT_GRANT = 'grub-report';

interface CachedScript {
  script: string;
  decision: string | null;
  fetchedAt: number;
}

export class ScriptProxy {
  readonly #d: ScriptProxyDeps;
  readonly #requests: Counter;
  /** GRUB configurations by the nonce (and menu choice) they were served for (see #serve). */
  readonly #grubServed = new Map<string, { body: string; headers: Record<string, string> }>();

  constructor(d: ScriptProxyDeps) {
    this.#d = d;
    mkdirSync(d.dir, { recursive: true, mode: 0o700 });
    this.#requests = d.metrics.counter('edgeboot_relay_script_requests_total', 'boot script requests by outcome');
  }

  /** GET /boot?mac&nonce&arch[&choose]: iPXE's script. */
  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const q = url.searchParams;
    const facts: Record<string, string> = {};
    for (const k of ['uuid', 'serial']) {
      const v = q.get(k);
      if (v) facts[k] = v;
    }
    return this.#serve(req, res, { format: 'ipxe', mac: q.get('mac'), nonce: q.get('nonce'), arch: q.get('arch'), choose: q.get('choose'), facts });
  }

  /**
   * GET /grub/<mac>/<nonce>[/<profile>]: GRUB's configuration under shim (secure-boot/chain.ts writes
   * the first URL into the per-client stub; menu entries get the second). Path segments only: GRUB's
   * script language could read `?` and `&` in a URL as syntax. The architecture is UEFI x64 (7): the
   * only one this chain boots.
   */
  async handleGrub(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const m = GRUB_PATH.exec(path);
    if (!m) {
      this.#requests.inc({ outcome: 'bad-request' });
      return refuse(res, 'grub', 400, 'expected /grub/<mac>/<nonce>[/<profile id>]\n');
    }
    return this.#serve(req, res, { format: 'grub', mac: m[1]!, nonce: m[2]!, arch: '7', choose: m[3] ?? null, facts: {} });
  }

  async #serve(req: IncomingMessage, res: ServerResponse, p: { format: 'ipxe' | 'grub'; mac: string | null; nonce: string | null; arch: string | null; choose: string | null; facts: Record<string, string> }): Promise<void> {
    const mac = normalizeMac(p.mac ?? '');
    const ip = normalizeIp(req.socket.remoteAddress ?? '');
    if (mac === null) {
      this.#requests.inc({ outcome: 'bad-request' });
      return refuse(res, p.format, 400, 'mac must be a MAC address\n');
    }
    const { nonce, arch, choose } = p;
    const check = this.#d.nonces.check(nonce, mac, ip);
    if (check !== 'ok') {
      this.#requests.inc({ outcome: 'denied' });
      this.#d.log.once(`nonce-${check}`, 'refused a boot script request', { mac, ip, check });
      return refuse(res, p.format, 403, 'this boot script is only for the client that PXE-booted as this machine\n');
    }
    if ((arch !== null && !ARCH.test(arch)) || (choose !== null && !CHOOSE.test(choose))) {
      this.#requests.inc({ outcome: 'bad-request' });
      return refuse(res, p.format, 400, 'arch must be a DHCP option 93 number and choose a profile id\n');
    }
    const upstream = new URLSearchParams({ mac });
    if (arch !== null) upstream.set('arch', arch);
    for (const [k, v] of Object.entries(p.facts)) upstream.set(k, v);
    const baseUrl = this.#d.baseUrlFor?.(normalizeIp(req.socket.localAddress ?? '')) ?? this.#d.baseUrl;
    upstream.set('fileBase', baseUrl);
    if (choose !== null) upstream.set('choose', choose);
    if (p.format === 'grub') {
      upstream.set('format', 'grub');
      // GRUB's HTTP client seeks by asking again (with a Range) while it reads a configuration: the same
      // bytes for the same nonce, or it would read two different renderings (tokens, grants) as one.
      const again = this.#grubServed.get(`${nonce}/${choose ?? ''}`);
      if (again) return sendText(req, res, again.body, again.headers);
    }

    const cacheFile = join(this.#d.dir, `${mac.replaceAll(':', '')}${p.format === 'grub' ? '.grub' : ''}${choose ? `.${choose}` : ''}.json`);
    let script: CachedScript | null = null;
    let source: 'cloud' | 'cache' = 'cloud';
    // GRUB gives up on an HTTP answer within seconds (and sits at its prompt): when this relay holds the
    // machine's last configuration, the cloud gets one short try before that copy is served.
    const hasCopy = p.format === 'grub' && existsSync(cacheFile);
    try {
      const r = await this.#d.client.request({
        method: 'GET',
        path: `/v1/relay/boot?${upstream}`,
        signal: AbortSignal.timeout(hasCopy ? GRUB_CLOUD_TIMEOUT_MS : (this.#d.timeoutMs ?? 8_000)),
        ...(hasCopy ? { retry: false } : {}),
      });
      const text = await r.body.text();
      if (r.status === 200) {
        script = { script: text, decision: header(r.headers, 'x-edgeboot-decision') ?? null, fetchedAt: Date.now() };
        writeFileAtomic(cacheFile, JSON.stringify(script));
      } else if (r.status < 500) {
        // The cloud decided (no answer for this machine, a bad choice): that is not an outage.
        this.#requests.inc({ outcome: `cloud-${r.status}` });
        return refuse(res, p.format, r.status, `${text.slice(0, 1000)}\n`);
      }
    } catch (err) {
      if (!(err instanceof CloudUnreachableError) && !(err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))) throw err;
    }
    if (!script) {
      script = readCached(cacheFile);
      source = 'cache';
      if (!script) {
        this.#requests.inc({ outcome: 'unavailable' });
        return refuse(res, p.format, 503, 'the cloud is unreachable and this relay has no script for this machine yet\n');
      }
    }
    const body = p.format === 'grub' ? this.#rewriteGrub(script.script, mac, ip, baseUrl) : this.#rewrite(script.script, mac, ip, arch, baseUrl);
    this.#requests.inc({ outcome: source });
    this.#d.events.emit({ mac, stage: 'script-fetched', detail: { source, ...(p.format === 'grub' ? { loader: 'grub' } : {}), ...(script.decision ? { decision: script.decision } : {}) } });
    const headers = { 'x-edgeboot-source': source, ...(script.decision ? { 'x-edgeboot-decision': script.decision } : {}) };
    if (p.format === 'grub') {
      // Kept (not consumed) until the nonce expires, for GRUB's re-reads; the nonce stays bound to this MAC and address.
      while (this.#grubServed.size >= MAX_GRUB_SERVED) this.#grubServed.delete(this.#grubServed.keys().next().value!);
      // By nonce and choice: a menu's entries share one nonce, each its own configuration.
      const key = `${nonce}/${choose ?? ''}`;
      this.#grubServed.set(key, { body, headers });
      setTimeout(() => this.#grubServed.delete(key), GRUB_SERVED_MS).unref();
    } else {
      this.#d.nonces.consume(nonce!);
    }
    sendText(req, res, body, headers);
  }

  /**
   * GET /grub/report/<grant>/<what>: GRUB gave up (the `cat` at the end of its configuration). The
   * grant is the client's (minted per serving, bound to its address and MAC), so a report cannot be
   * forged for another machine; it becomes a `loader-failed` stage on the machine's timeline.
   */
  report(req: IncomingMessage, res: ServerResponse, path: string): void {
    const m = REPORT_PATH.exec(path);
    const what = m?.[2] as GrubFailure | undefined;
    const mac = m && what && GRUB_FAILURES.includes(what) ? this.#d.grants.verify(REPORT_GRANT, req.socket.remoteAddress ?? '', m[1]!) : null;
    if (!mac) {
      this.#requests.inc({ outcome: 'denied' });
      return simple(res, 403, 'not a report of this client\n');
    }
    this.#d.events.emit({ mac, stage: 'loader-failed', detail: { loader: 'grub', reason: what!, ...(what === 'kernel-refused' ? { note: 'GRUB could not load the kernel: under Secure Boot, shim refuses a kernel its key did not sign' } : {}) } });
    this.#requests.inc({ outcome: 'report' });
    simple(res, 200, 'reported\n');
  }

  #rewriteGrub(config: string, mac: string, ip: string, baseUrl: string): string {
    const hex = mac.replaceAll(':', '-');
    let menuNonce: string | null = null;
    return rewriteFileUrls({ ...this.#d, baseUrl }, config, mac, ip)
      .replace(GRUB_CHOOSE, (_m, dev: string, profileId: string) => {
        menuNonce ??= this.#d.nonces.issue(mac, ip);
        return `${dev}/grub/${hex}/${menuNonce}/${profileId}`;
      })
      .replace(GRUB_REPORT, (_m, dev: string, what: string) => `${dev}/grub/report/${this.#d.grants.mint(REPORT_GRANT, ip, mac)}/${what}`);
  }

  #rewrite(script: string, mac: string, ip: string, arch: string | null, base: string): string {
    let menuNonce: string | null = null;
    return rewriteFileUrls({ ...this.#d, baseUrl: base }, script, mac, ip).replace(CHOOSE_URL, (_m, profileId: string) => {
        menuNonce ??= this.#d.nonces.issue(mac, ip);
        const q = new URLSearchParams({ mac: mac.replaceAll(':', '-'), nonce: menuNonce });
        if (arch !== null) q.set('arch', arch);
        q.set('choose', profileId);
        return `${base}/boot?${q}`;
      });
  }
}

/**
 * A refusal in the client's own language. iPXE gets the HTTP status (its script falls back to the
 * local disk). GRUB would read an error page as a configuration (Debian's 2.12 does not stop at a 503)
 * or stop at its prompt: it gets a configuration that says why and leaves to the firmware, which goes
 * on with its next boot option, as an iPXE script's local-disk fallback does.
 */
function refuse(res: ServerResponse, format: 'ipxe' | 'grub', status: number, text: string): void {
  if (format === 'ipxe') return simple(res, status, text);
  // eslint-disable-next-line no-control-regex
  const said = text.trim().replace(/['\u0000-\u001f\u007f]/g, ' ').slice(0, 300);
  const body = `# edgeboot: the relay answered ${status}\necho 'edgeboot: ${said}'\necho 'edgeboot: leaving to the firmware'\nsleep 5\nexit\n`;
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'x-edgeboot-status': String(status) }).end(body);
}

const MAX_GRUB_SERVED = 1024;
/** How long GRUB's configuration waits for the cloud when a copy is at hand (a render takes milliseconds). */
const GRUB_CLOUD_TIMEOUT_MS = 2_000;
const GRUB_SERVED_MS = 120_000;

/** A script or configuration, whole or the one byte range asked (GRUB's HTTP client seeks with Range). */
function sendText(req: IncomingMessage, res: ServerResponse, body: string, extra: Record<string, string>): void {
  const bytes = Buffer.from(body);
  const range = decideRange(req.headers.range, bytes.length);
  const headers = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'accept-ranges': 'bytes', ...extra };
  if (range.kind === 'unsatisfiable') return void res.writeHead(416, { ...headers, 'content-range': range.contentRange }).end();
  if (range.kind === 'partial') {
    return void res.writeHead(206, { ...headers, 'content-range': range.contentRange, 'content-length': range.length }).end(bytes.subarray(range.offset, range.offset + range.length));
  }
  res.writeHead(200, { ...headers, 'content-length': bytes.length }).end(bytes);
}

function readCached(path: string): CachedScript | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CachedScript;
  } catch {
    return null;
  }
}
