import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { finished } from 'node:stream/promises';
import type { EventSink } from '../events.ts';
import type { Logger } from '../log.ts';
import type { CloudClient } from '../sync/cloud-client.ts';
import { proxyCallback } from './callback-proxy.ts';
import type { FileGrants } from './file-grants.ts';
import { simple, type ImageCache } from './image-cache.ts';
import type { MetricsRegistry } from './metrics.ts';
import { normalizeIp } from './nonces.ts';
import type { ContentProvider } from '../tftp/content.ts';
import type { ScriptProxy } from './script-proxy.ts';

/*
 * The relay's LAN HTTP server (node:http, no framework: it serves big files and must stay lean):
 *
 *   GET  /boot?mac&nonce&arch[&choose]     boot script via the relay (http/script-proxy.ts)
 *   GET  /grub/<mac>/<nonce>[/<profile>]   GRUB's configuration under shim (script-proxy.ts, secure-boot/chain.ts)
 *   GET  /grub/report/<grant>/<what>       GRUB gave up: a `loader-failed` stage
 *   GET  /files/<imageId>/<grant>          image cache (http/image-cache.ts), HEAD and Range too
 *   GET  /ipxe/<file>                      iPXE binaries for UEFI HTTP-boot firmware (dhcp/boot-target.ts)
 *   POST /v1/callback/*                    installers' callbacks and the imager's job, passed to the cloud
 *   GET  /v1/callback/files/<token>/<name> installers' answer files, from the cloud
 *   GET  /healthz                          sync age, queue depth, cloud reachability (JSON)
 *   GET  /metrics                          Prometheus text format
 */

export interface Health {
  ok: boolean;
  [k: string]: unknown;
}

export interface HttpServerDeps {
  scripts: ScriptProxy;
  cache: ImageCache;
  grants: FileGrants;
  client: CloudClient;
  events: EventSink;
  metrics: MetricsRegistry;
  log: Logger;
  health: () => Health;
  /** The boot binaries (tftp/content.ts bootFileContent: the same files and name policy as TFTP). */
  bootFiles: ContentProvider;
  /** http://<relay LAN address>[:port]: the base grants for the image cache are minted with. */
  baseUrl: string;
}

/** iPXE binaries are ~1 MB; anything much larger in that folder is not one. */
const MAX_BOOT_FILE = 64 * 1024 * 1024;

const FILE_PATH = /^\/files\/(img_[0-9a-z]{26})\/([^/]{1,128})$/;

/** The relay's HTTP server, and a way to drop what a rebooted client left behind. */
export type RelayHttpServer = Server & {
  /**
   * Resets (RST, no TIME_WAIT) every connection from this address. Called when a client's GRUB starts:
   * its earlier connections belong to a boot that is over, and GRUB opens its new ones from the same
   * port with the same initial sequence number, which a lingering connection would answer with a
   * stale ACK (GRUB then never connects: seen under OVMF when a machine rebooted within a minute).
   */
  resetClient(address: string): number;
};

