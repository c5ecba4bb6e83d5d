import { describe, expect, it } from 'vitest';
import { DEFAULT_BOOT_FILES, IpxeUpgrades, upgradeDecision, type UpgradeInput } from '../../../relay/src/dhcp/boot-target.ts';
import { classify } from '../../../relay/src/dhcp/classify.ts';
import type { DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { getOption } from '../../../relay/src/dhcp/codec.ts';
import { OPT } from '../../../relay/src/dhcp/options.ts';
import { proxyOffer, fullReply, type PxeClient } from '../../../relay/src/dhcp/reply.ts';
import { fixture } from './fixtures.ts';

/**
 * Chaining an old iPXE once to the relay's own (`[dhcp] upgrade_ipxe`). The old client is qemu's
 * SeaBIOS NIC ROM (iPXE 2019, captured in fixtures/ipxe-discover: option 175 without 175.20); the modern
 * one is trixie's ipxe-arm64.efi as AAVMF ran it (fixtures/ipxe-2025-arm64-discover: 175.20 = 1).
 */
function pxe(req: DhcpPacket): PxeClient {
  const c = classify(req);
  if (!c.pxe) throw new Error(c.reason);
  return c;
}
const oldRom = () => pxe(fixture('ipxe-discover'));
const modern = () => pxe(fixture('ipxe-2025-arm64-discover'));
const input = (over: Partial<UpgradeInput> = {}): UpgradeInput => ({ policy: 'when-needed', needsHttps: true, bootFiles: DEFAULT_BOOT_FILES, chainedAt: null, now: 1_000_000, windowMs: 120_000, ...over });

describe('upgradeDecision', () => {
  it('chains an old BIOS ROM iPXE to undionly.kpxe when a direct https:// URL needs HTTPS', () => {
    expect(oldRom().ipxe?.https).toBe(false);
    expect(upgradeDecision(oldRom(), input())).toEqual({ chain: true, target: { kind: 'tftp', file: 'undionly.kpxe' } });
  });

  it('chains an old UEFI iPXE to ipxe.efi (by its option 93)', () => {
    const req = fixture('ipxe-discover');
    const uefi: DhcpPacket = { ...req, options: req.options.map((o) => (o.code === OPT.clientArch ? { code: o.code, data: Uint8Array.of(0, 7) } : o)) };
    expect(upgradeDecision(pxe(uefi), input())).toEqual({ chain: true, target: { kind: 'tftp', file: 'ipxe.efi' } });
  });

  it('never chains an iPXE that reports HTTPS (the relay’s own binary): no loop', () => {
    expect(modern().ipxe?.https).toBe(true);
    for (const policy of ['never', 'when-needed', 'always'] as const) expect(upgradeDecision(modern(), input({ policy }))).toEqual({ chain: false, reason: 'has-https' });
  });

  it('leaves an old iPXE on the LAN path when nothing needs HTTPS, unless the policy is always', () => {
    expect(upgradeDecision(oldRom(), input({ needsHttps: false }))).toEqual({ chain: false, reason: 'not-needed' });
    expect(upgradeDecision(oldRom(), input({ needsHttps: false, policy: 'always' }))).toMatchObject({ chain: true });
    expect(upgradeDecision(oldRom(), input({ policy: 'never' }))).toEqual({ chain: false, reason: 'policy' });
  });

  it('does not chain firmware (it gets its binary anyway)', () => {
    expect(upgradeDecision(pxe(fixture('ovmf-discover')), input({ policy: 'always' }))).toEqual({ chain: false, reason: 'not-ipxe' });
  });

  it('does not chain the same MAC again within the window, and does after it', () => {
    expect(upgradeDecision(oldRom(), input({ chainedAt: 1_000_000 - 119_000 }))).toMatchObject({ chain: false, reason: 'chained-recently', note: expect.stringMatching(/119 s ago.*boot_files/) });
    expect(upgradeDecision(oldRom(), input({ chainedAt: 1_000_000 - 120_000 }))).toMatchObject({ chain: true });
  });

  it('says why when no binary is configured for the architecture', () => {
    expect(upgradeDecision(oldRom(), input({ bootFiles: { ...DEFAULT_BOOT_FILES, bios: '' } }))).toEqual({ chain: false, reason: 'no-binary', note: 'no boot file configured for x86 BIOS' });
  });
});

describe('IpxeUpgrades (per-MAC memory)', () => {
  it('chains once, then gives the script, counts the refusal and reports it once per MAC', () => {
    let now = 5_000;
    const refused: string[] = [];
    const u = new IpxeUpgrades({ policy: 'when-needed', needsHttps: true, bootFiles: DEFAULT_BOOT_FILES, now: () => now, onRefused: (mac, note) => refused.push(`${mac} ${note}`) });
    expect(u.target(oldRom())).toEqual({ kind: 'tftp', file: 'undionly.kpxe' });
    // The chained binary DHCPs again: a modern one reports HTTPS and gets its script.
    now += 8_000;
    expect(u.target(modern())).toBeNull();
    // A chained binary without HTTPS (boot_files holding an old iPXE) is not chained again…
    expect(u.target(oldRom())).toBeNull();
    expect(u.target(oldRom())).toBeNull();
    expect(u.counts).toEqual({ chained: 1, 'chained-recently': 2 });
    // …and reported once.
    expect(refused).toEqual([expect.stringMatching(/^52:54:00:e8:00:01 chained to undionly.kpxe 8 s ago/)]);
    // A reboot after the window is chained again.
    now += 200_000;
    expect(u.target(oldRom())).toEqual({ kind: 'tftp', file: 'undionly.kpxe' });
  });

  it('with policy never, or nothing needing HTTPS, chains nobody', () => {
    expect(new IpxeUpgrades({ policy: 'never', needsHttps: true, bootFiles: DEFAULT_BOOT_FILES }).target(oldRom())).toBeNull();
    expect(new IpxeUpgrades({ policy: 'when-needed', needsHttps: false, bootFiles: DEFAULT_BOOT_FILES }).target(oldRom())).toBeNull();
  });
});

describe('the chain-once reply', () => {
  it('offers the old iPXE the binary by TFTP: file + siaddr, no option 43, no 175 (proxy)', () => {
    const req = fixture('ipxe-discover');
    const r = proxyOffer(req, oldRom(), { kind: 'tftp', file: 'undionly.kpxe' }, { serverIp: '10.77.0.2' });
    expect([r.packet.file, r.packet.siaddr]).toEqual(['undionly.kpxe', '10.77.0.2']);
    expect(getOption(r.packet, OPT.bootFileName)).toBeUndefined();
    expect(getOption(r.packet, OPT.vendorEncap)).toBeUndefined();
    expect(getOption(r.packet, OPT.ipxeEncap)).toBeUndefined();
  });

  it('in full mode keeps 175.176 = 1 beside the binary', () => {
    const req = fixture('ipxe-discover');
    const lease = { address: '10.77.0.150', leaseSeconds: 600, subnetMask: '255.255.255.0', routers: [], dnsServers: [] };
    const r = fullReply('offer', req, lease, oldRom(), { kind: 'tftp', file: 'undionly.kpxe' }, { serverIp: '10.77.0.2' });
    expect(r.packet.file).toBe('undionly.kpxe');
    expect([...getOption(r.packet, OPT.ipxeEncap)!]).toEqual([176, 1, 1]);
  });
});
