import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeDhcp, getOption, type DhcpPacket } from '../../relay/src/dhcp/codec.ts';
import { IPXE_SUBOPTIONS, MESSAGE_TYPES, OPT } from '../../relay/src/dhcp/options.ts';
import { fromHex, ipxeOptions, messageType } from '../../relay/src/dhcp/read.ts';
import type { Credentials } from '../../relay/src/sync/credentials.ts';
import { randomMac } from '../contract/target.ts';
import { createTestbed, requireTools, type Testbed } from '../support/netns.ts';
import { cloudBridge, type CloudBridge, pxeClient, startForwarder, startRelayInNs, type RelayInNs } from './support/lan.ts';
import { bootableMachine, createSite, enrolledCredentials, randomBytesOf, startTestCloud, uploadImage, type TestCloud } from './support/test-cloud.ts';

/**
 * The relay as the only DHCP server of an isolated provisioning network (`mode = "dhcp"`), in network
 * namespaces, with busybox udhcpc and the scripted PXE client as peers. The pool is four addresses, so
 * exhaustion, release, decline and persistence across a restart are all in reach.
 */
requireTools(['udhcpc', 'curl']);

const RELAY_IP = '10.89.0.2';
const RANGE = ['10.89.0.100', '10.89.0.103'];

let bed: Testbed;
let cloud: TestCloud;
let bridge: CloudBridge;
let creds: Credentials;
let relay: RelayInNs;
let stateDir: string;
let work: string;
let pxeMac: string;
const toml = `interface = "eth0"\nmode = "dhcp"\nboot_files = "/usr/lib/ipxe"\n[http]\nport = 8080\npublic_url = "http://${RELAY_IP}:8080"\n[sync]\nwait_seconds = 5\n[dhcp]\nrange = ${JSON.stringify(RANGE)}\nrouters = ["10.89.0.1"]\ndns = ["10.89.0.1"]\ndomain = "prov.example"\nlease_seconds = 600\n`;

type Line = Record<string, unknown>;
const replies = (lines: Line[], step?: number) =>
  lines.filter((l) => l.event === 'reply' && String(l.from).startsWith(`${RELAY_IP}:`) && (step === undefined || l.step === step)).map((l) => ({ ms: l.ms as number, pkt: decodeDhcp(fromHex(l.hex as string)) as DhcpPacket }));
const lease = (lines: Line[]) => lines.find((l) => l.event === 'lease') as { address: string } | undefined;
const dora = (mac: string, kind = 'plain') => pxeClient(bed, 'client', { kind, mac, steps: [{ do: 'dora', wait: 1500 }] });

beforeAll(async () => {
  cloud = await startTestCloud();
  const site = await createSite(cloud);
  creds = await enrolledCredentials(cloud, site);
  pxeMac = (await bootableMachine(cloud, site, [(await uploadImage(cloud, randomBytesOf(4096))).id])).mac;
  work = mkdtempSync(join(tmpdir(), 'edgeboot-lan-dhcp-'));
  stateDir = join(work, 'relay');
  bridge = await cloudBridge(cloud, join(work, 'cloud.sock'));
  bed = await createTestbed('landhcp');
  await bed.namespace('relay');
  await bed.namespace('client');
  await bed.lan('lan');
  await bed.attach('relay', 'lan', 'eth0', `${RELAY_IP}/24`, { broadcastRoute: false });
  await bed.attach('client', 'lan', 'eth0');
  await startForwarder(bed, 'relay', join(work, 'cloud.sock'));
  relay = await startRelayInNs(bed, 'relay', { creds, stateDir, toml });
}, 120_000);

afterAll(async () => {
  await bed?.cleanup();
  bridge?.close();
  await cloud?.close();
});

