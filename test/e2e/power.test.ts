import { closeSync, existsSync, ftruncateSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomMac } from '../contract/target.ts';
import { until } from '../relay/support/relay-harness.ts';
import { makeCli, type Cli } from '../cli/support.ts';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { requireTools } from '../support/netns.ts';
import { startIpmiSim, type IpmiSim } from '../bmc/support/ipmi-sim.ts';
import { startNodeCloud, type E2eCloud } from './support/cloud.ts';
import { imagerFiles, imagingProfile, requireImagingPeers, uploadImage, zstdCompress } from './support/imaging.ts';
import { machine, timeline } from './support/machines.ts';
import { buildLocalDisk } from './support/os-image.ts';
import { startSite, type Site } from './support/site.ts';

/**
 * Hands-off reprovisioning, the whole story: a powered-off VM whose BMC is OpenIPMI's ipmi_sim (the
 * simulator's startcmd is the VM's qemu), at a site whose relay runs in a namespace (DHCP mode), with
 * the cloud on its Node entry. From the CLI only: set the BMC, assign a one-shot imaging profile,
 * `machines reprovision --power-cycle`. The relay powers the VM on through IPMI; it netboots the
 * imager, which writes its disk and reboots; the VM boots that disk; the machine is `deployed`; the
 * timeline reads power-job → DHCP → … → callback-succeeded with durations. Nobody touches the VM.
 *
 * ipmi_sim refuses the boot-device override when a VM is attached (boot flags need its
 * chassis_control program): the VM netboots because the network is first in its boot order, as on a
 * machine set up for PXE; the job records the refusal.
 */
requireImagingPeers();
requireTools(['ipmi_sim', 'ipmitool']);

const MiB = 1 << 20;
const NET = 97;
const BMC_IP = `10.${NET}.0.3`;

let cloud: E2eCloud;
let site: Site;
let cli: Cli;
let work: string;
let sim: IpmiSim | undefined;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'edgeboot-e2e-power-'));
  cloud = await startNodeCloud();
  await imagerFiles();
  site = await startSite({ tag: 'e2epwr', cloud, mode: 'dhcp', net: NET });
  cli = await makeCli({ baseUrl: cloud.url, adminToken: cloud.adminToken } as SpawnedEntry);
}, 600_000);

