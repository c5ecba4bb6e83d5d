import { createHash } from 'node:crypto';
import { nativeSha256Hex } from '../../relay/src/sync/native-sha256.ts';
import { describe, expect, it } from 'vitest';
import { canonicalJson, portableSha256Hex, snapshotVersion, snapshotVersionAsync } from '../../shared/sync/snapshot-version.ts';

describe('canonicalJson', () => {
  it('sorts object keys at every depth, keeps array order, and leaves out undefined members', () => {
    const value = { b: 1, a: [{ z: true, y: null, x: undefined }, 'é"\n'], c: { e: [3, 1, 2], d: 'x' } };
    expect(canonicalJson(value)).toBe('{"a":[{"y":null,"z":true},"é\\"\\n"],"b":1,"c":{"d":"x","e":[3,1,2]}}');
  });

  it('writes undefined array items as null, like JSON.stringify', () => {
    expect(canonicalJson([1, undefined, 2])).toBe('[1,null,2]');
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({})).toBe('{}');
  });
});

describe('snapshotVersion', () => {
  const content = {
    siteId: 'site_lyon',
    unknownMachines: { netboot: true, loader: { shim: 'img_shim', grub: 'img_grub' } },
    machines: [{ mac: '52:54:00:00:00:01', machineId: 'mch_1', arch: 'bios' as const, netboot: ['bios' as const, 'uefi-x64' as const] }],
  };
  // Written out by hand: the canonical text of `content` above.
  const CANONICAL =
    '{"machines":[{"arch":"bios","mac":"52:54:00:00:00:01","machineId":"mch_1","netboot":["bios","uefi-x64"]}],"siteId":"site_lyon","unknownMachines":{"loader":{"grub":"img_grub","shim":"img_shim"},"netboot":true}}';

  it('is the first 32 hex digits of SHA-256 over the canonical JSON (checked against node:crypto)', () => {
    expect(canonicalJson(content)).toBe(CANONICAL);
    expect(snapshotVersion(content)).toBe(createHash('sha256').update(CANONICAL).digest('hex').slice(0, 32));
    expect(snapshotVersion(content)).toMatch(/^[0-9a-f]{32}$/);
  });

  it("gives the same version with the relay's native hash as with the portable one, non-ASCII text included", () => {
    const named = { ...content, siteId: 'site_zürich_東京', machines: [{ ...content.machines[0]!, machineId: 'mch_é' }] };
    for (const c of [content, named]) expect(snapshotVersion(c, nativeSha256Hex)).toBe(snapshotVersion(c, portableSha256Hex));
    expect(snapshotVersion(named, nativeSha256Hex)).not.toBe(snapshotVersion(content, nativeSha256Hex));
  });

  it("gives the same version through WebCrypto, as the cloud computes it, as the relay's sync one", async () => {
    const named = { ...content, siteId: 'site_zürich_東京', machines: [{ ...content.machines[0]!, machineId: 'mch_é' }] };
    for (const c of [content, named]) expect(await snapshotVersionAsync(c)).toBe(snapshotVersion(c, nativeSha256Hex));
    expect(await snapshotVersionAsync({ ...content, next: 'x' } as typeof content)).toBe(snapshotVersion(content));
  });

  it('does not depend on the order the keys were written in', () => {
    const reordered = {
      machines: [{ netboot: ['bios' as const, 'uefi-x64' as const], arch: 'bios' as const, machineId: 'mch_1', mac: '52:54:00:00:00:01' }],
      unknownMachines: { loader: { grub: 'img_grub', shim: 'img_shim' }, netboot: true },
      siteId: 'site_lyon',
    };
    expect(snapshotVersion(reordered)).toBe(snapshotVersion(content));
  });

  it('ignores the version and next members of a snapshot', () => {
    expect(snapshotVersion({ ...content, version: 'anything', next: 'cursor' } as typeof content)).toBe(snapshotVersion(content));
  });

  it('changes when a machine, the site default, the site or the machines\' order changes', () => {
    const v = snapshotVersion(content);
    const m = content.machines[0]!;
    const other = { ...m, mac: '52:54:00:00:00:02' };
    expect(snapshotVersion({ ...content, machines: [{ ...m, netboot: ['bios'] }] })).not.toBe(v);
    expect(snapshotVersion({ ...content, unknownMachines: { netboot: true } })).not.toBe(v);
    expect(snapshotVersion({ ...content, siteId: 'site_oslo' })).not.toBe(v);
    expect(snapshotVersion({ ...content, machines: [m, other] })).not.toBe(snapshotVersion({ ...content, machines: [other, m] }));
  });
});

describe('canonicalJson with keys Object.prototype also has', () => {
  it('sorts and writes only own keys (no inherited constructor or __proto__ leaks in)', () => {
    const withProto = JSON.parse('{"b":{"x":1},"__proto__":{"z":2},"a":{"constructor":"c"}}') as unknown;
    expect(canonicalJson(withProto)).toBe('{"__proto__":{"z":2},"a":{"constructor":"c"},"b":{"x":1}}');
    expect(canonicalJson([{ constructor: 1 }, { b: 2, a: 1 }])).toBe('[{"constructor":1},{"a":1,"b":2}]');
  });

  it('writes integer-like keys in string order, as the sorted key list does', () => {
    expect(canonicalJson({ 10: 'a', 9: 'b', x: { 2: true, 1: false } })).toBe('{"10":"a","9":"b","x":{"1":false,"2":true}}');
  });
});
