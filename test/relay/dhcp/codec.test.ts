import { describe, expect, it } from 'vitest';
import { DecodeError, decodeDhcp, encodeDhcp, EncodeError, getOption, MAX_OPTIONS, type DhcpPacket, type DropReason } from '../../../relay/src/dhcp/codec.ts';
import { OPT } from '../../../relay/src/dhcp/options.ts';
import { clientArch, fromHex, ipxeOptions, maxMessageSize, subOptions } from '../../../relay/src/dhcp/read.ts';

function packet(options: DhcpPacket['options'], over: Partial<DhcpPacket> = {}): DhcpPacket {
  return {
    op: 1, htype: 1, hlen: 6, hops: 0, xid: 0x01020304, secs: 0, flags: 0,
    ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
    chaddr: fromHex('525400e80001' + '00'.repeat(10)), sname: '', file: '',
    options: [{ code: OPT.messageType, data: Uint8Array.of(1) }, ...options],
    ...over,
  };
}

/** A raw packet: a valid header (Ethernet, chaddr 52:54:00:e8:00:01) and cookie, then exactly the given option-area bytes. */
function raw(optionArea: number[], patch: (b: Uint8Array) => void = () => {}): Uint8Array {
  const b = new Uint8Array(240 + optionArea.length);
  b[0] = 1; b[1] = 1; b[2] = 6;
  b.set([0x52, 0x54, 0x00, 0xe8, 0x00, 0x01], 28);
  b.set([0x63, 0x82, 0x53, 0x63], 236);
  b.set(optionArea, 240);
  patch(b);
  return b;
}