afterAll(async () => {
  const pid = sim?.vmPid();
  if (pid) process.kill(pid, 'SIGKILL');
  await site?.close();
  await cloud?.close();
  cli?.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('hands-off reprovisioning through the BMC (ipmi_sim + qemu, relay in DHCP mode)', () => {
  it('from the CLI alone: the VM powers on, netboots, images its disk, boots it, and the machine is deployed', async () => {
    const mac = randomMac();
    const marker = `${randomBytes(6).toString('hex')}.${mac}`;
    const raw = readFileSync(await buildLocalDisk(join(work, 'disk-image.img'), marker));
    const image = await uploadImage(cloud, zstdCompress(raw), 'power-disk', 'disk-zst');
    const profile = await imagingProfile(cloud, image.id);
    const disk = join(work, 'vm-disk.img');
    const fd = openSync(disk, 'w');
    ftruncateSync(fd, 64 * MiB);
    closeSync(fd);

    // The BMC on the site's LAN, and the VM behind it, off.
    await site.bed.run('lan', 'ip', ['addr', 'add', `${BMC_IP}/24`, 'dev', 'br0']);
    await site.bed.run('lan', 'ip', ['tuntap', 'add', 'tapbmc', 'mode', 'tap']);
    await site.bed.run('lan', 'ip', ['link', 'set', 'tapbmc', 'master', 'br0', 'up']);
    const consoleLog = join(work, 'console.log');
    sim = await startIpmiSim(site.bed, {
      dir: join(work, 'bmc'),
      ns: site.bed.ns('lan'),
      host: BMC_IP,
      port: 623,
      // No -no-reboot: the imager's reboot must stay inside this one "power-on", as on real hardware.
      qemuArgs: [
        '-accel', 'tcg', '-m', '512', '-display', 'none', '-nodefaults', '-serial', `file:${consoleLog}`,
        '-netdev', 'tap,id=n0,ifname=tapbmc,script=no,downscript=no', '-device', `virtio-net-pci,netdev=n0,mac=${mac},bootindex=1`,
        '-drive', `file=${disk},format=raw,if=none,id=d0`, '-device', 'virtio-blk-pci,drive=d0,bootindex=2',
      ],
    });
    expect(sim.vmPid()).toBeNull();

    const run = async (args: string[], input?: string) => {
      const r = await cli.run(args, { input, timeoutMs: 120_000 });
      expect(r.code, `edgeboot ${args.join(' ')}\n${r.stdout}\n${r.stderr}`).toBe(0);
      return r;
    };
    const siteName = (await cloud.fetch(`/v1/sites/${site.siteId}`, { headers: { authorization: `Bearer ${cloud.adminToken}` } }).then((r) => r.json())).name;
    await run(['machines', 'create', mac, '--site', siteName]);
    // The relay registered its sealing key when it started.
    await until('the relay sealing key', async () => {
      const r = await cli.run(['--json', 'machines', 'bmc', 'set', mac, '--ipmi', `${BMC_IP}:623`, '--user', sim!.username, '--password-stdin'], { input: sim!.password });
      return r.code === 0;
    }, 30_000);
    await run(['assignments', 'create', '--profile', profile, '--mac', mac, '--once']);

    const t0 = Date.now();
    const job = (await run(['--json', 'machines', 'reprovision', mac, '--power-cycle'])).json();
    expect(job).toMatchObject({ action: 'reprovision', state: 'succeeded', powerState: 'on', detail: { wasOn: false, pxeOverride: 'refused' } });
    expect(sim.vmPid()).not.toBeNull();

    await until('the machine to be deployed', async () => ((await machine(cloud, mac)).state === 'deployed' ? true : null), 360_000);
    const deployedAfter = Date.now() - t0;
    const console = () => (existsSync(consoleLog) ? readFileSync(consoleLog, 'latin1') : '');
    await until('the VM to boot its new disk', () => console().includes(`EDGEBOOT-LOCAL marker=${marker}`), 240_000);
    // The local system powers off; the BMC sees the VM gone.
    await until('the VM off', () => sim!.vmPid() === null, 120_000);
    expect((await run(['--json', 'machines', 'power', mac, 'status'])).json()).toMatchObject({ state: 'succeeded', powerState: 'off' });

    const tl = await timeline(cloud, mac);
    const boot = tl.boots.find((b: any) => b.outcome === 'succeeded');
    expect(boot, JSON.stringify(tl.boots.map((b: any) => [b.bootId, b.outcome]))).toBeDefined();
    const stages: string[] = boot.stages.map((s: any) => s.stage);
    expect(stages[0], JSON.stringify(stages)).toBe('power-job');
    // The relay in DHCP mode reports its offer and ack; then the script, the imager's files and callbacks.
    expect(stages.slice(0, 3), JSON.stringify(stages)).toEqual(['power-job', 'dhcp-offer', 'dhcp-ack']);
    for (const s of ['script-rendered', 'file-fetched', 'callback-started', 'callback-job']) expect(stages, JSON.stringify(stages)).toContain(s);
    expect(stages.at(-1)).toBe('callback-succeeded');
    for (const s of boot.stages.slice(0, -1)) expect(s.durationMs, s.stage).not.toBeNull();
    // For the README's figures: what each stage took, and the whole.
    process.stdout.write(`[power e2e] reprovision → deployed ${deployedAfter} ms; stages ${boot.stages.map((s: any) => `${s.stage}:${s.durationMs}`).join(' ')}\n`);
  });
});
