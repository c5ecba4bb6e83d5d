import { mkdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
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
  /** Where the last script per MAC is kept. */
  dir: string;
  /** How long to wait for the cloud before falling back to the cached script. */
  timeoutMs?: number;
}

const CHOOSE_URL = /https?:\/\/[^\s/]+\/v1\/relay\/boot\?[^\s]*?[?&]choose=(prf_[0-9a-z]{26})/g;
const ARCH = /^[0-9]{1,5}$/;
const CHOOSE = /^prf_[0-9a-z]{26}$/;

interface CachedScript {
  script: string;
  decision: string | null;
  fetchedAt: number;
}

export class ScriptProxy {
  readonly #d: ScriptProxyDeps;
  readonly #requests: Counter;

  constructor(d: ScriptProxyDeps) {
    this.#d = d;
    mkdirSync(d.dir, { recursive: true, mode: 0o700 });
    this.#requests = d.metrics.counter('edgeboot_relay_script_requests_total', 'boot script requests by outcome');
  }

  async handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const q = url.searchParams;
    const mac = normalizeMac(q.get('mac') ?? '');
    const ip = normalizeIp(req.socket.remoteAddress ?? '');
    if (mac === null) {
      this.#requests.inc({ outcome: 'bad-request' });
      return simple(res, 400, 'mac must be a MAC address\n');
    }
    const nonce = q.get('nonce');
    const check = this.#d.nonces.check(nonce, mac, ip);
    if (check !== 'ok') {
      this.#requests.inc({ outcome: 'denied' });
      this.#d.log.once(`nonce-${check}`, 'refused a boot script request', { mac, ip, check });
      return simple(res, 403, 'this boot script is only for the client that PXE-booted as this machine\n');
    }
    const arch = q.get('arch');
    const choose = q.get('choose');
    if ((arch !== null && !ARCH.test(arch)) || (choose !== null && !CHOOSE.test(choose))) {
      this.#requests.inc({ outcome: 'bad-request' });
      return simple(res, 400, 'arch must be a DHCP option 93 number and choose a profile id\n');
    }
    const upstream = new URLSearchParams({ mac });
    if (arch !== null) upstream.set('arch', arch);
    for (const k of ['uuid', 'serial']) {
      const v = q.get(k);
      if (v) upstream.set(k, v);
    }
    upstream.set('fileBase', this.#d.baseUrl);
    if (choose !== null) upstream.set('choose', choose);

    const cacheFile = join(this.#d.dir, `${mac.replaceAll(':', '')}${choose ? `.${choose}` : ''}.json`);
    let script: CachedScript | null = null;
    let source: 'cloud' | 'cache' = 'cloud';
    try {
      const r = await this.#d.client.request({
        method: 'GET',
        path: `/v1/relay/boot?${upstream}`,
        signal: AbortSignal.timeout(this.#d.timeoutMs ?? 8_000),
      });
      const text = await r.body.text();
      if (r.status === 200) {
        script = { script: text, decision: header(r.headers, 'x-edgeboot-decision') ?? null, fetchedAt: Date.now() };
        writeFileAtomic(cacheFile, JSON.stringify(script));
      } else if (r.status < 500) {
        // The cloud decided (no answer for this machine, a bad choice): that is not an outage.
        this.#requests.inc({ outcome: `cloud-${r.status}` });
        return simple(res, r.status, `${text.slice(0, 1000)}\n`);
      }
    } catch (err) {
      if (!(err instanceof CloudUnreachableError) && !(err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))) throw err;
    }
    if (!script) {
      script = readCached(cacheFile);
      source = 'cache';
      if (!script) {
        this.#requests.inc({ outcome: 'unavailable' });
        return simple(res, 503, 'the cloud is unreachable and this relay has no script for this machine yet\n');
      }
    }
    this.#d.nonces.consume(nonce!);
    const body = this.#rewrite(script.script, mac, ip, arch);
    this.#requests.inc({ outcome: source });
    this.#d.events.emit({ mac, stage: 'script-fetched', detail: { source, ...(script.decision ? { decision: script.decision } : {}) } });
    res
      .writeHead(200, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'cache-control': 'no-store',
        'x-edgeboot-source': source,
        ...(script.decision ? { 'x-edgeboot-decision': script.decision } : {}),
      })
      .end(body);
  }

  #rewrite(script: string, mac: string, ip: string, arch: string | null): string {
    const base = this.#d.baseUrl;
    let menuNonce: string | null = null;
    return rewriteFileUrls(this.#d, script, mac, ip).replace(CHOOSE_URL, (_m, profileId: string) => {
        menuNonce ??= this.#d.nonces.issue(mac, ip);
        const q = new URLSearchParams({ mac: mac.replaceAll(':', '-'), nonce: menuNonce });
        if (arch !== null) q.set('arch', arch);
        q.set('choose', profileId);
        return `${base}/boot?${q}`;
      });
  }
}

function readCached(path: string): CachedScript | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as CachedScript;
  } catch {
    return null;
  }
}
