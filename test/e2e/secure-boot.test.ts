import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { modernIpxe, modernIpxeFile } from '../relay/support/boot-files.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomMac } from '../contract/target.ts';
import { relayStateFile, savedMachine, until } from '../relay/support/relay-harness.ts';
import { requireTools } from '../support/netns.ts';
import { startNodeCloud, type E2eCloud } from './support/cloud.ts';
import { imagerFiles, imagerResult, imagingProfile, uploadImage, zstdCompress } from './support/imaging.ts';
import { assign, machine, marker, osFiles, tail, timeline } from './support/machines.ts';
import { profile, signedChainFiles, signedChainImages, untrustedKernel, untrustedSigned } from './support/secure-boot.ts';
import { startSite, type Site } from './support/site.ts';

/**
 * Secure Boot machines netboot through the signed chain: OVMF with Secure Boot on and Microsoft's keys
 * enrolled (Debian's OVMF_CODE_4M.ms.fd / OVMF_VARS_4M.ms.fd, q35 with SMM) → Debian trixie's
 * Microsoft-signed shim → Debian's signed network GRUB → Debian's signed kernel, with shim and GRUB
 * served by the relay from its image cache over TFTP and GRUB's configuration rendered by the cloud
 * per machine (shared/boot/grub-config.ts). Real peers: qemu (TCG), OVMF, shim-signed 16.1,
 * grub-efi-amd64-signed 2.12, a Debian kernel, dnsmasq as the site router (proxy topology), the relay
 * as the only DHCP server (dhcp mode), the cloud on its Node entry.
 */
requireTools(['qemu-system-x86_64', 'dnsmasq', 'sbsign', 'sbattach', 'openssl']);

let cloud: E2eCloud;
let proxy: Site;
let dhcp: Site;
let chain: { shim: string; grub: string };
let kernel: string;
let initrd: string;
const CMDLINE = 'console=ttyS0 quiet panic=-1 edgeboot.callback={{callbackUrl}} edgeboot.token={{callbackToken}} edgeboot.marker={{bootId}}';

beforeAll(async () => {
  cloud = await startNodeCloud();
  const os = await osFiles();
  await signedChainFiles();
  await imagerFiles();
  await modernIpxe();
  chain = await signedChainImages(cloud);
  kernel = (await uploadImage(cloud, readFileSync(os.vmlinuz), 'vmlinuz-signed', 'kernel')).id;
  initrd = (await uploadImage(cloud, readFileSync(os.initrd), 'initrd', 'initrd')).id;
  [proxy, dhcp] = await Promise.all([startSite({ tag: 'e2esbproxy', cloud, mode: 'proxy', net: 95 }), startSite({ tag: 'e2esbdhcp', cloud, mode: 'dhcp', net: 96 })]);
}, 300_000);

afterAll(async () => {
  await proxy?.close();
  await dhcp?.close();
  await cloud?.close();
});

/** The console's tail and the relay's last log lines: where a failed boot stopped, from both sides. */
const why = (run: Parameters<typeof tail>[0], site: Site) => `${run.lines.slice(-40).map((l, i, a) => `[${run.at[run.at.length - a.length + i]}ms] ${l}`).join('\n')}\n--- relay:\n${site.relay.process.stdout.slice(-25).join('\n')}`;

const stages = (t: any): string[] => t.boots.flatMap((b: any) => b.stages.map((s: any) => s.stage));

/** Waits until the relay's snapshot names the chain and its cache holds shim and GRUB (what DHCP waits for). */
async function chainReady(site: Site, mac: string): Promise<void> {
  await until('the relay to hold the signed chain for the machine', async () => {
    const m = savedMachine(site.relay.stateDir, mac);
    const sources = relayStateFile(site.relay.stateDir, 'cache/sources.json') ?? {};
    return m?.loader?.shim === chain.shim && sources[chain.shim]?.sha256 && sources[chain.grub]?.sha256;
  }, 60_000); // a relay back from a WAN cut resyncs after its backoff
}

