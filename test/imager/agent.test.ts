import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, requireAgentPeers, runAgent, TOKEN, treeRss, type AgentRun } from './support/agent-harness.ts';

/**
 * The imager's agent, the real busybox script, against a loopback cloud/relay that follows the job
 * contract; the disk is a file, the inventory a fake /sys. What a VM does with it is in
 * test/e2e/imaging.test.ts.
 */
const MiB = 1 << 20;
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const zstd = (b: Uint8Array) => execFileSync('zstd', ['-q', '-c', '-3'], { input: b, maxBuffer: 1 << 30 });
/** An image that compresses (a disk is mostly zeros and repeats) but whose bytes are all checked. */
function diskImage(size: number): Buffer {
  const b = Buffer.alloc(size);
  randomBytes(size / 4).copy(b, 0);
  randomBytes(64 * 1024).copy(b, size / 2);
  b.write('EDGEBOOT-TEST-IMAGE', size - 64);
  return b;
}
const VDA = { name: 'vda', sizeBytes: 16 * MiB, serial: 'QM00001', model: 'QEMU HARDDISK', rotational: true };

let run: AgentRun | undefined;
beforeAll(() => requireAgentPeers());
afterEach(() => {
  cleanup(run);
  run = undefined;
});

const events = (r: AgentRun) => r.callbacks.map((c) => c.event);
const failed = (r: AgentRun) => r.callbacks.find((c) => c.event === 'failed')?.body as { reason: string; logTail: string } | undefined;
const isZero = (b: Buffer) => b.every((x) => x === 0);

describe('edgeboot-imager writes the image the job names', () => {
  for (const format of ['raw', 'raw.gz', 'raw.zst'] as const) {
    it(`writes a ${format} image byte for byte, verifies it read back, reports succeeded and reboots`, async () => {
      const raw = diskImage(6 * MiB);
      const stored = format === 'raw' ? raw : format === 'raw.gz' ? gzipSync(raw) : zstd(raw);
      run = await runAgent({ image: stored, format, disks: [VDA] });
      expect(run.code, run.output).toBe(0);
      expect(run.result).toBe('succeeded');
      expect(run.action).toBe('reboot');
      const disk = run.disk('vda');
      expect(disk.length).toBe(VDA.sizeBytes);
      expect(sha(disk.subarray(0, raw.length))).toBe(sha(raw));
      // Past the image the disk is as it was: nothing padded, nothing truncated.
      expect(disk.subarray(raw.length).every((x) => x === 0xa5)).toBe(true);
      expect(events(run)[0]).toBe('started');
      expect(events(run).at(-1)).toBe('succeeded');
      const msg = run.callbacks.at(-1)!.body.message as string;
      expect(msg).toContain(`wrote ${raw.length} bytes to /dev/vda`);
      expect(msg).toMatch(/MB\/s/);
      expect(msg).toContain('read-back sha256');
      expect(run.callbacks.every((c) => c.authorization === `Bearer ${TOKEN}`)).toBe(true);
    });
  }

  it('sends every whole disk with its facts, and leaves out loop, ram, zram, optical and device-mapper devices', async () => {
    const raw = diskImage(1 * MiB);
    run = await runAgent({ image: raw, format: 'raw', disks: [VDA, { name: 'sda', sizeBytes: 4 * MiB, removable: true }] });
    expect(run.jobRequests).toHaveLength(1);
    expect(run.jobRequests[0]!.authorization).toBe(`Bearer ${TOKEN}`);
    expect(run.jobRequests[0]!.body).toEqual({
      disks: [
        { name: 'sda', path: '/dev/sda', size: 4 * MiB, removable: true },
        { name: 'vda', path: '/dev/vda', size: 16 * MiB, removable: false, serial: 'QM00001', model: 'QEMU HARDDISK', rotational: true },
      ],
    });
  });

  it('with verify=stream and onSuccess=poweroff it skips the read-back and powers off', async () => {
    const raw = diskImage(2 * MiB);
    run = await runAgent({ image: raw, format: 'raw', disks: [VDA], verify: 'stream', onSuccess: 'poweroff' });
    expect(run.code, run.output).toBe(0);
    expect(run.action).toBe('poweroff');
    const msg = run.callbacks.at(-1)!.body.message as string;
    expect(msg).toContain('verified: download sha256;');
    expect(msg).not.toContain('read-back');
  });

  it('reports progress with bytes, percent and rate while the download runs', async () => {
    const raw = diskImage(2 * MiB);
    // 2 MiB at 64 KiB per 100 ms: about 3.2 s, with a report every second.
    run = await runAgent({ image: raw, format: 'raw', disks: [VDA], progressIntervalSeconds: 1, file: { kind: 'throttled', chunk: 64 * 1024, everyMs: 100 } });
    expect(run.code, run.output).toBe(0);
    const progress = run.callbacks.filter((c) => c.event === 'progress').map((c) => c.body);
    const midway = progress.filter((p) => p.bytes > 0 && p.bytes < raw.length);
    expect(midway.length, JSON.stringify(progress)).toBeGreaterThanOrEqual(2);
    for (const p of progress) {
      expect(p.totalBytes).toBe(raw.length);
      expect(p.percent).toBeCloseTo((p.bytes * 100) / raw.length, 0);
      expect(p.rate).toBeGreaterThanOrEqual(0);
    }
    // Bytes grow; the rate is about what the server sends (640 KiB/s), not the total or zero.
    expect(midway.map((p) => p.bytes)).toEqual([...midway.map((p) => p.bytes)].sort((a, b) => a - b));
    expect(midway.some((p) => p.rate > 200 * 1024 && p.rate < 2 * 1024 * 1024), JSON.stringify(midway)).toBe(true);
    expect(progress.at(-1)).toMatchObject({ bytes: raw.length, percent: 100 });
  });

  it('keeps nothing of the image in memory or on tmpfs: a 96 MiB image streams through a few MiB', async () => {
    const raw = randomBytes(96 * MiB);
    let peak = 0;
    run = await runAgent({
      image: raw,
      format: 'raw',
      disks: [{ ...VDA, sizeBytes: 128 * MiB }],
      verify: 'stream',
      file: { kind: 'throttled', chunk: 4 * MiB, everyMs: 20 },
      sample: (pid) => (peak = Math.max(peak, treeRss(pid))),
      timeoutMs: 120_000,
    });
    expect(run.code, run.output).toBe(0);
    expect(sha(run.disk('vda').subarray(0, raw.length))).toBe(sha(raw));
    // busybox processes are ~1 MiB each; the pipes hold 64 KiB; dd's buffer is 4 MiB.
    expect(peak, `peak RSS of the agent's processes ${peak}`).toBeLessThan(32 * MiB);
    const files = readdirSync(run.runDir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile());
    const staged = files.reduce((n, d) => n + statSync(join(d.parentPath, d.name)).size, 0);
    expect(staged).toBeLessThan(1 * MiB);
  });
});

