/**
 * A branch office in network namespaces, for end-to-end boots of real (virtual) machines:
 *
 *   router 10.<n>.0.1  dnsmasq, addresses only (proxy topology; absent in dhcp mode)
 *   relay  10.<n>.0.2  `edgeboot-relay run` + unix-forward → the cloud (the WAN)
 *   lan    bridge br0 + one tap per VM; qemu-system-x86_64 (TCG) runs here
 *
 * The cloud runs in the host namespace (cloud.ts); only the relay's namespace reaches it, through
 * the unix-socket bridge of test/relay/support/lan.ts, which can also cut that WAN.
 */
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { call, unique } from '../../contract/target.ts';
import { cloudBridge, startForwarder, startRelayInNs, type CloudBridge, type RelayInNs } from '../../relay/support/lan.ts';
import { modernIpxeDir } from '../../relay/support/boot-files.ts';
import type { Credentials } from '../../../relay/src/sync/credentials.ts';
import { createTestbed, type Spawned, type Testbed } from '../../support/netns.ts';
import type { E2eCloud } from './cloud.ts';

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
/** Secure Boot on, Microsoft's keys enrolled (Debian's ovmf); needs q35 with SMM and a secure pflash. */
export const OVMF_CODE_SB = '/usr/share/OVMF/OVMF_CODE_4M.ms.fd';
export const OVMF_VARS_SB = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';

export interface SiteOptions {
  tag: string;
  cloud: E2eCloud;
  mode: 'proxy' | 'dhcp';
  /** Second octet of the site's 10.x.0.0/24. */
  net: number;
  /** Profile id for machines the cloud does not know (null: local disk). */
  defaultProfileId?: string | null;
}

export interface VmOptions {
  firmware: 'bios' | 'uefi';
  mac: string;
  /** A raw disk image (copied per boot unless `diskInPlace`). */
  disk?: string;
  uuid?: string;
  /** Kill the VM after this long (it normally powers itself off). */
  timeoutMs?: number;
  /** Each console line as it arrives (the demo shows them live). */
  onLine?: (line: string, ms: number) => void;
  /** UEFI only: OVMF with Secure Boot on and Microsoft's keys (the firmware of most new PCs and servers). */
  secureBoot?: boolean;
  /** Stop the VM once a console line matches (for boots that do not power off by themselves). */
  stopOn?: RegExp;
  /** Stop the VM when this aborts (a condition seen elsewhere, e.g. in the cloud's timeline). */
  signal?: AbortSignal;
}

export interface VmRun {
  /** Console output, line by line (serial on stdio with -nographic). */
  lines: string[];
  /** Milliseconds since qemu started, when each line arrived. */
  at: number[];
  exit: { code: number | null; signal: NodeJS.Signals | null };
}

export interface Site {
  bed: Testbed;
  siteId: string;
  relay: RelayInNs;
  relayIp: string;
  bridge: CloudBridge;
  creds: Credentials;
  work: string;
  /** Boots one VM on the LAN and resolves when it powers off (or the timeout kills it). */
  boot(o: VmOptions): Promise<VmRun>;
  close(): Promise<void>;
}

let taps = 0;