describe('relay in full DHCP mode (network namespaces)', () => {
  it('leases busybox udhcpc an address from the range with the configured router, DNS and domain', async () => {
    const script = join(work, 'udhcpc.sh');
    writeFileSync(script, '#!/bin/sh\n[ "$1" = bound ] && echo "bound ip=$ip subnet=$subnet router=$router dns=$dns domain=$domain serverid=$serverid lease=$lease"\nexit 0\n');
    chmodSync(script, 0o755);
    const r = await bed.run('client', 'udhcpc', ['-i', 'eth0', '-f', '-q', '-n', '-t', '5', '-T', '1', '-s', script], { timeoutMs: 20_000 });
    const bound = /bound ip=(\S+) subnet=(\S+) router=(\S+) dns=(\S+) domain=(\S+) serverid=(\S+) lease=(\S+)/.exec(r.stdout);
    expect(bound, `${r.stdout}\n${r.stderr}`).not.toBeNull();
    const [, ip, subnet, router, dns, domain, serverid, leaseSeconds] = bound!;
    expect(ip).toMatch(/^10\.89\.0\.10[0-3]$/);
    expect({ subnet, router, dns, domain, serverid, leaseSeconds }).toEqual({ subnet: '255.255.255.0', router: '10.89.0.1', dns: '10.89.0.1', domain: 'prov.example', serverid: RELAY_IP, leaseSeconds: '600' });
  });

  it('gives UEFI firmware an address and ipxe.efi from the relay in the same ACK (no 4011 round trip)', async () => {
    const lines = await dora(pxeMac, 'uefi');
    const [offer] = replies(lines, 0);
    const acks = replies(lines).filter((r) => messageType(r.pkt) === MESSAGE_TYPES.ACK);
    expect(offer!.pkt.file).toBe('ipxe.efi');
    expect(acks).toHaveLength(1);
    expect(acks[0]!.pkt.file).toBe('ipxe.efi');
    expect(acks[0]!.pkt.siaddr).toBe(RELAY_IP);
    expect(getOption(acks[0]!.pkt, OPT.vendorClass)).toBeUndefined();
    expect(lease(lines)?.address).toBe(acks[0]!.pkt.yiaddr);
  });

  it('gives iPXE its script URL with 175.176 set (no wait for a ProxyDHCP that does not exist), the same address again', async () => {
    const before = lease(await dora(pxeMac, 'uefi'))!.address;
    const lines = await dora(pxeMac, 'ipxe');
    const ack = replies(lines).find((r) => messageType(r.pkt) === MESSAGE_TYPES.ACK)!;
    expect(ack.pkt.yiaddr).toBe(before);
    expect(ack.pkt.file).toMatch(new RegExp(`^http://${RELAY_IP}:8080/boot\\?mac=${pxeMac.replaceAll(':', '-')}&nonce=[A-Za-z0-9_-]{22}&arch=0`));
    expect(ipxeOptions(ack.pkt)?.get(IPXE_SUBOPTIONS.noPxeDhcp)).toEqual(Uint8Array.of(1));
  });

  it('answers an exhausted pool with silence (not a loop), keeps serving its clients, and reuses a released address', async () => {
    const held: Array<{ mac: string; address: string }> = [];
    for (let i = 0; i < 6; i++) {
      const mac = randomMac();
      const l = lease(await dora(mac));
      if (!l) break;
      held.push({ mac, address: l.address });
    }
    expect(held.length).toBeLessThanOrEqual(4); // 10.89.0.100–103
    const late = randomMac();
    const nothing = await pxeClient(bed, 'client', { kind: 'plain', mac: late, steps: [{ do: 'discover', wait: 1500 }] });
    expect(replies(nothing)).toHaveLength(0);
    // Still serving: a bound client's INIT-REBOOT REQUEST is ACKed at once.
    const again = await pxeClient(bed, 'client', { kind: 'plain', mac: held[0]!.mac, steps: [{ do: 'request', address: held[0]!.address, serverId: null, wait: 1000 }] });
    const ack = replies(again)[0]!;
    expect(messageType(ack.pkt)).toBe(MESSAGE_TYPES.ACK);
    expect(ack.ms).toBeLessThan(500);
    const metrics = await bed.run('relay', 'curl', ['-sS', `http://${RELAY_IP}:8080/metrics`]);
    expect(metrics.stdout).toMatch(/^edgeboot_relay_dhcp_ignored\{reason="pool-exhausted"\} [1-9]/m);
    // A release makes room for the late client.
    await pxeClient(bed, 'client', { kind: 'plain', mac: held[0]!.mac, steps: [{ do: 'dora', wait: 1000 }, { do: 'assign' }, { do: 'release' }] });
    expect(lease(await dora(late))?.address).toBe(held[0]!.address);
  });

  it('NAKs a REQUEST for an address of another network or another client', async () => {
    const lines = await pxeClient(bed, 'client', { kind: 'plain', mac: randomMac(), steps: [{ do: 'request', address: '192.168.7.7', serverId: null, wait: 1000 }] });
    expect(messageType(replies(lines)[0]!.pkt)).toBe(MESSAGE_TYPES.NAK);
  });

  it('keeps its leases across a restart (journal on disk): the same client gets the same address', async () => {
    const before = lease(await dora(pxeMac, 'uefi'))!.address;
    await relay.stop();
    expect(readFileSync(join(stateDir, 'leases.jsonl'), 'utf8')).toContain(`"mac":"${pxeMac}"`);
    // The snapshot on disk is current, so the restarted relay logs no "snapshot updated".
    relay = await startRelayInNs(bed, 'relay', { creds, stateDir, toml, waitForSnapshot: false });
    const offer = replies(await pxeClient(bed, 'client', { kind: 'uefi', mac: pxeMac, steps: [{ do: 'discover', wait: 1000 }] }))[0]!;
    expect(offer.pkt.yiaddr).toBe(before);
  });
});
