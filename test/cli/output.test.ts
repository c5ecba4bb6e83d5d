import { describe, expect, it } from 'vitest';
import { relayHealth } from '../../cli/src/commands/relays.ts';
import { kindFromName } from '../../cli/src/upload/kind.ts';
import { exitCodeForStatus } from '../../cli/src/exit-codes.ts';
import { cell, formatAgo, formatBytes, formatDuration, formatFields, formatTable, formatTime } from '../../cli/src/output.ts';
import { parseDuration, parseLabel, parseSize } from '../../cli/src/parse.ts';
import { backoffMs, isRetryable } from '../../cli/src/upload/upload.ts';
import { Meter, plainProgress } from '../../cli/src/upload/progress.ts';
import { ApiError, NetworkError } from '../../cli/src/api-client.ts';

describe('formatTable', () => {
  const rows = [
    { name: 'lyon', machines: 12, note: 'main office' },
    { name: 'saint-étienne', machines: 3, note: null },
  ];
  const columns = [
    { header: 'name', value: (r: (typeof rows)[number]) => r.name },
    { header: 'machines', value: (r: (typeof rows)[number]) => r.machines, align: 'right' as const },
    { header: 'note', value: (r: (typeof rows)[number]) => r.note },
  ];

  it('aligns columns under upper-case headers, numbers to the right, no trailing spaces', () => {
    expect(formatTable(rows, columns)).toBe(['NAME           MACHINES  NOTE', 'lyon                 12  main office', 'saint-étienne         3  -'].join('\n'));
  });

  it('prints the empty text when there are no rows', () => {
    expect(formatTable([], columns, '(no sites)')).toBe('(no sites)');
  });

  it('keeps control characters out of cells', () => {
    expect(cell('a\nb\tc\u001b[31m')).toBe('a b c [31m');
    expect(formatTable([{ name: 'x\ny', machines: 1, note: '' }], columns).split('\n')).toHaveLength(2);
  });
});

describe('formatting values', () => {
  it('formats fields aligned after their labels', () => {
    expect(formatFields([['name', 'lyon'], ['default profile', null]])).toBe('name:            lyon\ndefault profile: -');
  });
  it('formats bytes in binary units', () => {
    expect([0, 1023, 1536, 5 * 1024 ** 2, 17_000_000, 3 * 1024 ** 4].map(formatBytes)).toEqual(['0 B', '1023 B', '1.50 KiB', '5.00 MiB', '16.2 MiB', '3.00 TiB']);
  });
  it('formats durations and ages', () => {
    expect([0, 42, 185, 3720, 90_000, -1, Infinity].map(formatDuration)).toEqual(['0s', '42s', '3m05s', '1h02m', '1d01h', '?', '?']);
    const now = Date.parse('2025-03-01T12:00:00Z');
    expect(formatAgo('2025-03-01T11:59:18Z', now)).toBe('42s ago');
    expect(formatAgo('2025-03-01T12:05:00Z', now)).toBe('in 5m00s');
    expect(formatAgo(null, now)).toBe('-');
    expect(formatTime('2025-03-01T11:59:18.123Z')).toBe('2025-03-01 11:59:18Z');
  });
  it('tells relay health from the last heartbeat', () => {
    const now = Date.parse('2025-03-01T12:00:00Z');
    expect(relayHealth({ revokedAt: null, lastSeenAt: '2025-03-01T11:58:00Z' }, now)).toBe('online');
    expect(relayHealth({ revokedAt: null, lastSeenAt: '2025-03-01T11:50:00Z' }, now)).toBe('stale');
    expect(relayHealth({ revokedAt: null, lastSeenAt: null }, now)).toBe('never seen');
    expect(relayHealth({ revokedAt: '2025-03-01T11:00:00Z', lastSeenAt: '2025-03-01T11:59:00Z' }, now)).toBe('revoked');
  });
  it('guesses an image kind from a file name', () => {
    expect(['vmlinuz-6.1', 'initrd.img-6.1', 'ubuntu.iso', 'disk.qcow2', 'disk.img', 'disk.raw.zst', 'disk.img.gz', 'boot.wim', 'ipxe.efi', 'shimx64.efi.signed', 'grubnetx64.efi.signed', 'notes.txt'].map(kindFromName)).toEqual([
      'kernel', 'initrd', 'iso', 'disk-qcow2', 'disk-raw', 'disk-zst', 'disk-gz', 'wim', 'efi', 'efi', 'efi', 'file',
    ]);
    // The README's own names: the kind word anywhere in the name, not only at its start.
    expect(['ubuntu-24.04-vmlinuz', 'ubuntu-24.04-initrd', 'deb12-initrd.gz', 'debian-initrd.img', 'linux', 'arch-linux-notes.txt', 'kernelspace.txt'].map(kindFromName)).toEqual([
      'kernel', 'initrd', 'initrd', 'initrd', 'kernel', 'file', 'file',
    ]);
  });
});

