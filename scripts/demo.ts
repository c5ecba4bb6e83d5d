/**
 * `npm run demo` — the newcomer's tour: builds a branch office in network namespaces (a site router
 * running dnsmasq, the edgeboot relay beside it), starts the control plane on its embedded default
 * (the Node entry: SQLite and a folder), assigns the test OS to a virtual machine through the API,
 * boots that machine in qemu with its console on this terminal, prints its boot timeline, and
 * removes everything it made. Linux, root (network namespaces), ~1 minute.
 *
 *   npm run demo                 # a BIOS machine
 *   npm run demo -- --uefi       # an OVMF machine: its own PXE → TFTP ipxe.efi → iPXE → script
 */
import { parseArgs } from 'node:util';
import { randomMac } from '../test/contract/target.ts';
import { startNodeCloud, type E2eCloud } from '../test/e2e/support/cloud.ts';
import { assign, osFiles, testOsProfile, timeline } from '../test/e2e/support/machines.ts';
import { OVMF_CODE, startSite, type Site } from '../test/e2e/support/site.ts';
import { missingPeers } from '../test/support/netns.ts';

const { values } = parseArgs({ options: { uefi: { type: 'boolean', default: false }, help: { type: 'boolean', default: false } } });
if (values.help) {
  console.log('usage: npm run demo [-- --uefi]\nBoots one virtual machine through a relay and the control plane, in network namespaces (Linux, root).');
  process.exit(0);
}

/** What the demo needs from the distribution, besides the commands below: file → Debian package. */
const FILES: Array<[string, string]> = [
  ['/bin/busybox', 'busybox-static'],
  ['/usr/lib/ipxe/undionly.kpxe', 'ipxe'],
  ['/usr/lib/ipxe/ipxe.efi', 'ipxe'],
  ['/usr/lib/syslinux/mbr/mbr.bin', 'syslinux-common'],
];
const TOOLS = ['qemu-system-x86_64', 'dnsmasq', 'ip', 'apt-get', 'dpkg-deb', 'mformat', 'syslinux'];

const say = (s: string) => console.log(`\x1b[1;36m▸ ${s}\x1b[0m`);

async function main(): Promise<number> {
  if (process.platform !== 'linux') {
    console.error('The demo builds Linux network namespaces: it runs on Linux only.');
    return 2;
  }
  if (process.getuid?.() !== 0) {
    console.error('The demo needs root: it creates network namespaces, a bridge and a tap device (run: sudo npm run demo).');
    return 2;
  }
  const lacking = missingPeers(TOOLS, [...FILES, ...(values.uefi ? ([[OVMF_CODE, 'ovmf']] as Array<[string, string]>) : [])]);
  if (lacking.length) {
    console.error(`The demo needs these, which this machine lacks:\n  ${lacking.map((m) => `${m.what} (Debian package: ${m.pkg})`).join('\n  ')}\n` +
      'On Debian or Ubuntu: sudo apt-get install qemu-system-x86 ovmf ipxe dnsmasq-base busybox-static syslinux syslinux-common mtools');
    return 2;
  }

  let cloud: E2eCloud | undefined;
  let site: Site | undefined;
  const stop = async () => {
    await site?.close();
    await cloud?.close();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  try {
    say('building the test OS (a Debian kernel, downloaded and unpacked, and a busybox initramfs)…');
    await osFiles();
    say('starting the control plane (Node entry: SQLite + a folder)…');
    cloud = await startNodeCloud();
    say(`control plane at ${cloud.url}; uploading the test OS and creating a profile through the API…`);
    const profileId = await testOsProfile(cloud);
    say('building the branch office: site router (dnsmasq, addresses only) and the edgeboot relay beside it…');
    site = await startSite({ tag: 'demo', cloud, mode: 'proxy', net: 97 });
    const mac = randomMac();
    await assign(cloud, site.siteId, mac, profileId);
    const firmware = values.uefi ? 'uefi' : 'bios';
    say(`assigned the test OS to ${mac}; powering on a ${firmware.toUpperCase()} machine (qemu, no KVM: ~${values.uefi ? 40 : 25} s)…\n`);
    const run = await site.boot({ firmware, mac, uuid: crypto.randomUUID(), timeoutMs: 180_000, onLine: (line, ms) => console.log(`\x1b[2m${(ms / 1000).toFixed(1).padStart(5)}s\x1b[0m ${line}`) });
    const marker = run.lines.find((l) => l.includes('EDGEBOOT-MARKER'));
    console.log('');
    if (!marker) {
      say('the machine did not reach the test OS; the console above says where it stopped.');
      return 1;
    }
    say(`the machine ran the script the cloud rendered for it (${marker.trim()}). Its boot timeline, from the API:\n`);
    let t: any;
    for (let i = 0; i < 40; i++) {
      t = await timeline(cloud, mac);
      if (t.boots[0]?.outcome === 'succeeded' && t.boots[0].stages.some((s: any) => s.stage === 'file-done')) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const boot = t.boots[0];
    const t0 = Date.parse(boot.startedAt);
    for (const s of boot.stages) {
      const what = s.detail ? Object.entries(s.detail).map(([k, v]) => `${k}=${v}`).join(' ').slice(0, 70) : '';
      console.log(`  +${((Date.parse(s.at) - t0) / 1000).toFixed(2).padStart(6)}s  ${s.stage.padEnd(18)} ${s.durationMs === null ? '' : `${s.durationMs} ms`.padStart(9)}  ${s.source.padEnd(8)} ${what}`);
    }
    console.log(`\n  outcome: ${boot.outcome}; machine ${mac} is now ${(await (await cloud.fetch(`/v1/machines/${mac}`, { headers: { authorization: `Bearer ${cloud.adminToken}` } })).json()).state}`);
    return 0;
  } finally {
    say('cleaning up (namespaces, processes, data)…');
    await stop();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