describe('edgeboot-imager on failure', () => {
  it('refuses an image whose sha256 differs, says so, and wipes the head and tail of the disk', async () => {
    const raw = diskImage(4 * MiB);
    run = await runAgent({ image: raw, format: 'raw', disks: [VDA], sha256: sha(Buffer.from('another image')) });
    expect(run.code).toBe(1);
    expect(run.result).toBe('failed');
    expect(run.action).toBe('poweroff');
    expect(events(run)).not.toContain('succeeded');
    const f = failed(run)!;
    expect(f.reason).toMatch(/sha256 mismatch/);
    expect(f.reason).toContain(sha(raw));
    expect(f.logTail).toContain('streaming http://127.0.0.1');
    expect(f.logTail).toContain('wiping the first and last MiB');
    const disk = run.disk('vda');
    expect(isZero(disk.subarray(0, MiB))).toBe(true);
    expect(isZero(disk.subarray(disk.length - MiB))).toBe(true);
    expect(disk.length).toBe(VDA.sizeBytes);
  });

  it('refuses a download cut short, naming the bytes it got', async () => {
    const raw = diskImage(4 * MiB);
    run = await runAgent({ image: raw, format: 'raw', disks: [VDA], file: { kind: 'cut', bytes: 3 * MiB } });
    expect(run.result).toBe('failed');
    const f = failed(run)!;
    expect(f.reason).toMatch(/download (failed|cut|stalled)|short download/);
    expect(f.reason).toContain(`${3 * MiB} of ${raw.length} bytes`);
    expect(isZero(run.disk('vda').subarray(0, MiB))).toBe(true);
  });

  it('reports a corrupt compressed image as a decompression failure', async () => {
    const gz = gzipSync(diskImage(2 * MiB));
    gz[gz.length >> 1] = gz[gz.length >> 1]! ^ 0xff;
    // The stored file is the corrupt one (its own sha256): only decompressing can tell.
    run = await runAgent({ image: gz, format: 'raw.gz', disks: [VDA], onFailure: 'shell' });
    expect(run.result).toBe('failed');
    expect(run.action).toBe('shell');
    expect(failed(run)!.reason).toMatch(/decompressing raw\.gz failed \(gunzip exit [1-9]/);
    expect(isZero(run.disk('vda').subarray(0, MiB))).toBe(true);
  });

  it('posts the cloud\'s refusal of the job (two candidate disks) and leaves the disks alone', async () => {
    const message = 'two non-removable disks (vda, vdb): set targetDisk {path, serial or size} in the profile';
    run = await runAgent({
      image: diskImage(1 * MiB),
      format: 'raw',
      disks: [VDA, { name: 'vdb', sizeBytes: 16 * MiB }],
      job: () => ({ status: 409, body: { error: { code: 'conflict', message, requestId: 'req_1' } } }),
    });
    expect(run.result).toBe('failed');
    expect(run.action).toBe('poweroff');
    const f = failed(run)!;
    expect(f.reason).toContain('HTTP 409 conflict');
    expect(f.reason).toContain(message);
    // Nothing was written, so nothing is wiped.
    expect(run.disk('vda').every((x) => x === 0xa5)).toBe(true);
    expect(run.disk('vdb').every((x) => x === 0xa5)).toBe(true);
    expect(f.logTail).not.toContain('wiping');
  });
});
