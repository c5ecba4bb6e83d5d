import { describe, expect, it } from 'vitest';
import { bootTarget, DEFAULT_BOOT_FILES } from '../../../relay/src/dhcp/boot-target.ts';
import { classify } from '../../../relay/src/dhcp/classify.ts';
import { DecodeError, decodeDhcp, encodeDhcp, EncodeError, getOption, type DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { optionSpec } from '../../../relay/src/dhcp/options.ts';
import { proxyAck, proxyOffer } from '../../../relay/src/dhcp/reply.ts';
import * as read from '../../../relay/src/dhcp/read.ts';
import { seeded as rng } from '../tftp/support/scripted-client.ts';
import { fixtureBytes, fixtureNames } from './fixtures.ts';

/**
 * Hostile input: whatever arrives, decoding throws DecodeError or returns a packet — never another
 * exception, never a hang — and the rest of the pipeline (getters, classification, reply building)
 * throws nothing but EncodeError, which the socket loop counts as a drop. A fault in one option costs
 * that option (recorded in `faults`); only the header and the options the relay cannot answer without
 * (53, 54, 50) cost the packet (codec.ts).
 */
const requests = fixtureNames().filter((n) => !n.includes('-to-'));
const all = fixtureNames();

/** Runs the whole pure pipeline the server loop will run; returns what happened. */
function pipeline(bytes: Uint8Array): 'decoded' | 'answered' | 'DecodeError' | 'EncodeError' {
  try {
    const p = decodeDhcp(bytes);
    read.messageType(p); read.serverId(p); read.paramList(p); read.maxMessageSize(p); read.clientArch(p);
    read.clientNdi(p); read.clientGuid(p); read.userClass(p); read.vendorClass(p); read.pxeOptions(p);
    const c = classify(p);
    // responder.ts answers nothing without a message type (BOOTP); the decoder let none out of 1–18 through.
    const type = read.messageType(p);
    if (type !== undefined && (type < 1 || type > 18)) throw new Error(`decoded message type ${type}: ${read.toHex(bytes)}`);
    if (c.pxe && type !== undefined) {
      const t = bootTarget(c, { httpBase: 'http://10.0.0.2:8080', bootFiles: { ...DEFAULT_BOOT_FILES, uefiArm64: 'a.efi' } }, 'nonce');
      if (t.ok) {
        const offer = proxyOffer(p, c, t.target, { serverIp: '10.0.0.2' });
        proxyAck(p, c, t.target, { serverIp: '10.0.0.2' }, { address: '10.0.0.9', port: 68 });
        if (!sameBytes(getOption(offer.packet, 82), getOption(p, 82))) throw new Error(`option 82 not echoed as received: ${read.toHex(bytes)}`);
        return 'answered';
      }
    }
    return 'decoded';
  } catch (e) {
    if (e instanceof DecodeError) return 'DecodeError';
    if (e instanceof EncodeError) return 'EncodeError';
    throw new Error(`${(e as Error)?.constructor?.name}: ${(e as Error)?.message} for ${read.toHex(bytes)}`);
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  return a === b || (!!a && !!b && read.toHex(a) === read.toHex(b));
}

/** Offsets of the fixture's options in its main area: [code, start, end) each. */
function layout(bytes: Uint8Array): Array<{ code: number; at: number; end: number }> {
  const out = [];
  for (let i = 240; bytes[i] !== 255; i += bytes[i] === 0 ? 1 : 2 + bytes[i + 1]!) if (bytes[i] !== 0) out.push({ code: bytes[i]!, at: i, end: i + 2 + bytes[i + 1]! });
  return out;
}
const codes = (p: DhcpPacket) => p.options.map((o) => o.code);

describe('malformed DHCP input', () => {
  for (const name of all) {
    it(`${name}: a cut keeps every whole option before it, drops the cut one, and drops the packet only for a cut header, 53, 54 or 50`, () => {
      const bytes = fixtureBytes(name);
      const full = decodeDhcp(bytes);
      const opts = layout(bytes);
      const endAt = opts.at(-1)!.end; // END's offset
      for (let len = 0; len < bytes.length; len++) {
        const cut = bytes.subarray(0, len);
        const torn = opts.find((o) => o.at < len && len < o.end);
        if (len < 240 || (torn && optionSpec(torn.code)?.onFault === 'packet')) {
          expect(() => decodeDhcp(cut), `length ${len}`).toThrow(DecodeError);
          continue;
        }
        const p = decodeDhcp(cut);
        if (len > endAt) {
          expect(p).toEqual(full);
          continue;
        }
        expect(codes(p), `length ${len}`).toEqual(opts.filter((o) => o.end <= len).map((o) => o.code));
        expect(p.faults, `length ${len}`).toEqual([torn ? { code: torn.code, reason: 'truncated' } : { code: 255, reason: 'no-end' }]);
      }
    });
  }

  it('costs an overrunning length byte that option and the rest of the area; for 53, 54 or 50, the packet', () => {
    for (const name of requests) {
      const bytes = fixtureBytes(name);
      // Walk the real options and try each length byte at every value.
      for (const o of layout(bytes)) {
        for (let len = 0; len < 256; len++) {
          const b = bytes.slice();
          b[o.at + 1] = len;
          const r = pipeline(b);
          if (o.at + 2 + len <= bytes.length) continue; // a shorter length reframes what follows: any outcome but a crash
          if (optionSpec(o.code)?.onFault === 'packet') expect(r, `${name} option ${o.code} length ${len}`).toBe('DecodeError');
          else {
            expect(r, `${name} option ${o.code} length ${len}`).not.toBe('DecodeError');
            expect(decodeDhcp(b).faults).toEqual([{ code: o.code, reason: 'truncated' }]);
          }
        }
      }
    }
  });

  it('ignores every option 52 value other than 1, 2 and 3, and still answers the request', () => {
    const bytes = fixtureBytes('ovmf-discover');
    for (let v = 0; v < 256; v++) {
      const b = new Uint8Array(bytes.length + 3);
      b.set(bytes.subarray(0, 240));
      b.set([52, 1, v], 240);
      b.set(bytes.subarray(240), 243);
      if (v >= 1 && v <= 3) expect(pipeline(b)).not.toBe('EncodeError');
      else {
        expect(decodeDhcp(b).faults, `overload ${v}`).toEqual([{ code: 52, reason: 'bad-value' }]);
        expect(pipeline(b)).toBe('answered');
      }
    }
  });

  it('answers a DISCOVER whose options continue in file and sname (RFC 2131 §4.1) as it answers the original', () => {
    const bytes = fixtureBytes('ovmf-discover');
    const opts = layout(bytes);
    const moved = (code: number) => [...bytes.subarray(opts.find((o) => o.code === code)!.at, opts.find((o) => o.code === code)!.end)];
    const main = opts.filter((o) => ![60, 93, 97].includes(o.code)).flatMap((o) => [...bytes.subarray(o.at, o.end)]);
    const b = new Uint8Array(240 + 3 + main.length + 1);
    b.set(bytes.subarray(0, 240));
    b.set([52, 1, 3, ...main, 255], 240);
    b.set([...moved(60), ...moved(93), 255], 108); // file: 34 + 4 bytes
    b.set(moved(97), 44); // sname: 19 bytes, no END
    const p = decodeDhcp(b);
    expect(p.faults).toBeUndefined();
    expect(classify(p)).toEqual(classify(decodeDhcp(bytes)));
    expect(pipeline(b)).toBe('answered');
  });

  it('echoes option 82 byte for byte however its sub-options are framed', () => {
    const bytes = fixtureBytes('ovmf-discover');
    const next = rng(82);
    for (let n = 0; n < 300; n++) {
      const value = Array.from({ length: Math.floor(next() * 40) }, () => Math.floor(next() * 256));
      const b = new Uint8Array(bytes.length + 2 + value.length);
      b.set(bytes.subarray(0, 240));
      b.set([82, value.length, ...value], 240);
      b.set(bytes.subarray(240), 242 + value.length);
      expect(pipeline(b), read.toHex(b)).toBe('answered'); // pipeline() checks the echo
    }
  });

  it('answers a DISCOVER with every option sent twice, as it answers the original', () => {
    for (const name of ['ovmf-discover', 'bios-rom-discover', 'ipxe-discover']) {
      const bytes = fixtureBytes(name);
      const area = layout(bytes).flatMap((o) => [...bytes.subarray(o.at, o.end)]);
      const b = Uint8Array.from([...bytes.subarray(0, 240), ...area, ...area, 255]);
      if (b.length > 1472) continue;
      const original = classify(decodeDhcp(bytes));
      const twice = classify(decodeDhcp(b));
      expect(twice.pxe && original.pxe && [twice.kind, twice.arch, twice.guid], name).toEqual(original.pxe && [original.kind, original.arch, original.guid]);
      expect(pipeline(b)).toBe('answered');
    }
  });

  it('refuses message types 0 and above 18', () => {
    const bytes = fixtureBytes('ovmf-discover');
    expect([...bytes.subarray(240, 242)]).toEqual([53, 1]);
    for (let t = 0; t < 256; t++) {
      const b = bytes.slice();
      b[242] = t;
      if (t >= 1 && t <= 18) expect(decodeDhcp(b).options[0]!.data[0]).toBe(t);
      else expect(() => decodeDhcp(b), `type ${t}`).toThrow(/is not a DHCP message type/);
    }
  });

  it('refuses hop counts above 16', () => {
    const bytes = fixtureBytes('ipxe-discover');
    for (let h = 0; h < 256; h++) {
      const b = bytes.slice();
      b[3] = h;
      if (h <= 16) expect(decodeDhcp(b).hops).toBe(h);
      else expect(() => decodeDhcp(b)).toThrow(`hops ${h} exceeds 16`);
    }
  });

  it('survives 4,000 random packets with a valid header and 4,000 of plain noise, answering none (seeded)', () => {
    const next = rng(0x0eb0_0d4c);
    const counts = { decoded: 0, answered: 0, DecodeError: 0, EncodeError: 0 };
    for (let n = 0; n < 8000; n++) {
      const b = Uint8Array.from({ length: Math.floor(next() * 1600) }, () => Math.floor(next() * 256));
      if (n % 2 === 0 && b.length >= 240) {
        b.set([1, 1, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0);
        b[28] = b[28]! & 0xfe;
        b.set([0x63, 0x82, 0x53, 0x63], 236);
      }
      counts[pipeline(b)]++;
    }
    // Random option bytes almost never make a PXE request; the noise never passes the header.
    expect(counts.answered).toBe(0);
    expect(counts.decoded).toBeGreaterThan(100);
    expect(counts.DecodeError).toBeGreaterThan(4000);
  });

  it('survives 20,000 byte-level mutations of the captured requests (seeded)', () => {
    const next = rng(0x5eed_cafe);
    const counts = { decoded: 0, answered: 0, DecodeError: 0, EncodeError: 0 };
    for (let n = 0; n < 20000; n++) {
      const b = fixtureBytes(requests[n % requests.length]!).slice();
      const flips = 1 + Math.floor(next() * 6);
      for (let k = 0; k < flips; k++) b[240 + Math.floor(next() * (b.length - 240))] = Math.floor(next() * 256);
      counts[pipeline(b)]++;
    }
    // Every outcome must occur, or the mutations are not reaching the option parser.
    expect(counts.answered).toBeGreaterThan(1000);
    expect(counts.decoded).toBeGreaterThan(1000);
    expect(counts.DecodeError).toBeGreaterThan(1000);
  });
});
