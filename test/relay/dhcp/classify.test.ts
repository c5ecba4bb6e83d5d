import { describe, expect, it } from 'vitest';
import { classify } from '../../../relay/src/dhcp/classify.ts';
import type { DhcpPacket } from '../../../relay/src/dhcp/codec.ts';
import { OPT } from '../../../relay/src/dhcp/options.ts';
import { fixture } from './fixtures.ts';

const text = (s: string) => new TextEncoder().encode(s);
function without(p: DhcpPacket, ...codes: number[]): DhcpPacket {
  return { ...p, options: p.options.filter((o) => !codes.includes(o.code)) };
}
function withOption(p: DhcpPacket, code: number, data: Uint8Array): DhcpPacket {
  return { ...without(p, code), options: [...without(p, code).options, { code, data }] };
}

describe('classify', () => {
  it('takes OVMF (PXEClient, arch 7, no user class) for x64 UEFI firmware', () => {
    expect(classify(fixture('ovmf-discover'))).toEqual({
      pxe: true,
      kind: 'firmware',
      mac: '52:54:00:e8:00:02',
      arch: { code: 7, arch: 'uefi-x64', http: false, name: 'x64 UEFI' },
      guid: '4e2c8d0f6b5a7c4d8e9fa1b2c3d4e5f6',
      ipxe: null,
      vendorClass: 'PXEClient:Arch:00007:UNDI:003000',
    });
  });

  it("takes OVMF's HTTP boot DISCOVER (HTTPClient, arch 16) for UEFI HTTP boot", () => {
    const c = classify(fixture('ovmf-http-discover'));
    expect(c).toMatchObject({ pxe: true, kind: 'http-boot', arch: { code: 16, arch: 'uefi-x64', http: true } });
  });

  it("takes qemu's NIC ROM for iPXE, not for firmware, and reads its features from 175", () => {
    const c = classify(fixture('ipxe-discover'));
    expect(c).toMatchObject({ pxe: true, kind: 'ipxe', mac: '52:54:00:e8:00:01', arch: { code: 0, arch: 'bios' } });
    expect(c.pxe && c.ipxe).toEqual({
      https: false,
      version: '1.0.0',
      features: ['aoe', 'bzimage', 'dns', 'elf', 'http', 'iscsi', 'menu', 'multiboot', 'nfs', 'pxe', 'pxeext', 'tftp'],
    });
  });

  it("recognises iPXE's 4011 REQUEST, whose option 60 is a bare PXEClient", () => {
    expect(classify(fixture('ipxe-request-4011'))).toMatchObject({ pxe: true, kind: 'ipxe', arch: { arch: 'bios' } });
  });

  it('flags HTTPS from 175.20', () => {
    const p = withOption(fixture('ipxe-discover'), OPT.ipxeEncap, Uint8Array.of(20, 1, 1, 19, 1, 1));
    expect(classify(p)).toMatchObject({ ipxe: { https: true, features: ['http', 'https'] } });
  });

  it('recognises iPXE by option 175 alone and by user class alone', () => {
    expect(classify(without(fixture('ipxe-discover'), OPT.userClass))).toMatchObject({ kind: 'ipxe' });
    expect(classify(without(fixture('ipxe-discover'), OPT.ipxeEncap))).toMatchObject({ kind: 'ipxe', ipxe: { https: false, features: [], version: null } });
  });

  it('takes the scripted BIOS ROM for BIOS firmware', () => {
    expect(classify(fixture('bios-rom-discover'))).toMatchObject({ pxe: true, kind: 'firmware', arch: { code: 0, arch: 'bios' }, ipxe: null });
  });

  it('reads the architecture from option 60 when an old ROM omits option 93', () => {
    expect(classify(without(fixture('ovmf-discover'), OPT.clientArch))).toMatchObject({ pxe: true, arch: { code: 7 } });
  });

  it('takes the first architecture it serves from a list', () => {
    expect(classify(withOption(fixture('ovmf-discover'), OPT.clientArch, Uint8Array.of(0, 8, 0, 11)))).toMatchObject({ arch: { code: 11, arch: 'uefi-arm64' } });
  });

  it('reports a machine GUID of all zeros as absent', () => {
    const zero = withOption(fixture('ovmf-discover'), OPT.clientGuid, new Uint8Array(17));
    expect(classify(zero)).toMatchObject({ guid: null });
  });

  it('ignores a DISCOVER without option 60', () => {
    expect(classify(without(fixture('ovmf-discover'), OPT.vendorClass))).toEqual({ pxe: false, reason: 'no vendor class (option 60)' });
  });

  it('ignores a client whose vendor class is not PXE', () => {
    expect(classify(withOption(fixture('ovmf-discover'), OPT.vendorClass, text('MSFT 5.0')))).toEqual({ pxe: false, reason: 'vendor class "MSFT 5.0" is not PXEClient or HTTPClient' });
  });

  it('ignores an architecture edgeboot does not boot', () => {
    expect(classify(withOption(fixture('ovmf-discover'), OPT.clientArch, Uint8Array.of(0, 2)))).toEqual({ pxe: false, reason: 'client architecture 2 is not one edgeboot boots' });
  });

  it('ignores a PXE client with no architecture anywhere', () => {
    const p = withOption(without(fixture('ovmf-discover'), OPT.clientArch), OPT.vendorClass, text('PXEClient'));
    expect(classify(p)).toEqual({ pxe: false, reason: 'no client architecture (option 93)' });
  });

  it('ignores non-Ethernet hardware and replies', () => {
    expect(classify({ ...fixture('ovmf-discover'), htype: 6 })).toEqual({ pxe: false, reason: 'hardware type 6/6 is not Ethernet' });
    expect(classify(fixture('dnsmasq-proxy-offer-to-ovmf'))).toEqual({ pxe: false, reason: 'not a BOOTREQUEST' });
  });
});
