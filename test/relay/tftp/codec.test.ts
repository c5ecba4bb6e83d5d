import { describe, expect, it } from 'vitest';
import {
  DecodeError,
  decodeTftp,
  encodeAck,
  encodeData,
  encodeDataRun,
  encodeError,
  encodeOack,
  encodeRequest,
  requestOptions,
} from '../../../relay/src/tftp/codec.ts';

const bytes = (s: string) => Buffer.from(s, 'latin1');

describe('TFTP codec', () => {
  it('decodes an OVMF RRQ with lower-cased option names in order', () => {
    const pkt = decodeTftp(bytes('\x00\x01ipxe.efi\x00OCTET\x00TSize\x000\x00blksize\x001468\x00WindowSize\x004\x00'));
    expect(pkt).toEqual({ op: 'rrq', filename: 'ipxe.efi', mode: 'octet', options: [['tsize', '0'], ['blksize', '1468'], ['windowsize', '4']] });
  });

  it('round-trips every packet type', () => {
    const rrq = encodeRequest('rrq', 'a/b.bin', 'octet', [['blksize', '512']]);
    expect(decodeTftp(rrq)).toEqual({ op: 'rrq', filename: 'a/b.bin', mode: 'octet', options: [['blksize', '512']] });
    expect(decodeTftp(encodeRequest('wrq', 'x'))).toMatchObject({ op: 'wrq', filename: 'x' });
    const data = decodeTftp(encodeData(65535, Buffer.from([1, 2, 3])));
    expect(data).toMatchObject({ op: 'data', block: 65535 });
    expect(Buffer.from((data as { data: Uint8Array }).data)).toEqual(Buffer.from([1, 2, 3]));
    expect(decodeTftp(encodeData(7, Buffer.alloc(0)))).toMatchObject({ op: 'data', block: 7 });
    expect(decodeTftp(encodeAck(65536))).toEqual({ op: 'ack', block: 0 });
    expect(decodeTftp(encodeError(5, 'Unknown transfer ID'))).toEqual({ op: 'error', code: 5, message: 'Unknown transfer ID' });
    expect(decodeTftp(encodeOack([['tsize', '9'], ['blksize', '1468']]))).toEqual({ op: 'oack', options: [['tsize', '9'], ['blksize', '1468']] });
    expect(decodeTftp(encodeOack([]))).toEqual({ op: 'oack', options: [] });
  });

  it('keeps non-ASCII bytes of a name as single latin1 chars so the path policy sees them', () => {
    const pkt = decodeTftp(bytes('\x00\x01caf\xc3\xa9\x00octet\x00'));
    expect(pkt).toMatchObject({ filename: 'caf\xc3\xa9' });
  });

  const faults: Array<[string, string, RegExp]> = [
    ['empty packet', '', /shorter than an opcode/],
    ['one byte', '\x00', /shorter than an opcode/],
    ['opcode 0', '\x00\x00x\x00octet\x00', /unknown opcode 0/],
    ['opcode 7', '\x00\x07', /unknown opcode 7/],
    ['RRQ without a name', '\x00\x01', /filename missing at byte 2/],
    ['name without NUL', '\x00\x01abc', /filename at byte 2 has no terminating NUL/],
    ['empty name', '\x00\x01\x00octet\x00', /empty filename/],
    ['no mode', '\x00\x01abc\x00', /mode missing at byte 6/],
    ['mode without NUL', '\x00\x01abc\x00octet', /mode at byte 6 has no terminating NUL/],
    ['unknown mode', '\x00\x01abc\x00binary\x00', /unknown mode "binary"/],
    ['option without value', '\x00\x01abc\x00octet\x00blksize\x00', /option "blksize" value missing/],
    ['option value without NUL', '\x00\x01abc\x00octet\x00blksize\x00512', /option "blksize" value at byte 20 has no terminating NUL/],
    ['empty option name', '\x00\x01abc\x00octet\x00\x00512\x00', /option 1 has an empty name/],
    ['short ACK', '\x00\x04\x00', /ACK must be 4 bytes, got 3/],
    ['long ACK', '\x00\x04\x00\x01\x00', /ACK must be 4 bytes, got 5/],
    ['short DATA', '\x00\x03\x00', /DATA of 3 bytes has no block number/],
    ['ERROR without message', '\x00\x05\x00\x01', /ERROR of 4 bytes/],
    ['ERROR message without NUL', '\x00\x05\x00\x01abc', /error message at byte 4 has no terminating NUL/],
    ['bytes after ERROR message', '\x00\x05\x00\x01abc\x00zz', /2 bytes after its message/],
  ];
  for (const [what, raw, message] of faults) {
    it(`throws a precise DecodeError for ${what}`, () => {
      expect(() => decodeTftp(bytes(raw))).toThrow(DecodeError);
      expect(() => decodeTftp(bytes(raw))).toThrow(message);
    });
  }

  it('refuses more than 32 options and datagrams beyond 65507 bytes', () => {
    const many = encodeRequest('rrq', 'a', 'octet', Array.from({ length: 33 }, (_, i) => [`o${i}`, '1'] as [string, string]));
    expect(() => decodeTftp(many)).toThrow('more than 32 options');
    expect(() => decodeTftp(Buffer.alloc(65508))).toThrow('exceeds 65507');
  });

  it('keeps known options with usable values and ignores unknown or unusable ones', () => {
    expect(requestOptions([['blksize', '1468'], ['windowsize', '4'], ['tsize', '0'], ['timeout', '5'], ['multicast', ''], ['x', '1']])).toEqual({
      blksize: 1468,
      windowsize: 4,
      tsize: 0,
      timeout: 5,
    });
    expect(requestOptions([['blksize', '7'], ['windowsize', '0'], ['timeout', '0'], ['tsize', '-1']])).toEqual({});
    expect(requestOptions([['timeout', '256'], ['blksize', '1e3'], ['blksize', ' 512'], ['windowsize', '0x10']])).toEqual({});
    expect(requestOptions([['blksize', '99999'], ['windowsize', '70000']])).toEqual({ blksize: 65464, windowsize: 65535 });
    expect(requestOptions([['blksize', '1024'], ['blksize', '2048']])).toEqual({ blksize: 1024 });
  });

  it('builds a run of DATA packets back to back: 4-byte header, then blksize bytes, the last shorter', () => {
    const payload = Buffer.from(Array.from({ length: 10 }, (_, i) => i));
    const run = encodeDataRun(65534, 4, payload);
    expect(run.length).toBe(3 * 4 + 10);
    const at = (i: number, len: number) => decodeTftp(run.subarray(i * 8, i * 8 + 4 + len)) as { block: number; data: Uint8Array };
    expect([at(0, 4), at(1, 4), at(2, 2)].map((p) => [p.block, [...p.data]])).toEqual([
      [65534, [0, 1, 2, 3]],
      [65535, [4, 5, 6, 7]],
      [0, [8, 9]],
    ]);
    // A payload of whole blocks has no empty packet after it; an empty payload is one empty DATA.
    expect(encodeDataRun(1, 4, payload.subarray(0, 8)).length).toBe(2 * 8);
    expect([...encodeDataRun(9, 512, Buffer.alloc(0))]).toEqual([0, 3, 0, 9]);
    // Into a caller's buffer when it is large enough, else into a new one.
    const fresh = encodeDataRun(1, 4, payload);
    const space = Buffer.alloc(64);
    const into = encodeDataRun(1, 4, payload, space);
    expect(into.buffer).toBe(space.buffer);
    expect(into).toEqual(fresh);
    const small = Buffer.alloc(8);
    const grown = encodeDataRun(1, 4, payload, small);
    expect(grown.buffer).not.toBe(small.buffer);
    expect(grown).toEqual(fresh);
  });
});
