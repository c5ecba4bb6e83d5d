import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomMac } from '../contract/target.ts';
import { savedMachine, until } from '../relay/support/relay-harness.ts';
import { requireTools } from '../support/netns.ts';
import { startNodeCloud, type E2eCloud } from './support/cloud.ts';
import { assign, machine, marker, osFiles, tail, testOsProfile, timeline } from './support/machines.ts';
import { startSite, type Site } from './support/site.ts';

/**
 * Real virtual machines on an isolated provisioning network where the relay is the DHCP server
 * (`mode = "dhcp"`), with the cloud on its Node entry (SQLite and a folder): first boots on BIOS and
 * UEFI, a one-shot install that hands the machine to its local disk, and a boot through a WAN cut.
 */
requireTools(['qemu-system-x86_64']);

let cloud: E2eCloud;
let site: Site;
let profileId: string;
let known: string;

beforeAll(async () => {
  cloud = await startNodeCloud();
  await osFiles();
  profileId = await testOsProfile(cloud);
  site = await startSite({ tag: 'e2edhcp', cloud, mode: 'dhcp', net: 93 });
}, 300_000);

afterAll(async () => {
  await site?.close();
  await cloud?.close();
});


describe('end to end, relay as the DHCP server, cloud on the Node entry', () => {
  for (const firmware of ['bios', 'uefi'] as const) {
    it(`a ${firmware.toUpperCase()} machine gets its address and its profile from the relay alone`, async () => {
      const mac = randomMac();
      await assign(cloud, site.siteId, mac, profileId);
      const run = await site.boot({ firmware, mac, timeoutMs: 150_000 });
      const m = marker(run);
      expect(m, tail(run)).not.toBeNull();
      expect(m!.callback, tail(run)).toBe('ok');
      await until('the boot to succeed in the cloud', async () => (await timeline(cloud, mac)).boots.some((b: any) => b.bootId === m!.bootId && b.outcome === 'succeeded'));
      if (firmware === 'bios') known = mac;
    });
  }

  it('a one-shot install boots the installer once, then the same machine boots its local disk', async () => {
    const os = await osFiles();
    const disk = await os.disk('installed');
    const mac = randomMac();
    await assign(cloud, site.siteId, mac, profileId, { once: true });
    const first = await site.boot({ firmware: 'bios', mac, disk, timeoutMs: 150_000 });
    expect(marker(first)?.callback, tail(first)).toBe('ok');
    expect((await until('the machine to be deployed', async () => ((await machine(cloud, mac)).state === 'deployed' ? true : null))));
    // The consumed one-shot reaches the relay's snapshot: no PXE answer for this machine any more.
    await until('the relay to learn that the machine boots from disk', async () => savedMachine(site.relay.stateDir, mac)?.netboot === false, 30_000);
    const second = await site.boot({ firmware: 'bios', mac, disk, timeoutMs: 150_000 });
    expect(marker(second), tail(second)).toBeNull();
    expect(second.lines.some((l) => l.includes('EDGEBOOT-LOCAL marker=installed')), tail(second)).toBe(true);
  });

  it('a known machine boots through a WAN cut from what the relay holds, and its events reach the cloud once it is back', async () => {
    expect(known).toBeDefined();
    const before = (await timeline(cloud, known)).boots.length;
    await cloud.stop();
    let run;
    try {
      run = await site.boot({ firmware: 'bios', mac: known, timeoutMs: 150_000 });
    } finally {
      await cloud.start();
    }
    const m = marker(run);
    expect(m, tail(run)).not.toBeNull();
    // The script came from the relay's cache: the same boot id as the last boot the cloud rendered.
    const t = await until('the cut boot events in the cloud', async () => {
      const tl = await timeline(cloud, known);
      const stages = tl.boots.flatMap((b: any) => b.stages);
      const cached = stages.filter((s: any) => s.stage === 'script-fetched' && s.detail?.source === 'cache');
      return cached.length >= 1 ? tl : null;
    }, 60_000);
    expect(t.boots.length).toBeGreaterThanOrEqual(before);
    const ids = t.boots.flatMap((b: any) => b.stages.map((s: any) => s.id));
    expect(new Set(ids).size).toBe(ids.length);
  });
});
