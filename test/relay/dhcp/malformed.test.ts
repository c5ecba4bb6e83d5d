import { describe, expect, it } from 'vitest';
import { bootTarget, DEFAULT_BOOT_FILES } from '../../../relay/src/dhcp/boot-target.ts';
import { classify } from '../../../relay/src/dhcp/classify.ts';
import { DecodeError, decodeDhcp, encodeDhcp, EncodeError } from '../../../relay/src/dhcp/codec.ts';
import { proxyAck, proxyOffer } from '../../../relay/src/dhcp/reply.ts';
import * as read from '../../../relay/src/dhcp/read.ts';
import { seeded as rng } from '../tftp/support/scripted-client.ts';
import { fixtureBytes, fixtureNames } from './fixtures.ts';

/**
 * Hostile input: whatever arrives, decoding throws DecodeError or returns a packet — never another
 * exception, never a hang — and the rest of the pipeline (getters, classification, reply building)
 * throws nothing but DecodeError or EncodeError, which the socket loop counts as drops.
 */
const requests = fixtureNames().filter((n) => !n.includes('-to-'));
const all = fixtureNames();

/** Runs the whole pure pipeline the server loop will run; returns what happened. */
function pipeline(bytes: Uint8Array): 'decoded' | 'DecodeError' | 'EncodeError' {
  try {
    const p = decodeDhcp(bytes);
    read.messageType(p); read.serverId(p); read.paramList(p); read.maxMessageSize(p); read.clientArch(p);
    read.clientNdi(p); read.clientGuid(p); read.userClass(p); read.vendorClass(p); read.pxeOptions(p);
    const c = classify(p);
    if (c.pxe) {
      const t = bootTarget(c, { httpBase: 'http://10.0.0.2:8080', bootFiles: { ...DEFAULT_BOOT_FILES, uefiArm64: 'a.efi' } }, 'nonce');
      if (t.ok) {
        proxyOffer(p, c, t.target, { serverIp: '10.0.0.2' });
        proxyAck(p, c, t.target, { serverIp: '10.0.0.2' }, { address: '10.0.0.9', port: 68 });
      }
    }
    return 'decoded';
  } catch (e) {
    if (e instanceof DecodeError) return 'DecodeError';
    if (e instanceof EncodeError) return 'EncodeError';
    throw new Error(`${(e as Error)?.constructor?.name}: ${(e as Error)?.message} for ${read.toHex(bytes)}`);
  }
}

describe('malformed DHCP input', () => {
  for (const name of all) {
    it(`${name}: every truncation before END is a DecodeError, after it the same packet`, () => {
      const bytes = fixtureBytes(name);
      const full = decodeDhcp(bytes);
      const endsAt = encodeDhcp(full, { minSize: 0 }).length; // header + options + END, no padding
      for (let len = 0; len < bytes.length; len++) {
        const cut = bytes.subarray(0, len);
        if (len < endsAt) expect(() => decodeDhcp(cut), `length ${len}`).toThrow(DecodeError);
        else expect(decodeDhcp(cut)).toEqual(full);
      }
    });
  }

  it('refuses every length byte that overruns, and survives every other value', () => {
    for (const name of requests) {
      const bytes = fixtureBytes(name);
      // Walk the real options and try each length byte at every value.
      for (let i = 240; bytes[i] !== 255; i += 2 + bytes[i + 1]!) {
        for (let len = 0; len < 256; len++) {
          const b = bytes.slice();
          b[i + 1] = len;
          const r = pipeline(b);
          if (i + 2 + len > bytes.length) expect(r, `${name} option at ${i} length ${len}`).toBe('DecodeError');
        }
      }
    }
  });

  it('refuses every option 52 value other than 1, 2 and 3', () => {
    const bytes = fixtureBytes('ovmf-discover');
    for (let v = 0; v < 256; v++) {
      const b = new Uint8Array(bytes.length + 3);
      b.set(bytes.subarray(0, 240));
      b.set([52, 1, v], 240);
      b.set(bytes.subarray(240), 243);
      if (v >= 1 && v <= 3) expect(pipeline(b)).not.toBe('EncodeError');
      else expect(() => decodeDhcp(b), `overload ${v}`).toThrow(/option 52 value/);
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

  it('survives 4,000 random packets with a valid cookie and 4,000 of plain noise (seeded)', () => {
    const next = rng(0x0eb0_0d4c);
    const counts = { decoded: 0, DecodeError: 0, EncodeError: 0 };
    for (let n = 0; n < 8000; n++) {
      const b = Uint8Array.from({ length: Math.floor(next() * 1600) }, () => Math.floor(next() * 256));
      if (n % 2 === 0 && b.length >= 240) {
        b.set([1, 1, 6, 0], 0);
        b.set([0x63, 0x82, 0x53, 0x63], 236);
      }
      counts[pipeline(b)]++;
    }
    expect(counts.DecodeError).toBeGreaterThan(7000);
  });

  it('survives 20,000 byte-level mutations of the captured requests (seeded)', () => {
    const next = rng(0x5eed_cafe);
    const counts = { decoded: 0, DecodeError: 0, EncodeError: 0 };
    for (let n = 0; n < 20000; n++) {
      const b = fixtureBytes(requests[n % requests.length]!).slice();
      const flips = 1 + Math.floor(next() * 6);
      for (let k = 0; k < flips; k++) b[240 + Math.floor(next() * (b.length - 240))] = Math.floor(next() * 256);
      counts[pipeline(b)]++;
    }
    // Both outcomes must occur, or the mutations are not reaching the option parser.
    expect(counts.decoded).toBeGreaterThan(1000);
    expect(counts.DecodeError).toBeGreaterThan(1000);
  });
});