describe('option parsers', () => {
  it('parse durations, sizes and labels, refusing what they cannot read', () => {
    expect(['90', '90s', '15m', '2h', '30d', '1w'].map(parseDuration)).toEqual([90, 90, 900, 7200, 2_592_000, 604_800]);
    expect(() => parseDuration('soon')).toThrow('a duration such as');
    expect(['64', '64MiB', '1GiB', '5242880B', '512k'].map(parseSize)).toEqual([64 * 1024 ** 2, 64 * 1024 ** 2, 1024 ** 3, 5_242_880, 512 * 1024]);
    expect(() => parseSize('big')).toThrow('a size such as');
    expect(parseLabel('rack=r12')).toEqual(['rack', 'r12']);
    expect(parseLabel('empty=')).toEqual(['empty', '']);
    expect(() => parseLabel('rack')).toThrow('expected key=value');
    expect(() => parseLabel('Rack=1')).toThrow('label key "Rack"');
  });
});

describe('exit codes and retries', () => {
  it('maps API statuses to the documented exit codes', () => {
    expect([400, 401, 403, 404, 409, 410, 422, 429, 500, 503].map(exitCodeForStatus)).toEqual([5, 4, 4, 3, 5, 5, 5, 6, 6, 6]);
  });
  it('retries network failures and 5xx, not refusals', () => {
    expect(isRetryable(new NetworkError('http://x', new Error('ECONNRESET')))).toBe(true);
    expect(isRetryable(new ApiError(503, 'unavailable', 'busy', null, []))).toBe(true);
    expect(isRetryable(new ApiError(409, 'part_out_of_order', 'no', null, []))).toBe(false);
    expect(isRetryable(new Error('bug'))).toBe(false);
  });
  it('backs off exponentially with jitter, capped at 30 s', () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(a, 1000, () => 0))).toEqual([500, 1000, 2000, 4000]);
    expect([1, 2, 3, 4].map((a) => backoffMs(a, 1000, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffMs(20, 1000, () => 1)).toBe(30_000);
  });
});

describe('upload progress', () => {
  it('measures the rate of this run only (not bytes a resumed upload had) and the ETA from it', () => {
    let t = 0;
    const m = new Meter(() => t);
    m.start(100 * 1024 ** 2, 40 * 1024 ** 2);
    t = 2000;
    m.done = 60 * 1024 ** 2;
    expect(m.rate()).toBe(10 * 1024 ** 2);
    expect(m.eta()).toBe('4s');
    expect(m.line('uploading x')).toBe('uploading x: 60.0 MiB / 100 MiB (60%), 10.0 MiB/s, ETA 4s');
  });
  it('prints plain lines at most every interval, plus every note', () => {
    let t = 0;
    const lines: string[] = [];
    const p = plainProgress((l) => lines.push(l), 5000, () => t);
    p.start('uploading x', 1000, 0);
    for (t = 1000; t <= 11_000; t += 1000) p.update(t / 20);
    p.note('part 1/2 stored');
    p.stop();
    expect(lines).toEqual([
      'uploading x: 1000 B',
      'uploading x: 250 B / 1000 B (25%), 50 B/s, ETA 15s',
      'uploading x: 500 B / 1000 B (50%), 50 B/s, ETA 10s',
      'part 1/2 stored',
      // stop() at t = 12 s: 550 B in 12 s.
      'uploading x: 550 B / 1000 B (55%), 46 B/s, ETA 10s',
    ]);
  });
});
