import { describe, expect, it } from 'vitest';
import { DecodeError, decodeDhcp, encodeDhcp, EncodeError, getOption, MAX_OPTIONS, type DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
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

/** A raw packet: a valid header and cookie, then exactly the given option-area bytes. */
function raw(optionArea: number[], patch: (b: Uint8Array) => void = () => {}): Uint8Array {
  const b = new Uint8Array(240 + optionArea.length);
  b[0] = 1; b[1] = 1; b[2] = 6;
  b.set([0x63, 0x82, 0x53, 0x63], 236);
  b.set(optionArea, 240);
  patch(b);
  return b;
}

function decodeError(bytes: Uint8Array): string {
  try {
    decodeDhcp(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    return (e as Error).message;
  }
  throw new Error('decoded without error');
}

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

  it('joins instances of one code even when other options sit between them', () => {
    const p = decodeDhcp(raw([53, 1, 1, 77, 2, 0x69, 0x50, 60, 1, 0x41, 77, 2, 0x58, 0x45, 255]));
    expect(new TextDecoder().decode(getOption(p, 77))).toBe('iPXE');
    expect(p.options.map((o) => o.code)).toEqual([53, 77, 60]);
  });

  it('reads options continued in file then sname when option 52 says both (RFC 2131 §4.1 order)', () => {
    const b = raw([53, 1, 1, 52, 1, 3, 77, 1, 0x61, 255], (b) => {
      b.set([77, 1, 0x62, 255], 108); // file
      b.set([77, 1, 0x63, 12, 2, 0x68, 0x6f, 255], 44); // sname
    });
    const p = decodeDhcp(b);
    expect(new TextDecoder().decode(getOption(p, 77))).toBe('abc');
    expect(new TextDecoder().decode(getOption(p, 12))).toBe('ho');
    expect(getOption(p, OPT.overload)).toBeUndefined();
    expect([p.file, p.sname]).toEqual(['', '']);
  });

  it('keeps sname as a string when only the file field is overloaded', () => {
    const b = raw([53, 1, 1, 52, 1, 1, 255], (b) => {
      b.set([67, 3, 0x61, 0x2e, 0x62, 255], 108);
      b.set(new TextEncoder().encode('server'), 44);
    });
    const p = decodeDhcp(b);
    expect(p.sname).toBe('server');
    expect(new TextDecoder().decode(getOption(p, 67))).toBe('a.b');
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

  it('names the option whose length runs past the end', () => {
    expect(decodeError(raw([53, 1, 1, 93, 2, 0]))).toBe('option 93 claims 2 bytes, 1 left (in options)');
  });

  it('requires END at the end of the options', () => {
    expect(decodeError(raw([53, 1, 1]))).toBe('options end without END (255)');
  });

  it('checks each known option against its wire type', () => {
    expect(decodeError(raw([53, 1, 1, 93, 3, 0, 7, 0, 255]))).toBe('option 93 (clientArch) is 3 bytes, must be a non-zero multiple of 2');
    expect(decodeError(raw([53, 1, 1, 97, 16, ...new Array(16).fill(0), 255]))).toBe('option 97 (clientGuid) is 16 bytes, must be 17');
    expect(decodeError(raw([53, 2, 1, 1, 255]))).toBe('option 53 (messageType) is 2 bytes, must be 1');
    expect(decodeError(raw([53, 1, 1, 61, 1, 1, 255]))).toBe('option 61 (clientId) is 1 bytes, must be at least 2');
    expect(decodeError(raw([53, 1, 1, 60, 0, 255]))).toBe('option 60 (vendorClass) is 0 bytes, must be at least 1');
  });

  it('refuses message types no RFC defines', () => {
    expect(decodeError(raw([53, 1, 0, 255]))).toBe('option 53 message type 0 is not a DHCP message type');
    expect(decodeError(raw([53, 1, 19, 255]))).toBe('option 53 message type 19 is not a DHCP message type');
  });

  it('refuses bad overload values and a short overload option', () => {
    expect(decodeError(raw([53, 1, 1, 52, 1, 0, 255]))).toBe('option 52 value 0 is not 1 (file), 2 (sname) or 3 (both)');
    expect(decodeError(raw([53, 1, 1, 52, 1, 4, 255]))).toBe('option 52 value 4 is not 1 (file), 2 (sname) or 3 (both)');
    expect(decodeError(raw([53, 1, 1, 52, 2, 1, 1, 255]))).toBe('option 52 is 2 bytes, must be 1');
    expect(decodeError(raw([53, 1, 1, 52, 1, 1, 255], (b) => b.set([77, 200], 108)))).toBe('option 77 claims 200 bytes, 126 left (in file)');
  });

  it('refuses header values outside the limits', () => {
    expect(decodeError(raw([255], (b) => (b[3] = 17)))).toBe('hops 17 exceeds 16');
    expect(decodeError(raw([255], (b) => (b[2] = 17)))).toBe('hlen 17 exceeds the 16-byte chaddr field');
    expect(decodeError(raw([255], (b) => (b[0] = 3)))).toBe('op 3 is neither BOOTREQUEST (1) nor BOOTREPLY (2)');
    expect(decodeError(raw([255], (b) => (b[239] = 0x64)))).toBe('magic cookie is 0x63825364, not 0x63825363');
    expect(decodeError(new Uint8Array(239))).toBe('packet is 239 bytes, a DHCP packet has at least 240');
    expect(decodeError(raw(new Array(1233).fill(0)))).toBe('packet is 1473 bytes, more than the 1472 accepted');
  });

  it(`caps the number of options at ${MAX_OPTIONS}`, () => {
    const many = Array.from({ length: MAX_OPTIONS }, () => [250, 0]).flat();
    expect(decodeError(raw([53, 1, 1, ...many, 255]))).toBe(`more than ${MAX_OPTIONS} options (in options)`);
    expect(() => decodeDhcp(raw([...many, 255]))).not.toThrow();
  });

  it('checks the framing of sub-options in 82 and 175', () => {
    expect(decodeError(raw([53, 1, 1, 82, 3, 1, 5, 0, 255]))).toBe('option 82.1 claims 5 bytes, 1 left');
    expect(decodeError(raw([53, 1, 1, 175, 1, 20, 255]))).toBe('option 175 sub-option 20 has no length byte');
  });

  it('reads typed values: 93 as a list, 57 raised to 576, 175 as sub-options', () => {
    const p = decodeDhcp(raw([53, 1, 1, 93, 4, 0, 7, 0, 9, 57, 2, 1, 0, 175, 6, 20, 1, 1, 176, 1, 1, 255]));
    expect(clientArch(p)).toEqual([7, 9]);
    expect(maxMessageSize(p)).toBe(576);
    expect([...ipxeOptions(p)!]).toEqual([[20, Uint8Array.of(1)], [176, Uint8Array.of(1)]]);
  });

  it('reads PXE sub-options up to their END and refuses one that overruns', () => {
    expect([...subOptions(43, Uint8Array.of(6, 1, 8, 0, 255, 9, 9))]).toEqual([[6, Uint8Array.of(8)]]);
    expect(() => subOptions(43, Uint8Array.of(71, 4, 0x80))).toThrow(new DecodeError('option 43.71 claims 4 bytes, 1 left'));
  });
});
