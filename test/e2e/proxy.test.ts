import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, randomMac, unique } from '../contract/target.ts';
import { until } from '../relay/support/relay-harness.ts';
import { requireTools } from '../support/netns.ts';
import { startWorkerdCloud, type E2eCloud } from './support/cloud.ts';
import { assign, machine, marker, osFiles, tail, testOsProfile, timeline } from './support/machines.ts';
import { startSite, type Site } from './support/site.ts';

/**
 * Real virtual machines netboot through the relay (proxy mode, beside dnsmasq as the site router)
 * and the cloud in workerd with local D1 and R2: SeaBIOS with qemu's iPXE option ROM, and OVMF with
 * no option ROM (its own PXE stack → TFTP ipxe.efi → iPXE), exactly as a branch office would.
 * What boots is a Debian kernel with a busybox initramfs built at test time (support/os-image.ts).
 */
requireTools(['qemu-system-x86_64', 'dnsmasq']);

let cloud: E2eCloud;
let site: Site;
let profileId: string;
const runs: Record<string, { mac: string; run: Awaited<ReturnType<Site['boot']>> }> = {};

beforeAll(async () => {
  cloud = await startWorkerdCloud();
  await osFiles();
  profileId = await testOsProfile(cloud);
  // Unknown machines get a menu whose timeout falls to the local disk (scenario 4).
  const menu = await call(cloud, 'POST', '/v1/profiles', { json: { name: unique('menu'), spec: { kind: 'menu', title: 'edgeboot test menu', timeoutSeconds: 2, items: [{ label: 'Test OS', profileId }], defaultItem: null } } });
  expect(menu.status).toBe(201);
  site = await startSite({ tag: 'e2eproxy', cloud, mode: 'proxy', net: 92, defaultProfileId: menu.body.id });
}, 300_000);

afterAll(async () => {
  await site?.close();
  await cloud?.close();
});

describe('end to end, proxy mode beside the site router, cloud on workerd', () => {
  for (const firmware of ['bios', 'uefi'] as const) {
    it(`a ${firmware.toUpperCase()} machine with an assignment boots its profile, runs the script the cloud rendered, and reports back`, async () => {
      const mac = randomMac();
      await assign(cloud, site.siteId, mac, profileId);
      const run = await site.boot({ firmware, mac, uuid: crypto.randomUUID(), timeoutMs: 150_000 });
      runs[firmware] = { mac, run };
      const m = marker(run);
      expect(m, tail(run)).not.toBeNull();
      expect(m!.callback, tail(run)).toBe('ok');
      const tl = await until('the boot to succeed in the cloud', async () => {
        const t = await timeline(cloud, mac);
        return t.boots.find((b: any) => b.bootId === m!.bootId && b.outcome === 'succeeded') ? t : null;
      });
      // The marker's boot id is the boot the cloud recorded for this script: the rendered script ran.
      expect(tl.boots[0].bootId).toBe(m!.bootId);
      expect((await machine(cloud, mac)).state).toBe('deployed');
    });
  }

  it('an unknown machine gets the site default (a menu that times out to the local disk) and is listed as discovered', async () => {
    const os = await osFiles();
    const mac = randomMac();
    const uuid = crypto.randomUUID();
    const run = await site.boot({ firmware: 'bios', mac, uuid, disk: await os.disk('unknown'), timeoutMs: 150_000 });
    expect(run.lines.some((l) => l.includes('edgeboot test menu')), tail(run)).toBe(true);
    expect(run.lines.some((l) => l.includes('EDGEBOOT-LOCAL marker=unknown')), tail(run)).toBe(true);
    expect(marker(run)).toBeNull();
    const m = await machine(cloud, mac);
    expect({ mac: m.mac, state: m.state, arch: m.arch, uuid: m.uuid, siteId: m.siteId }).toEqual({ mac, state: 'discovered', arch: 'bios', uuid, siteId: site.siteId });
  });

  it("the UEFI boot's timeline shows every stage — DHCP, TFTP, script, kernel, initrd, callback — with durations", async () => {
    const { mac } = runs.uefi!;
    let seen: unknown[] = [];
    const tl = await until('relay events of the UEFI boot', async () => {
      const t = await timeline(cloud, mac);
      seen = t.boots.map((b: any) => [b.bootId, b.outcome, b.stages.map((s: any) => s.stage).join(' ')]);
      const stages = new Set(t.boots.flatMap((b: any) => b.stages.map((s: any) => s.stage)));
      return ['proxy-offer', 'tftp-done', 'script-fetched', 'file-done', 'callback-succeeded'].every((s) => stages.has(s)) ? t : null;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; the timeline has ${JSON.stringify(seen)}`);
    });
    const boot = tl.boots.find((b: any) => b.outcome === 'succeeded');
    const stages: Array<{ stage: string; durationMs: number | null; detail: any }> = boot.stages;
    const names = stages.map((s) => s.stage);
    for (const s of ['proxy-offer', 'dhcp-request', 'tftp-start', 'tftp-done', 'script-fetched', 'script-rendered', 'file-fetched', 'file-done', 'callback-succeeded']) expect(names, s).toContain(s);
    // Two files (kernel, initrd) were fetched and finished, each with its own duration.
    const done = stages.filter((s) => s.stage === 'file-done');
    expect(new Set(done.map((s) => s.detail?.imageId)).size).toBe(2);
    for (const s of stages.slice(0, -1)) expect(s.durationMs, s.stage).not.toBeNull();
    expect(stages.find((s) => s.stage === 'tftp-done')!.detail?.file ?? stages.find((s) => s.stage === 'tftp-done')!.detail?.name).toBeDefined();
  });
});