describe('Secure Boot: firmware → shim → GRUB → kernel through the relay', () => {
  it('in proxy mode, a Secure Boot machine boots its signed kernel to the marker and reports back; the timeline shows shim, GRUB, its configuration and every file', async () => {
    const mac = randomMac();
    const p = await profile(cloud, { kind: 'linux', kernel, initrds: [initrd], cmdline: CMDLINE, ...chain });
    await assign(cloud, proxy.siteId, mac, p);
    await chainReady(proxy, mac);
    const run = await proxy.boot({ firmware: 'uefi', secureBoot: true, mac, timeoutMs: 200_000 });
    const m = marker(run);
    expect(m, why(run, proxy)).not.toBeNull();
    expect(m!.callback, tail(run)).toBe('ok');
    // GRUB really ran under Secure Boot with lockdown: shim's and GRUB's own lines are on the console.
    expect(run.lines.some((l) => l.includes('edgeboot: loading the kernel and initrd')), tail(run)).toBe(true);
    const tl = await until('the boot and its relay stages in the timeline', async () => {
      const t = await timeline(cloud, mac);
      const s = new Set(stages(t));
      return t.boots.some((b: any) => b.bootId === m!.bootId && b.outcome === 'succeeded') && ['tftp-done', 'script-fetched', 'file-done'].every((x) => s.has(x)) ? t : null;
    });
    const all = tl.boots.flatMap((b: any) => b.stages);
    const tftp = all.filter((s: any) => s.stage === 'tftp-done').map((s: any) => String(s.detail?.file));
    expect(tftp).toContain(`sb/${chain.shim}/${chain.grub}/shimx64.efi`);
    expect(tftp).toContain(`sb/${chain.shim}/${chain.grub}/grubx64.efi`);
    expect(tftp).toContain('/grub/grub.cfg');
    expect(all.find((s: any) => s.stage === 'script-fetched')!.detail).toMatchObject({ loader: 'grub', source: 'cloud' });
    expect(new Set(all.filter((s: any) => s.stage === 'file-done').map((s: any) => s.detail?.imageId))).toEqual(new Set([kernel, initrd]));
    expect((await machine(cloud, mac)).state).toBe('deployed');
  });

  it('with the WAN cut, a machine that booted once boots again from the relay alone (cached GRUB configuration, shim, GRUB and files)', async () => {
    const mac = randomMac();
    const p = await profile(cloud, { kind: 'linux', kernel, initrds: [initrd], cmdline: CMDLINE, ...chain });
    await assign(cloud, proxy.siteId, mac, p);
    await chainReady(proxy, mac);
    const first = marker(await proxy.boot({ firmware: 'uefi', secureBoot: true, mac, timeoutMs: 200_000 }));
    expect(first, 'the first boot, with the WAN up').not.toBeNull();
    proxy.bridge.cut();
    try {
      const run = await proxy.boot({ firmware: 'uefi', secureBoot: true, mac, timeoutMs: 200_000 });
      const m = marker(run);
      expect(m, why(run, proxy)).not.toBeNull();
      // The configuration the cloud rendered for the last boot, served from the relay's copy.
      expect(m!.bootId).toBe(first!.bootId);
    } finally {
      proxy.bridge.restore();
    }
  });

  it('a kernel signed by a key shim does not trust is refused under Secure Boot, GRUB leaves to the firmware, and the timeline says why', async () => {
    const os = await osFiles();
    const bad = (await uploadImage(cloud, readFileSync(untrustedKernel(os.vmlinuz)), 'vmlinuz-untrusted', 'kernel')).id;
    const mac = randomMac();
    const p = await profile(cloud, { kind: 'linux', kernel: bad, initrds: [initrd], cmdline: CMDLINE, ...chain });
    await assign(cloud, proxy.siteId, mac, p);
    await chainReady(proxy, mac);
    const run = await proxy.boot({ firmware: 'uefi', secureBoot: true, mac, timeoutMs: 200_000, stopOn: /leaving to the firmware/ });
    expect(marker(run), tail(run)).toBeNull();
    expect(run.lines.some((l) => l.includes('could not load the kernel (try 2 of 2)')), tail(run)).toBe(true);
    const failed = await until('a loader-failed stage', async () => (await timeline(cloud, mac)).boots.flatMap((b: any) => b.stages).find((s: any) => s.stage === 'loader-failed'));
    expect(failed.detail).toMatchObject({ loader: 'grub', reason: 'kernel-refused' });
  });

  it('an EFI binary signed by a key not in the firmware\'s db, named as the shim, is refused by the firmware, and the timeline says so', async () => {
    const fake = (await uploadImage(cloud, readFileSync(untrustedSigned(modernIpxeFile('ipxe.efi'))), 'fake-shim', 'efi')).id;
    const mac = randomMac();
    const p = await profile(cloud, { kind: 'linux', kernel, initrds: [initrd], cmdline: CMDLINE, shim: fake, grub: chain.grub });
    await assign(cloud, proxy.siteId, mac, p);
    await until('the relay to hold the fake shim', async () => {
      const sources = relayStateFile(proxy.relay.stateDir, 'cache/sources.json') ?? {};
      return savedMachine(proxy.relay.stateDir, mac)?.loader?.shim === fake && sources[fake]?.sha256;
    });
    const stop = new AbortController();
    const failed = until('a loader-failed stage', async () => (await timeline(cloud, mac)).boots.flatMap((b: any) => b.stages).find((s: any) => s.stage === 'loader-failed'), 180_000);
    failed.finally(() => stop.abort()).catch(() => {});
    const run = await proxy.boot({ firmware: 'uefi', secureBoot: true, mac, timeoutMs: 200_000, signal: stop.signal });
    // OVMF's own words, then the relay's reading of what followed.
    expect(run.lines.some((l) => /Access Denied/.test(l)), tail(run)).toBe(true);
    expect((await failed).detail).toMatchObject({ loader: 'shim', reason: 'shim-refused' });
    expect(marker(run)).toBeNull();
  });

  it('a one-shot imaging profile images the disk of a Secure Boot machine (the imager boots on the signed chain)', async () => {
    const mac = randomMac();
    const raw = new Uint8Array(4 << 20).map((_, i) => (i * 7) & 0xff);
    const stored = zstdCompress(raw);
    const image = await uploadImage(cloud, stored, 'sb-disk', 'disk-zst');
    const p = await imagingProfile(cloud, image.id, chain);
    await assign(cloud, dhcp.siteId, mac, p, { once: true });
    await chainReady(dhcp, mac);
    const disk = join(dhcp.work, `sb-disk-${mac.replace(/:/g, '')}.img`);
    writeFileSync(disk, new Uint8Array(0));
    truncateSync(disk, 32 << 20);
    const run = await dhcp.boot({ firmware: 'uefi', secureBoot: true, mac, disk, timeoutMs: 240_000 });
    expect(imagerResult(run), why(run, dhcp)).toEqual({ result: 'succeeded', action: 'reboot' });
    expect(readFileSync(disk).subarray(0, raw.length).equals(raw)).toBe(true);
    await until('the machine to be deployed', async () => ((await machine(cloud, mac)).state === 'deployed' ? true : null));
    const stages = (await timeline(cloud, mac)).boots.flatMap((b: any) => b.stages.map((s: any) => s.stage));
    for (const s of ['tftp-done', 'script-fetched', 'callback-job', 'callback-succeeded']) expect(stages, s).toContain(s);
  });

  it('in DHCP mode (the relay is the only DHCP server), a Secure Boot machine boots its signed kernel to the marker', async () => {
    const mac = randomMac();
    const p = await profile(cloud, { kind: 'linux', kernel, initrds: [initrd], cmdline: CMDLINE, ...chain });
    await assign(cloud, dhcp.siteId, mac, p);
    await chainReady(dhcp, mac);
    const run = await dhcp.boot({ firmware: 'uefi', secureBoot: true, mac, timeoutMs: 200_000 });
    const m = marker(run);
    expect(m, tail(run)).not.toBeNull();
    expect(m!.callback, tail(run)).toBe('ok');
    await until('the boot to succeed in the cloud', async () => (await timeline(cloud, mac)).boots.some((b: any) => b.bootId === m!.bootId && b.outcome === 'succeeded'));
  });
});
