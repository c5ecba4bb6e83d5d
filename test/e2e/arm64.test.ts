import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, randomMac, unique } from '../contract/target.ts';
import { until } from '../relay/support/relay-harness.ts';
import { requireTools } from '../support/netns.ts';
import { startNodeCloud, type E2eCloud } from './support/cloud.ts';
import { assign, timeline } from './support/machines.ts';
import { startSite, type Site } from './support/site.ts';

/**
 * An arm64 UEFI machine netboots through the relay: qemu-system-aarch64 (TCG, `virt`, Cortex-A57) with
 * Debian's AAVMF firmware (`qemu-efi-aarch64`) and no NIC option ROM, so the firmware's own PXE sends
 * option 93 = 11 → the relay's proxy offer names ipxe-arm64.efi → TFTP → trixie's iPXE for arm64 DHCPs
 * again (option 175 with HTTPS) → fetches its script from the relay → runs what the cloud rendered
 * (a raw iPXE profile for arm64 that prints a marker with the boot id). ~25 s of emulated boot.
 */
requireTools(['qemu-system-aarch64', 'dnsmasq']);

const AAVMF_CODE = '/usr/share/AAVMF/AAVMF_CODE.fd';
const AAVMF_VARS = '/usr/share/AAVMF/AAVMF_VARS.fd';

let cloud: E2eCloud;
let site: Site;

beforeAll(async () => {
  cloud = await startNodeCloud();
  site = await startSite({ tag: 'e2earm', cloud, mode: 'proxy', net: 94 });
}, 300_000);

afterAll(async () => {
  await site?.close();
  await cloud?.close();
});

/** Boots the arm64 VM until a console line matches `stop` (or the timeout), returning its console. */
async function bootArm64(mac: string, stop: RegExp, timeoutMs: number): Promise<string[]> {
  const tap = 'taparm0';
  await site.bed.run('lan', 'ip', ['tuntap', 'add', tap, 'mode', 'tap']);
  await site.bed.run('lan', 'ip', ['link', 'set', tap, 'master', 'br0', 'up']);
  const vars = join(site.work, 'aavmf-vars.fd');
  copyFileSync(AAVMF_VARS, vars);
  const vm = site.bed.spawn('lan', 'qemu-system-aarch64', [
    '-M', 'virt', '-cpu', 'cortex-a57', '-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio',
    '-drive', `if=pflash,format=raw,readonly=on,file=${AAVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`,
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    // No option ROM: the firmware's own PXE stack, as on real arm64 servers.
    '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=,bootindex=1`,
  ]);
  const timer = setTimeout(() => void vm.kill(), timeoutMs);
  const watch = setInterval(() => {
    if (vm.stdout.some((l) => stop.test(l))) void vm.kill();
  }, 50);
  try {
    await vm.exited;
  } finally {
    clearTimeout(timer);
    clearInterval(watch);
    await site.bed.run('lan', 'ip', ['link', 'del', tap]);
  }
  // eslint-disable-next-line no-control-regex
  return vm.stdout.map((l) => l.replace(/\u001b\[[0-9;?]*[A-Za-z]|\r/g, ''));
}

describe('end to end, an arm64 UEFI machine (AAVMF under qemu TCG)', () => {
  it("gets ipxe-arm64.efi over TFTP, and that iPXE fetches and runs its machine's script from the relay", async () => {
    const profile = await call(cloud, 'POST', '/v1/profiles', { json: { name: unique('arm64-marker'), spec: { kind: 'ipxe', arch: 'arm64', script: '#!ipxe\necho EDGEBOOT-ARM64 boot={{bootId}}\nshell' } } });
    expect(profile.status, profile.text).toBe(201);
    const mac = randomMac();
    await assign(cloud, site.siteId, mac, profile.body.id, { arch: 'uefi-arm64' });
    const lines = await bootArm64(mac, /EDGEBOOT-ARM64 boot=\S+/, 150_000);
    const tail = lines.slice(-30).join('\n');
    expect(lines.some((l) => /NBP filename is ipxe-arm64\.efi/.test(l)), tail).toBe(true);
    // trixie's iPXE, built for arm64, with HTTPS.
    expect(lines.some((l) => /iPXE 1\.21\.1\+git2025/.test(l)), tail).toBe(true);
    expect(lines.some((l) => /^Features:.*\bHTTPS\b/.test(l)), tail).toBe(true);
    const bootId = lines.map((l) => /EDGEBOOT-ARM64 boot=(\S+)/.exec(l)?.[1]).find(Boolean);
    expect(bootId, tail).toMatch(/\S/);
    // The relay reported the firmware's DHCP, the TFTP transfer and the script fetch for this boot.
    const tl = await until('the relay events of the arm64 boot', async () => {
      const t = await timeline(cloud, mac);
      const stages = new Set(t.boots.flatMap((b: any) => b.stages.map((s: any) => s.stage)));
      return ['proxy-offer', 'tftp-done', 'script-fetched'].every((s) => stages.has(s)) ? t : null;
    });
    const tftp = tl.boots.flatMap((b: any) => b.stages).find((s: any) => s.stage === 'tftp-done');
    expect(JSON.stringify(tftp)).toContain('ipxe-arm64.efi');
    expect(tl.boots.some((b: any) => b.bootId === bootId)).toBe(true);
  });
});
