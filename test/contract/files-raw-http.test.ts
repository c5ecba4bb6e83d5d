import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { createSite } from './fixtures.ts';
import { call, unique } from './target.ts';

/**
 * Request lines that fetch() would rewrite before sending (dot segments, backslashes, absolute
 * form), written byte for byte to the Node entry over a socket. Dot segments are resolved by the
 * WHATWG URL parser before any app code runs (in @hono/node-server as in workerd and Deno), so
 * `/v1/files/./<id>` *is* `/v1/files/<id>`: a request whose resolved path is exactly the signed one
 * must get exactly the object, and every other one a refusal without a byte of it.
 */
describe('signed file URLs over raw HTTP/1.1 (Node entry)', () => {
  let entry: SpawnedEntry | undefined;
  let id: string;
  let token: string;
  let signedPath: string;
  const MARKER = `RAW-HTTP-OBJECT-${unique('m')}`;

  /** Sends one request as written and returns the whole answer (the server closes: Connection: close). */
  const raw = (requestTarget: string, method = 'GET'): Promise<{ status: number; text: string }> =>
    new Promise((ok, fail) => {
      const { hostname, port } = new URL(entry!.baseUrl);
      const socket = connect({ host: hostname, port: Number(port) });
      const chunks: Buffer[] = [];
      socket.setTimeout(5000, () => socket.destroy(new Error(`no answer to ${requestTarget}`)));
      socket.on('data', (c) => chunks.push(c));
      socket.on('error', fail);
      socket.on('close', () => {
        const text = Buffer.concat(chunks).toString('latin1');
        ok({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text });
      });
      socket.write(`${method} ${requestTarget} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\n\r\n`);
    });

  beforeAll(async () => {
    entry = await spawnEntry({
      name: 'files-raw',
      command: process.execPath,
      args: () => ['cloud/src/entry/node.ts'],
      env: { PORT: '0' },
      listening: /listening on (http:\/\/\S+)/i,
    });
    const site = await createSite(entry, unique('raw'));
    id = (await call(entry, 'POST', '/v1/images', { json: { name: unique('raw-img') } })).body.id;
    const put = await call(entry, 'PUT', `/v1/images/${id}/content`, { body: MARKER, headers: { 'content-type': 'application/octet-stream', 'content-length': String(MARKER.length) } });
    expect(put.status).toBe(200);
    const url = new URL((await call(entry, 'POST', `/v1/images/${id}/signed-url`, { json: { siteId: site } })).body.url);
    signedPath = url.pathname;
    token = url.searchParams.get('sig')!;
  });
  afterAll(async () => {
    await entry?.stop();
  });

  it('serves the signed request line', async () => {
    const r = await raw(`${signedPath}?sig=${token}`);
    expect(r.status).toBe(200);
    expect(r.text.endsWith(MARKER)).toBe(true);
  });

  it('answers every rewritten request line by the path it resolves to: the object only for the signed path', async () => {
    const variants = [
      `/v1/files/./${id}`,
      `/v1/files/../files/${id}`,
      `/v1/./files/${id}`,
      `/v1/files/%2e/${id}`,
      `/v1/files/%2E%2E/files/${id}`,
      `/x/../v1/files/${id}`,
      `//v1/files/${id}`,
      `/v1//files/${id}`,
      `/v1/files//${id}`,
      `/v1/files/${id}/`,
      `/v1/files/${id}/.`,
      `/v1/files/${id}/..`,
      `/v1/files/${id}/../${id}x`,
      `/v1/files/%${id.charCodeAt(0).toString(16)}${id.slice(1)}`,
      `/v1/files/${id.slice(0, -1)}%${id.charCodeAt(id.length - 1).toString(16)}`,
      `/v1/files/${id}%00`,
      `/v1/files/${id}%2F`,
      `/v1/files/${id};`,
      `/V1/files/${id}`,
      `/v1/files/${id.toUpperCase()}`,
    ];
    // The URL standard reads `\` as `/`, but @hono/node-server refuses a backslash in the path (400) first.
    const backslashes = [`/v1/files\\${id}`, `/v1/files/.\\${id}`, `/v1\\files/${id}`];
    let served = 0;
    for (const v of variants) {
      const resolved = new URL(v, 'http://edgeboot.test').pathname;
      for (const method of ['GET', 'HEAD']) {
        const r = await raw(`${v}?sig=${token}`, method);
        if (resolved === signedPath) {
          expect(r.status, `${method} ${v}`).toBe(200);
          if (method === 'GET') expect(r.text.endsWith(MARKER), v).toBe(true);
          served++;
        } else {
          expect([400, 401, 403, 404], `${method} ${v} → ${r.text.slice(0, 300)}`).toContain(r.status);
          expect(r.text, v).not.toContain(MARKER);
        }
      }
    }
    for (const v of backslashes) {
      expect(new URL(v, 'http://edgeboot.test').pathname).toBe(signedPath);
      const r = await raw(`${v}?sig=${token}`);
      expect(r.status, v).toBe(400);
      expect(r.text).not.toContain(MARKER);
    }
    // The variants do exercise both answers.
    expect(served).toBeGreaterThan(0);
    expect(served).toBeLessThan(variants.length * 2);
  });

  it('treats the absolute form of the signed URL as the signed URL, and another host path as not', async () => {
    const { host } = new URL(entry!.baseUrl);
    const ok = await raw(`http://${host}${signedPath}?sig=${token}`);
    expect(ok.status).toBe(200);
    expect(ok.text.endsWith(MARKER)).toBe(true);
    const other = await raw(`http://${host}${signedPath}/?sig=${token}`);
    expect(other.status).toBe(403);
    expect(other.text).not.toContain(MARKER);
  });

  it('refuses other methods on the signed path without a byte of the object', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
      const r = await raw(`${signedPath}?sig=${token}`, method);
      expect(r.status, method).toBe(403);
      expect(r.text).not.toContain(MARKER);
    }
  });
});
