import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { api, auditEntries, makeCli, startCloud, type Cli } from './support.ts';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.ts';

const MiB = 1024 * 1024;
/** The API's smallest part: four parts make a file the tests still write and send in a blink. */
const PART = 5 * MiB;
const SIZE = 3 * PART + 1_234_567;

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('edgeboot images upload (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let proxy: TcpProxy;
  let cli: Cli;
  /** The CLI talking to the API through the proxy. */
  let viaProxy: Record<string, string>;

  beforeAll(async () => {
    entry = await startCloud('cli-upload');
    proxy = await startTcpProxy(entry.baseUrl);
    cli = await makeCli(entry);
    viaProxy = { EDGEBOOT_URL: proxy.url };
  });
  afterAll(async () => {
    await proxy?.close();
    await entry?.stop();
    cli?.cleanup();
  });

  const file = (name: string, size: number): { path: string; bytes: Buffer } => {
    const bytes = randomBytes(size);
    const path = join(cli.home, name);
    writeFileSync(path, bytes);
    return { path, bytes };
  };
  const imageNamed = async (name: string) => (await api(entry, 'GET', '/v1/images?limit=500')).body.items.find((i: { name: string }) => i.name === name);
  /** The SHA-256 of the bytes the server serves for an image (compared as hashes: deep equality of 16 MiB arrays is slow). */
  const servedSha256 = async (id: string) => sha256(new Uint8Array(await (await fetch(`${entry.baseUrl}/v1/images/${id}/content`, { headers: { authorization: `Bearer ${entry.adminToken}` } })).arrayBuffer()));
  /** Part numbers the server stored for an image, in the order it stored them (from the audit log). */
  const storedParts = async (imageId: string) =>
    (await auditEntries(entry, `target=${imageId}`))
      .filter((e) => e.result === 'ok' && /\/parts\/\d+$/.test(e.action))
      .map((e) => Number(/\/parts\/(\d+)$/.exec(e.action)![1]))
      .reverse();

  /** Starts an upload through the proxy, which stalls it in part 2 once part 1 is stored, and interrupts the CLI there. */
  const interruptAfterPart1 = async (path: string, signal: NodeJS.Signals) => {
    proxy.reset();
    proxy.stallAfter(PART + PART / 2);
    const run = cli.spawn(['images', 'upload', path, '--part-size', '5'], { env: viaProxy });
    await run.waitForStderr('part 1/4 stored');
    await expect.poll(() => proxy.stalled).toBe(true);
    run.child.kill(signal);
    return run.done;
  };

  it('sends a small file in one request and reports the sha256 the server computed', async () => {
    const f = file('vmlinuz-6.1', 300_000);
    const r = await cli.run(['--json', 'images', 'upload', f.path]);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out.mode).toBe('single');
    expect(out.sha256).toBe(sha256(f.bytes));
    expect(out.image).toMatchObject({ name: 'vmlinuz-6.1', kind: 'kernel', status: 'ready', size: 300_000, sha256: sha256(f.bytes) });
    expect(await servedSha256(out.image.id)).toBe(sha256(f.bytes));
  });

  it('sends a large file in parts, in order, with progress lines when stderr is not a terminal', async () => {
    const f = file('disk.img', SIZE);
    const r = await cli.run(['images', 'upload', f.path, '--part-size', '5']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`uploaded disk\\.img \\(img_\\w+\\): 16\\.2 MiB in [\\d.]+s, sha256 ${sha256(f.bytes)}`));
    for (const n of [1, 2, 3, 4]) expect(r.stderr).toContain(`part ${n}/4 stored`);
    expect(r.stderr).toMatch(/uploading disk\.img: 16\.2 MiB \/ 16\.2 MiB \(100%\), [\d.]+ \w+\/s/);
    const img = await imageNamed('disk.img');
    expect(img).toMatchObject({ kind: 'disk-raw', status: 'ready', size: SIZE, sha256: sha256(f.bytes) });
    expect(await storedParts(img.id)).toEqual([1, 2, 3, 4]);
    expect(await servedSha256(img.id)).toBe(sha256(f.bytes));
    // Nothing is left to resume.
    expect(readdirSync(join(cli.home, 'state/edgeboot/uploads'))).toEqual([]);
  });

  it('retries a part whose connection is cut, and sends only that part again', async () => {
    const f = file('retried.img', SIZE);
    proxy.reset();
    proxy.cutOnceAfter(PART + PART / 2); // in the middle of part 2
    const r = await cli.run(['--json', 'images', 'upload', f.path, '--part-size', '5'], { env: viaProxy });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/part 2\/4 failed \(cannot reach .*\); retry 1\/5 in [\d.]+s/);
    const out = r.json();
    expect(out.retries).toBe(1);
    expect(out.partsSent).toEqual([1, 2, 3, 4]);
    expect(out.image.sha256).toBe(sha256(f.bytes));
    expect(await storedParts(out.image.id)).toEqual([1, 2, 3, 4]);
    // One and a half parts of part 2 went up: the cut half, then the whole part again.
    expect(proxy.upBytes).toBeGreaterThan(SIZE + PART / 2);
    expect(proxy.upBytes).toBeLessThan(SIZE + PART / 2 + 256 * 1024);
    expect(await servedSha256(out.image.id)).toBe(sha256(f.bytes));
  });

  it('resumes an upload whose process was killed mid-part: only the missing parts are sent', async () => {
    const f = file('resumed.img', SIZE);
    proxy.reset();
    proxy.stallAfter(2 * PART + PART / 2); // part 3 hangs halfway
    const first = cli.spawn(['images', 'upload', f.path, '--part-size', '5'], { env: viaProxy });
    await first.waitForStderr('part 2/4 stored');
    await expect.poll(() => proxy.stalled).toBe(true);
    first.child.kill('SIGKILL'); // a crash: no chance to clean up
    const killed = await first.done;
    expect(killed.signal).toBe('SIGKILL');

    // The server has parts 1 and 2; the CLI left the upload id behind.
    const img = await imageNamed('resumed.img');
    expect(img.status).toBe('uploading');
    const saved = readdirSync(join(cli.home, 'state/edgeboot/uploads')).map((n) => JSON.parse(readFileSync(join(cli.home, 'state/edgeboot/uploads', n), 'utf8')));
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ imageId: img.id, size: SIZE, partSize: PART });
    const before = await api(entry, 'GET', `/v1/images/${img.id}/uploads/${saved[0].uploadId}`);
    expect(before.body).toMatchObject({ partsDone: 2, nextPart: 3 });

    proxy.reset();
    const second = await cli.run(['--json', 'images', 'upload', f.path, '--part-size', '5'], { env: viaProxy });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain(`resuming upload ${saved[0].uploadId}: 2 of 4 parts (10.0 MiB) are on the server`);
    const out = second.json();
    expect(out).toMatchObject({ mode: 'multipart', uploadId: saved[0].uploadId, resumedFromPart: 3, partsSent: [3, 4] });
    expect(out.image).toMatchObject({ id: img.id, status: 'ready', size: SIZE, sha256: sha256(f.bytes) });
    // Only parts 3 and 4 crossed the wire this time (plus headers and a few small JSON calls).
    const missing = SIZE - 2 * PART;
    expect(proxy.upBytes).toBeGreaterThanOrEqual(missing);
    expect(proxy.upBytes).toBeLessThan(missing + 64 * 1024);
    expect(await storedParts(img.id)).toEqual([1, 2, 3, 4]);
    expect(await servedSha256(img.id)).toBe(sha256(f.bytes));
    expect(readdirSync(join(cli.home, 'state/edgeboot/uploads'))).toEqual([]);
  });

  it('stops on Ctrl-C (SIGINT) with exit 130 and says how to resume', async () => {
    const f = file('interrupted.img', SIZE);
    const r = await interruptAfterPart1(f.path, 'SIGINT');
    expect(r.code).toBe(130);
    expect(r.stderr).toMatch(/error: interrupted: 1 of 4 parts of upload upl_\w+ are on the server\nhint: run the same command again to resume it\n$/);
    proxy.reset();
    const resumed = await cli.run(['--json', 'images', 'upload', f.path, '--part-size', '5'], { env: viaProxy });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.json()).toMatchObject({ resumedFromPart: 2, partsSent: [2, 3, 4] });
    expect(resumed.json().image.sha256).toBe(sha256(f.bytes));
  });

  it('names the open upload when its state is lost, resumes it with --resume, and aborts with abort-upload', async () => {
    const f = file('orphan.img', SIZE);
    await interruptAfterPart1(f.path, 'SIGKILL');
    proxy.reset();

    // Another machine (no saved state) cannot start a second upload of the image; it is told which one is open.
    const elsewhere = await makeCli(entry);
    try {
      const refused = await elsewhere.run(['images', 'upload', f.path, '--part-size', '5']);
      expect(refused.code).toBe(5);
      const open = /another upload of this image is open \((upl_\w+)\)/.exec(refused.stderr)?.[1];
      expect(open, refused.stderr).toBeDefined();
      expect(refused.stderr).toContain(`hint: if it was started with this same file, resume it: add --resume ${open}`);
      expect(refused.stderr).toMatch(/request id: req_\w+/);

      const aborted = await elsewhere.run(['images', 'abort-upload', 'orphan.img', open!]);
      expect(aborted.code, aborted.stderr).toBe(0);
      expect((await imageNamed('orphan.img')).status).toBe('pending');
      // The first machine's saved upload is gone on the server: it starts over by itself.
      const again = await cli.run(['--json', 'images', 'upload', f.path, '--part-size', '5'], { env: viaProxy });
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).toContain('is gone from the server');
      expect(again.json()).toMatchObject({ resumedFromPart: null, partsSent: [1, 2, 3, 4] });
      expect(again.json().image.sha256).toBe(sha256(f.bytes));
    } finally {
      elsewhere.cleanup();
    }
  });

  it('continues a named upload with --resume from another machine', async () => {
    const f = file('handover.img', SIZE);
    await interruptAfterPart1(f.path, 'SIGKILL');
    proxy.reset();
    const id = JSON.parse(readFileSync(join(cli.home, 'state/edgeboot/uploads', readdirSync(join(cli.home, 'state/edgeboot/uploads'))[0]!), 'utf8')).uploadId;
    const elsewhere = await makeCli(entry);
    try {
      const r = await elsewhere.run(['--json', 'images', 'upload', f.path, '--resume', id]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json()).toMatchObject({ uploadId: id, resumedFromPart: 2, partsSent: [2, 3, 4] });
      expect(r.json().image.sha256).toBe(sha256(f.bytes));
    } finally {
      elsewhere.cleanup();
    }
  });

  it('lets the server refuse bytes that do not have the --sha256 given, and keeps nothing', async () => {
    const f = file('checked.bin', 10_000);
    const wrong = sha256(Buffer.from('something else'));
    const r = await cli.run(['images', 'upload', f.path, '--sha256', wrong]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`the bytes have SHA-256 ${sha256(f.bytes)}, not the expected ${wrong}`);
    expect(r.stderr).toContain('HTTP 422 checksum_mismatch');
    expect((await imageNamed('checked.bin')).status).toBe('pending');
    const ok = await cli.run(['--json', 'images', 'upload', f.path, '--sha256', sha256(f.bytes)]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json().image.status).toBe('ready');
  });

  it('refuses to upload into an image that already has bytes, and bad arguments before sending anything', async () => {
    const f = file('vmlinuz-6.1', 300_000);
    const again = await cli.run(['images', 'upload', f.path]);
    expect(again.code).toBe(5);
    expect(again.stderr).toContain('image vmlinuz-6.1 already has its bytes');
    expect((await cli.run(['images', 'upload', join(cli.home, 'no-such-file')])).code).toBe(2);
    const small = await cli.run(['images', 'upload', f.path, '--name', 'x', '--part-size', '1']);
    expect(small.code).toBe(2);
    expect(small.stderr).toContain('--part-size must be from 5MiB to 5GiB');
    expect((await cli.run(['images', 'upload', f.path, '--name', 'x', '--sha256', 'abc'])).code).toBe(2);
  });

  it('downloads an image and checks its sha256', async () => {
    const img = await imageNamed('disk.img');
    const r = await cli.run(['images', 'download', 'disk.img', '-o', join(cli.home, 'copy.img')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`sha256 ${img.sha256}`);
    expect(sha256(readFileSync(join(cli.home, 'copy.img')))).toBe(img.sha256);
  });
});