function decodeError(bytes: Uint8Array, reason?: DropReason): string {
  try {
    decodeDhcp(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    if (reason) expect((e as DecodeError).reason).toBe(reason);
    return (e as Error).message;
  }
  throw new Error('decoded without error');
}

const codes = (p: DhcpPacket) => p.options.map((o) => o.code);
const text = (p: DhcpPacket, code: number) => new TextDecoder().decode(getOption(p, code));

describe('DHCP codec', () => {
  it('round-trips a packet through encode and decode', () => {
    const p = packet([{ code: OPT.vendorClass, data: new TextEncoder().encode('PXEClient') }], { sname: 'relay', file: 'ipxe.efi', giaddr: '10.1.2.3' });
    const back = decodeDhcp(encodeDhcp(p));
    expect(back).toEqual(p);
  });

  it('splits a value longer than 255 bytes into consecutive instances and joins them again (RFC 3396)', () => {
    const long = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    const bytes = encodeDhcp(packet([{ code: 250, data: long }]));
    // 53 (3 bytes) then 250 as 255 + 255 + 90.
    expect([bytes[243], bytes[244]]).toEqual([250, 255]);
    expect([bytes[243 + 257], bytes[244 + 257]]).toEqual([250, 255]);
    expect([bytes[243 + 514], bytes[244 + 514]]).toEqual([250, 90]);
    expect(getOption(decodeDhcp(bytes), 250)).toEqual(long);
  });

  it('writes 53 first and 82 last, ends with END and pads replies to 300 bytes', () => {
    const p = packet([{ code: OPT.relayAgentInfo, data: Uint8Array.of(1, 2, 0xab, 0xcd) }, { code: OPT.serverId, data: Uint8Array.of(10, 0, 0, 1) }], { op: 2 });
    p.options.reverse(); // 53 last in the input
    const b = encodeDhcp(p);
    expect(b.length).toBe(300);
    expect([...b.subarray(240, 243)]).toEqual([53, 1, 1]);
    expect([...b.subarray(243, 249)]).toEqual([54, 4, 10, 0, 0, 1]);
    expect([...b.subarray(249, 255)]).toEqual([82, 4, 1, 2, 0xab, 0xcd]);
    expect(b[255]).toBe(255);
    expect(b.subarray(256).every((x) => x === 0)).toBe(true);
  });

  it('does not pad requests', () => {
    expect(encodeDhcp(packet([])).length).toBe(244);
  });

  it('refuses to write more than the client accepts', () => {
    const p = packet([{ code: 250, data: new Uint8Array(400) }]);
    expect(() => encodeDhcp(p, { maxSize: 548 })).toThrow(new EncodeError('packet would be 648 bytes, more than 548'));
  });

  it('refuses a file name that leaves no room for its NUL', () => {
    expect(() => encodeDhcp(packet([], { file: 'x'.repeat(128) }))).toThrow(/file is 128 bytes, the field holds 127 and a NUL/);
  });

  it('refuses a bad address, a non-byte op and the pad and end markers as options', () => {
    expect(() => encodeDhcp(packet([], { siaddr: '10.0.0.256' }))).toThrow(/not an IPv4 address/);
    expect(() => encodeDhcp(packet([], { op: 256 }))).toThrow(/op 256 is not a byte/);
    expect(() => encodeDhcp(packet([{ code: 255, data: new Uint8Array() }]))).toThrow(/marker/);
  });

  it('refuses header values outside the limits, naming the drop reason', () => {
    expect(decodeError(raw([255], (b) => (b[3] = 17)), 'hops')).toBe('hops 17 exceeds 16');
    expect(decodeError(raw([255], (b) => (b[2] = 17)), 'hardware')).toBe('hlen 17 exceeds the 16-byte chaddr field');
    expect(decodeError(raw([255], (b) => (b[0] = 3)), 'op')).toBe('op 3 is neither BOOTREQUEST (1) nor BOOTREPLY (2)');
    expect(decodeError(raw([255], (b) => (b[239] = 0x64)), 'cookie')).toBe('magic cookie is 0x63825364, not 0x63825363');
    expect(decodeError(new Uint8Array(239), 'size')).toBe('packet is 239 bytes, a DHCP packet has at least 240');
    expect(decodeError(raw(new Array(1233).fill(0)), 'size')).toBe('packet is 1473 bytes, more than the 1472 accepted');
  });

  it('refuses an Ethernet header whose chaddr no reply could be addressed to', () => {
    expect(decodeError(raw([255], (b) => (b[2] = 8)), 'hardware')).toBe('hlen 8 for Ethernet (htype 1), which has 6');
    expect(decodeError(raw([255], (b) => b.fill(0, 28, 34)), 'hardware')).toBe('chaddr is all zeros');
    expect(decodeError(raw([255], (b) => b.fill(0xff, 28, 34)), 'hardware')).toBe('chaddr is a group (multicast or broadcast) address');
    expect(decodeError(raw([255], (b) => b.set([0x01, 0x00, 0x5e, 0, 0, 1], 28)), 'hardware')).toBe('chaddr is a group (multicast or broadcast) address');
    // Other hardware types keep their own rules (InfiniBand sends hlen 0 and an empty chaddr, RFC 4390).
    expect(decodeDhcp(raw([255], (b) => { b[1] = 32; b[2] = 0; b.fill(0, 28, 44); })).htype).toBe(32);
  });

  it('refuses message types no RFC defines', () => {
    expect(decodeError(raw([53, 1, 0, 255]), 'message-type')).toBe('option 53 message type 0 is not a DHCP message type');
    expect(decodeError(raw([53, 1, 19, 255]), 'message-type')).toBe('option 53 message type 19 is not a DHCP message type');
  });

  it('reads a packet without option 53 as BOOTP (the responder ignores it)', () => {
    const p = decodeDhcp(raw([60, 1, 0x41, 255]));
    expect(codes(p)).toEqual([60]);
    expect(p.faults).toBeUndefined();
  });

  it('concatenates repeated instances of a code, even with others between them: RFC 3396, not a fault', () => {
    const p = decodeDhcp(raw([53, 1, 1, 77, 2, 0x69, 0x50, 60, 1, 0x41, 77, 2, 0x58, 0x45, 93, 2, 0, 7, 93, 2, 0, 9, 255]));
    expect(text(p, 77)).toBe('iPXE');
    expect(clientArch(p)).toEqual([7, 9]);
    expect(codes(p)).toEqual([53, 77, 60, 93]);
    expect(p.faults).toBeUndefined();
  });

  it('reads a fixed-size option sent twice with the same value as that value', () => {
    const p = decodeDhcp(raw([53, 1, 1, 57, 2, 5, 0xc0, 53, 1, 1, 57, 2, 5, 0xc0, 255]));
    expect(getOption(p, 53)).toEqual(Uint8Array.of(1));
    expect(maxMessageSize(p)).toBe(1472);
    expect(p.faults).toEqual([{ code: 53, reason: 'repeated' }, { code: 57, reason: 'repeated' }]);
  });

  it('drops a fixed-size option sent twice with different values, and the packet when that option is 53', () => {
    const p = decodeDhcp(raw([53, 1, 1, 57, 2, 5, 0xc0, 57, 2, 2, 0x40, 255]));
    expect(codes(p)).toEqual([53]);
    expect(p.faults).toEqual([{ code: 57, reason: 'bad-length' }]);
    expect(decodeError(raw([53, 1, 1, 53, 1, 3, 255]), 'message-type')).toBe('option 53 (messageType) cannot be read: bad-length');
  });

  it('joins a fixed-size value split over instances, empty instances included (RFC 3396 §7)', () => {
    const guid = Array.from({ length: 16 }, (_, i) => i + 1);
    const p = decodeDhcp(raw([53, 0, 97, 9, 0, ...guid.slice(0, 8), 53, 1, 3, 97, 8, ...guid.slice(8), 255]));
    expect(getOption(p, 53)).toEqual(Uint8Array.of(3));
    expect(getOption(p, 97)).toEqual(Uint8Array.of(0, ...guid));
    expect(p.faults).toBeUndefined();
  });

  it('skips a zero-length option the relay needs, keeps an unknown one, and drops the packet for an empty 53', () => {
    const p = decodeDhcp(raw([53, 1, 1, 60, 0, 97, 0, 80, 0, 93, 2, 0, 7, 255]));
    expect(codes(p)).toEqual([53, 80, 93]);
    expect(p.faults).toEqual([{ code: 60, reason: 'zero-length' }, { code: 97, reason: 'zero-length' }]);
    expect(decodeError(raw([53, 0, 60, 1, 0x41, 255]), 'message-type')).toBe('option 53 (messageType) cannot be read: zero-length');
  });

  it('drops a wrong-size option with a fault, and the packet when it is a server id or requested address', () => {
    const p = decodeDhcp(raw([53, 1, 1, 97, 16, ...new Array(16).fill(0), 61, 1, 1, 94, 2, 1, 3, 255]));
    expect(codes(p)).toEqual([53]);
    expect(p.faults).toEqual([{ code: 97, reason: 'bad-length' }, { code: 61, reason: 'bad-length' }, { code: 94, reason: 'bad-length' }]);
    // A REQUEST whose 54 cannot be read could be for another server: never read it as absent.
    expect(decodeError(raw([53, 1, 3, 54, 3, 10, 0, 0, 255]), 'server-id')).toBe('option 54 (serverId) cannot be read: bad-length');
    expect(decodeError(raw([53, 1, 3, 50, 5, 10, 0, 0, 9, 9, 255]), 'requested-address')).toBe('option 50 (requestedAddress) cannot be read: bad-length');
  });

  it('keeps the whole entries of a list whose last entry is torn (RFC 4578 §2.1 order)', () => {
    const p = decodeDhcp(raw([53, 1, 1, 93, 3, 0, 7, 0, 3, 6, 10, 0, 0, 1, 10, 0, 255]));
    expect(clientArch(p)).toEqual([7]);
    expect([...getOption(p, 3)!]).toEqual([10, 0, 0, 1]);
    expect(p.faults).toEqual([{ code: 93, reason: 'torn-list' }, { code: 3, reason: 'torn-list' }]);
  });

  it('accepts an option area without END, recording it', () => {
    const p = decodeDhcp(raw([53, 1, 1, 60, 1, 0x41]));
    expect(codes(p)).toEqual([53, 60]);
    expect(p.faults).toEqual([{ code: 255, reason: 'no-end' }]);
  });

  it('skips pad runs anywhere, up to the end of the largest packet', () => {
    const p = decodeDhcp(raw([0, 0, 53, 1, 1, ...new Array(600).fill(0), 60, 1, 0x41, 255, ...new Array(623).fill(0)]));
    expect(codes(p)).toEqual([53, 60]);
    expect(p.faults).toBeUndefined();
  });

  it('drops an option whose length runs past the end and keeps the ones before it', () => {
    const p = decodeDhcp(raw([53, 1, 1, 60, 1, 0x41, 93, 2, 0]));
    expect(codes(p)).toEqual([53, 60]);
    expect(p.faults).toEqual([{ code: 93, reason: 'truncated' }]);
    expect(decodeDhcp(raw([53, 1, 1, 60])).faults).toEqual([{ code: 60, reason: 'truncated' }]);
    expect(decodeError(raw([53, 2, 1]), 'message-type')).toBe('option 53 (messageType) cannot be read: truncated');
  });

  it('reads options continued in file then sname when option 52 says both (RFC 2131 §4.1 order)', () => {
    const b = raw([53, 1, 1, 52, 1, 3, 77, 1, 0x61, 255], (b) => {
      b.set([77, 1, 0x62, 255], 108); // file
      b.set([77, 1, 0x63, 12, 2, 0x68, 0x6f, 255], 44); // sname
    });
    const p = decodeDhcp(b);
    expect(text(p, 77)).toBe('abc');
    expect(text(p, 12)).toBe('ho');
    expect(getOption(p, OPT.overload)).toBeUndefined();
    expect([p.file, p.sname]).toEqual(['', '']);
    expect(p.faults).toBeUndefined();
  });

  it('keeps sname as a string when only the file field is overloaded, and needs no END there', () => {
    const b = raw([53, 1, 1, 52, 1, 1, 255], (b) => {
      b.set([67, 3, 0x61, 0x2e, 0x62], 108);
      b.set(new TextEncoder().encode('server'), 44);
    });
    const p = decodeDhcp(b);
    expect(p.sname).toBe('server');
    expect(text(p, 67)).toBe('a.b');
    expect(p.faults).toBeUndefined();
  });

  it('ignores an option 52 it cannot read and reads both fields as strings', () => {
    for (const bad of [[52, 1, 0], [52, 1, 4], [52, 2, 1, 1], [52, 0]]) {
      const p = decodeDhcp(raw([53, 1, 1, ...bad, 255], (b) => b.set(new TextEncoder().encode('pxelinux.0'), 108)));
      expect(p.file).toBe('pxelinux.0');
      expect(codes(p)).toEqual([53]);
      expect(p.faults).toEqual([{ code: 52, reason: bad[1] === 0 ? 'zero-length' : bad[1] === 2 ? 'bad-length' : 'bad-value' }]);
    }
  });

  it('costs an overloaded field its bad options only, and ignores a 52 inside it', () => {
    const b = raw([53, 1, 1, 52, 1, 1, 60, 1, 0x41, 255], (b) => b.set([52, 1, 2, 12, 2, 0x68, 0x6f, 77, 200], 108));
    const p = decodeDhcp(b);
    expect(codes(p)).toEqual([53, 60, 12]);
    expect(p.faults).toEqual([{ code: 52, reason: 'misplaced' }, { code: 77, reason: 'truncated' }]);
  });

  it(`stops reading after ${MAX_OPTIONS} option entries, recording it`, () => {
    const many = Array.from({ length: MAX_OPTIONS }, () => [250, 0]).flat();
    const p = decodeDhcp(raw([53, 1, 1, ...many, 60, 1, 0x41, 255]));
    expect(codes(p)).toEqual([53, 250]);
    expect(p.faults).toEqual([{ code: 250, reason: 'too-many' }]);
  });

  it('keeps option 82 as received whatever its sub-options hold (RFC 3046 §2.2: echoed unmodified)', () => {
    const p = decodeDhcp(raw([53, 1, 1, 82, 3, 1, 5, 0, 255]));
    expect(getOption(p, 82)).toEqual(Uint8Array.of(1, 5, 0));
    expect(p.faults).toEqual([{ code: 82, reason: 'sub-options' }]);
  });

  it('keeps the whole sub-options of 43 and 175, and drops one with none', () => {
    const p = decodeDhcp(raw([53, 1, 1, 175, 7, 20, 1, 1, 176, 1, 1, 19, 43, 5, 6, 1, 8, 71, 9, 255]));
    expect([...ipxeOptions(p)!]).toEqual([[20, Uint8Array.of(1)], [176, Uint8Array.of(1)]]);
    expect(getOption(p, 43)).toEqual(Uint8Array.of(6, 1, 8));
    expect(p.faults).toEqual([{ code: 175, reason: 'sub-options' }, { code: 43, reason: 'sub-options' }]);
    const none = decodeDhcp(raw([53, 1, 1, 175, 2, 20, 9, 255]));
    expect(codes(none)).toEqual([53]);
  });

  it('reads typed values: 93 as a list, 57 raised to 576, 175 as sub-options', () => {
    const p = decodeDhcp(raw([53, 1, 1, 93, 4, 0, 7, 0, 9, 57, 2, 1, 0, 175, 6, 20, 1, 1, 176, 1, 1, 255]));
    expect(clientArch(p)).toEqual([7, 9]);
    expect(maxMessageSize(p)).toBe(576);
    expect([...ipxeOptions(p)!]).toEqual([[20, Uint8Array.of(1)], [176, Uint8Array.of(1)]]);
  });

  it('reads PXE sub-options up to their END, and up to one that overruns', () => {
    expect([...subOptions(43, Uint8Array.of(6, 1, 8, 0, 255, 9, 9))]).toEqual([[6, Uint8Array.of(8)]]);
    expect([...subOptions(43, Uint8Array.of(6, 1, 8, 71, 4, 0x80))]).toEqual([[6, Uint8Array.of(8)]]);
  });

  it('hands out views into the decoded bytes, not copies (callers must not reuse the buffer)', () => {
    const b = raw([53, 1, 1, 60, 1, 0x41, 255]);
    const p = decodeDhcp(b);
    expect(p.chaddr.buffer).toBe(b.buffer);
    expect(getOption(p, 60)!.buffer).toBe(b.buffer);
  });
});