export async function startSite(o: SiteOptions): Promise<Site> {
  const ok = async (r: Promise<{ status: number; body: any; text: string }>, want: number, what: string) => {
    const x = await r;
    if (x.status !== want) throw new Error(`${what}: ${x.status} ${x.text.slice(0, 300)}`);
    return x.body;
  };
  const site = await ok(call(o.cloud, 'POST', '/v1/sites', { json: { name: unique(`e2e-${o.tag}`), ...(o.defaultProfileId ? { defaultProfileId: o.defaultProfileId } : {}) } }), 201, 'site');
  const code = await ok(call(o.cloud, 'POST', `/v1/sites/${site.id}/enrollment-codes`, { json: {} }), 201, 'enrollment code');
  const e = await ok(call(o.cloud, 'POST', '/v1/relays/enroll', { token: null, json: { code: code.code, name: unique('relay') } }), 201, 'enroll');
  const creds: Credentials = { cloudUrl: o.cloud.url, relayId: e.relay.id, siteId: site.id, token: e.token, bootKey: e.bootKey, bootKeyId: e.bootKeyId, enrolledAt: new Date().toISOString() };

  const work = mkdtempSync(join(tmpdir(), `edgeboot-e2e-${o.tag}-`));
  const bridge = await cloudBridge(o.cloud, join(work, 'cloud.sock'));
  const bed = await createTestbed(o.tag);
  const net = `10.${o.net}.0`;
  const relayIp = `${net}.2`;
  try {
    await bed.namespace('relay');
    await bed.lan('lan');
    // No route for 255.255.255.255 on the relay's box: its replies must reach the firmware without one.
    await bed.attach('relay', 'lan', 'eth0', `${relayIp}/24`, { broadcastRoute: false });
    if (o.mode === 'proxy') {
      await bed.namespace('router');
      await bed.attach('router', 'lan', 'eth0', `${net}.1/24`);
      const router = bed.spawn('router', 'dnsmasq', [
        '--no-daemon', '--conf-file=/dev/null', '--port=0', '--log-dhcp', `--pid-file=`,
        `--dhcp-range=${net}.100,${net}.199,255.255.255.0,10m`, `--dhcp-option=3,${net}.1`, `--dhcp-leasefile=${join(work, 'router.leases')}`,
      ]);
      await router.waitForLine(/DHCP, IP range/, 10_000);
    }
    await startForwarder(bed, 'relay', join(work, 'cloud.sock'));
    const dhcp = o.mode === 'dhcp' ? `[dhcp]\nrange = ["${net}.100", "${net}.150"]\nrouters = ["${relayIp}"]\nlease_seconds = 600\n` : '';
    const relay = await startRelayInNs(bed, 'relay', {
      creds,
      stateDir: join(work, 'relay'),
      toml: `interface = "eth0"\nmode = "${o.mode}"\nboot_files = "${await modernIpxeDir()}"\n[http]\nport = 8080\npublic_url = "http://${relayIp}:8080"\n[sync]\nwait_seconds = 5\n${dhcp}`,
    });

    const boot = async (v: VmOptions): Promise<VmRun> => {
      const tap = `tap${++taps}`;
      await bed.run('lan', 'ip', ['tuntap', 'add', tap, 'mode', 'tap']);
      await bed.run('lan', 'ip', ['link', 'set', tap, 'master', 'br0', 'up']);
      const args = ['-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot', '-nodefaults', '-serial', 'stdio', '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`];
      if (v.uuid) args.push('-uuid', v.uuid);
      if (v.firmware === 'bios') {
        args.push('-device', `virtio-net-pci,netdev=n0,mac=${v.mac},bootindex=1`);
      } else {
        const vars = join(work, `vars-${tap}.fd`);
        copyFileSync(v.secureBoot ? OVMF_VARS_SB : OVMF_VARS, vars);
        if (v.secureBoot) args.push('-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on');
        else args.push('-machine', 'q35');
        args.push('-drive', `if=pflash,format=raw,readonly=on,file=${v.secureBoot ? OVMF_CODE_SB : OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`);
        // No option ROM: OVMF's own PXE stack does DHCP → TFTP ipxe.efi, as on real UEFI servers.
        args.push('-device', `virtio-net-pci,netdev=n0,mac=${v.mac},romfile=,bootindex=1`);
      }
      if (v.disk) args.push('-drive', `file=${v.disk},format=raw,if=none,id=d0`, '-device', 'virtio-blk-pci,drive=d0,bootindex=2');
      const started = Date.now();
      const vm: Spawned = bed.spawn('lan', 'qemu-system-x86_64', args);
      const at: number[] = [];
      let stopping = false;
      const seen = () => {
        while (at.length < vm.stdout.length) {
          at.push(Date.now() - started);
          const line = stripAnsi(vm.stdout[at.length - 1]!);
          v.onLine?.(line, at.at(-1)!);
          if (v.stopOn?.test(line) && !stopping) {
            stopping = true;
            void vm.kill();
          }
        }
      };
      const tick = setInterval(seen, 20);
      v.signal?.addEventListener('abort', () => void vm.kill(), { once: true });
      const timer = setTimeout(() => void vm.kill(), v.timeoutMs ?? 120_000);
      const exit = await vm.exited;
      clearTimeout(timer);
      clearInterval(tick);
      seen();
      await bed.run('lan', 'ip', ['link', 'del', tap]);
      return { lines: vm.stdout.map(stripAnsi), at, exit };
    };

    return {
      bed,
      siteId: site.id,
      relay,
      relayIp,
      bridge,
      creds,
      work,
      boot,
      close: async () => {
        await bed.cleanup();
        bridge.close();
      },
    };
  } catch (err) {
    await bed.cleanup();
    bridge.close();
    throw err;
  }
}

/** iPXE and OVMF draw with escape sequences; markers are matched on plain text. */
function stripAnsi(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[()][A-Z0-9]|\r/g, '');
}