export function createHttpServer(d: HttpServerDeps): RelayHttpServer {
  const requests = d.metrics.counter('edgeboot_relay_http_requests_total', 'LAN HTTP requests by route and status class');
  const fileRequests = d.metrics.counter('edgeboot_relay_file_requests_total', 'image requests by outcome');

  async function route(req: IncomingMessage, res: ServerResponse): Promise<string> {
    const url = new URL(req.url ?? '/', 'http://relay');
    if (req.headers['user-agent']?.startsWith('GRUB')) forGrub(res);
    const path = url.pathname;
    const read = req.method === 'GET' || req.method === 'HEAD';
    if (path === '/boot' && read) {
      await d.scripts.handle(req, res, url);
      return 'boot';
    }
    if (path.startsWith('/grub/report/') && read) {
      d.scripts.report(req, res, path);
      return 'grub-report';
    }
    if (path.startsWith('/grub/') && read) {
      await d.scripts.handleGrub(req, res, path);
      return 'grub';
    }
    const file = FILE_PATH.exec(path);
    if (file && read) {
      const [, imageId, grant] = file as unknown as [string, string, string];
      const mac = d.grants.verify(imageId, req.socket.remoteAddress ?? '', grant);
      if (mac === null) {
        fileRequests.inc({ outcome: 'denied' });
        d.log.once('grant-denied', 'refused an image request without a valid grant for this client', { imageId, ip: normalizeIp(req.socket.remoteAddress ?? '') });
        simple(res, 403, 'this file URL is not valid for this client\n');
        return 'files';
      }
      const started = Date.now();
      if (req.method === 'GET' && !req.headers.range) d.events.emit({ mac, stage: 'file-fetched', detail: { imageId } });
      const outcome = await d.cache.serve(req, res, imageId);
      fileRequests.inc({ outcome });
      if (req.method === 'GET' && !req.headers.range) {
        // serve() may return once the last bytes are handed to the socket (a hot object is written in
        // one go): the download is complete only when the response has finished, not before.
        await finished(res).catch(() => {});
        const complete = res.writableFinished && res.statusCode < 300;
        d.events.emit({ mac, stage: complete ? 'file-done' : 'file-error', durationMs: Date.now() - started, detail: { imageId, cache: outcome } });
      }
      return 'files';
    }
    if (path.startsWith('/ipxe/') && read) {
      serveBootFile(d.bootFiles, path.slice('/ipxe/'.length), req, res);
      return 'ipxe';
    }
    if (path.startsWith('/v1/callback/')) {
      await proxyCallback(d, req, res, url);
      return 'callback';
    }
    if (path === '/healthz' && read) {
      const h = d.health();
      const body = `${JSON.stringify(h)}\n`;
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' }).end(body);
      return 'healthz';
    }
    if (path === '/metrics' && read) {
      const body = d.metrics.render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
      return 'metrics';
    }
    simple(res, 404, 'not found\n');
    return 'other';
  }

  const server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 20_000 }, (req, res) => {
    route(req, res)
      .then((name) => requests.inc({ route: name, status: `${Math.floor(res.statusCode / 100)}xx` }))
      .catch((err: unknown) => {
        d.log.once('http-error', 'HTTP handler failed', { err, url: req.url });
        requests.inc({ route: 'error', status: '5xx' });
        if (!res.headersSent) simple(res, 500, 'internal error\n');
        else res.destroy();
      });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  const byAddress = new Map<string, Set<Socket>>();
  server.on('connection', (socket: Socket) => {
    const ip = normalizeIp(socket.remoteAddress ?? '');
    let set = byAddress.get(ip);
    if (!set) byAddress.set(ip, (set = new Set()));
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0 && byAddress.get(ip) === set) byAddress.delete(ip);
    });
  });
  return Object.assign(server, {
    resetClient(address: string): number {
      const set = byAddress.get(normalizeIp(address));
      if (!set) return 0;
      for (const socket of set) socket.resetAndDestroy();
      return set.size;
    },
  });
}

/**
 * GRUB's HTTP client (Debian's GRUB 2.12, User-Agent "GRUB 2.12") matches response headers by exact
 * spelling ("Content-Length: "): Node sends the names as written here, in lower case, so GRUB saw no
 * length, read until the connection closed, stalled ~30 s on a kept-alive one, then asked again with
 * a Range (measured under OVMF). Its responses get canonical header names.
 *
 * The connection stays open for GRUB to close (it does when it closes the file). GRUB starts its TCP
 * connections from the same port with the same initial sequence number on every boot: had the relay
 * closed first, its TIME_WAIT would answer the next boot's SYN (within 60 s: a machine that reboots
 * after imaging, or retries) with a stale ACK, and GRUB would never connect (seen under OVMF).
 */
function forGrub(res: ServerResponse): void {
  const canon = (name: string) => name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => `${dash}${c.toUpperCase()}`);
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  res.writeHead = ((...args: unknown[]) => {
    for (const name of res.getHeaderNames()) {
      const value = res.getHeader(name)!;
      res.removeHeader(name);
      res.setHeader(canon(name), value);
    }
    const last = args.at(-1);
    if (args.length > 1 && last && typeof last === 'object' && !Array.isArray(last)) args[args.length - 1] = Object.fromEntries(Object.entries(last).map(([k, v]) => [canon(k), v]));
    return writeHead(...args);
  }) as ServerResponse['writeHead'];
}

/** UEFI HTTP boot fetches its iPXE binary with a plain GET; the name policy is TFTP's (tftp/content.ts). */
function serveBootFile(provider: ContentProvider, name: string, req: IncomingMessage, res: ServerResponse): void {
  const opened = provider.open(decodeURIComponentSafe(name));
  if (!opened.ok) return simple(res, 404, 'no such boot file\n');
  const { content } = opened;
  try {
    if (content.size > MAX_BOOT_FILE) return simple(res, 404, 'no such boot file\n');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': content.size, 'cache-control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : content.read(0, content.size));
  } finally {
    content.close();
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
