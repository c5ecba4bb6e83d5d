/**
 * The storm benchmark's site (test/bench/dhcp-storm.ts), in network namespaces:
 *
 *   uplink 10.60.0.0/24  relay eth0 .2 (the DHCP servers under test, one at a time) · agents' legs
 *   LAN A  10.61.0.0/24  relay eth1 .2 (proxy mode) · ns `pull`: the image-pulling clients .50
 *   LAN C  10.63.0.0/24  behind relay agent `agentc`, giaddr 10.63.0.1
 *   LAN D  10.64.0.0/24  behind relay agent `agentd`, giaddr 10.64.0.1
 *
 * Each relay agent is perfdhcp itself, in its own namespace (support/storm-perfdhcp.ts): it sends from
 * giaddr:67 with that giaddr, as ISC dhcrelay forwards a client's broadcast, and gets the answers the
 * server sends back to giaddr:67. perfdhcp (Kea's IfaceMgr) sends and listens on the interface whose
 * address is its -l, so each agent's giaddr is the address of its own leg on the uplink (a /32 there;
 * no client-side bridge: no client sits on it, perfdhcp is all 250 of them). With both giaddrs as extra
 * addresses of one router interface, replies to the second address found no socket (UDP NoPorts). ISC dhcrelay is not in the path: it would
 * have to hear 500 broadcasts from 500 namespaces, and the figure would be dhcrelay's. The relay knows
 * LANs C and D only as `relayed = "…"` segments, exactly as behind a real agent.
 *
 * The kernel here has no 802.1Q (CONFIG_VLAN_8021Q unset): the "VLANs" of a site are separate bridges.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Credentials } from '../../../relay/src/sync/credentials.ts';
import { createTestbed, type Spawned, type Testbed } from '../../support/netns.ts';
import { cloudBridge, startForwarder, startRelayInNs, type CloudBridge, type RelayInNs } from '../../relay/support/lan.ts';

export const RELAY = { up: '10.60.0.2', a: '10.61.0.2' };
export const SEGMENTS = [
  { agent: 'agentc', giaddr: '10.63.0.1', net: '10.63.0', macBase: '00:0c:63:00:00:00' },
  { agent: 'agentd', giaddr: '10.64.0.1', net: '10.64.0', macBase: '00:0c:64:00:00:00' },
] as const;

export interface StormBed {
  bed: Testbed;
  work: string;
  close(): Promise<void>;
}

export async function createStormBed(cloud: { url: string }): Promise<StormBed> {
  const work = mkdtempSync('/tmp/eb-storm-');
  const bridge: CloudBridge = await cloudBridge(cloud, join(work, 'cloud.sock'));
  const bed = await createTestbed('storm');
  for (const n of ['relay', 'pull', ...SEGMENTS.map((g) => g.agent)]) await bed.namespace(n);
  for (const l of ['up', 'lana']) await bed.lan(l);
  const must = async (ns: string, cmd: string, args: string[]) => {
    const r = await bed.run(ns, cmd, args);
    if (r.code !== 0) throw new Error(`${ns}: ${cmd} ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await bed.attach('relay', 'up', 'eth0', `${RELAY.up}/24`, { broadcastRoute: false });
  await bed.attach('relay', 'lana', 'eth1', `${RELAY.a}/24`, { broadcastRoute: false });
  await bed.attach('pull', 'lana', 'eth0', '10.61.0.50/24');
  // Each agent: its giaddr as the address of its own leg on the uplink (perfdhcp sends and listens on
  // the interface that holds its -l address), the server reachable from there.
  for (const g of SEGMENTS) {
    await bed.attach(g.agent, 'up', 'up0', `${g.giaddr}/32`);
    await must(g.agent, 'ip', ['route', 'add', `${RELAY.up}/32`, 'dev', 'up0']);
    await must('relay', 'ip', ['route', 'add', `${g.net}.0/24`, 'dev', 'eth0']);
  }
  await startForwarder(bed, 'relay', join(work, 'cloud.sock'));
  // The relay lists its interfaces through getifaddrs as Node does, which skips one without carrier yet.
  for (const [ns, i] of [['relay', 'eth0'], ['relay', 'eth1'], ['pull', 'eth0'], ...SEGMENTS.map((g) => [g.agent, 'up0'])] as const) {
    const t0 = Date.now();
    while (!/\bUP\b/.test((await bed.run(ns, 'ip', ['-br', 'link', 'show', i])).stdout.split(/\s+/)[1] ?? '')) {
      if (Date.now() - t0 > 10_000) throw new Error(`${ns} ${i} has no carrier after 10 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // A burst to a neighbour not yet resolved is mostly dropped (the kernel queues ~100 packets per
  // unresolved neighbour): a real agent and server talk all day, so their ARP entries are set up front.
  const mac = async (ns: string, i: string) => /link\/ether (\S+)/.exec(await must(ns, 'ip', ['link', 'show', i]))![1]!;
  const relayMac = await mac('relay', 'eth0');
  for (const g of SEGMENTS) {
    await must(g.agent, 'ip', ['neigh', 'replace', RELAY.up, 'lladdr', relayMac, 'dev', 'up0', 'nud', 'permanent']);
    await must('relay', 'ip', ['neigh', 'replace', g.giaddr, 'lladdr', await mac(g.agent, 'up0'), 'dev', 'eth0', 'nud', 'permanent']);
  }
  return {
    bed,
    work,
    close: async () => {
      await bed.cleanup();
      bridge.close();
    },
  };
}

/** A namespace's UDP receive-queue overflows so far (/proc/net/snmp is per namespace). */
export async function rcvbufErrors(bed: Testbed, ns: string): Promise<number> {
  const lines = (await bed.run(ns, 'cat', ['/proc/net/snmp'])).stdout.split('\n').filter((l) => l.startsWith('Udp:'));
  const [names, nums] = lines.map((l) => l.split(/\s+/).slice(1));
  return Number(nums![names!.indexOf('RcvbufErrors')]);
}

export interface Server {
  pid: number;
  stop(): Promise<void>;
}

let n = 0;
const fresh = (work: string, name: string) => mkdtempSync(join(work, `${name}-${n++}-`));

/** The real `edgeboot-relay run`: LAN A in proxy mode, C and D relayed, in proxy or full DHCP mode. */
export async function startRelay(sb: StormBed, creds: Credentials, mode: 'proxy' | 'dhcp'): Promise<RelayInNs & Server> {
  const segment = (s: (typeof SEGMENTS)[number]) =>
    mode === 'proxy'
      ? ['[[lan]]', `relayed = "${s.net}.0/24"`, 'mode = "proxy"', `address = "${RELAY.up}"`]
      : ['[[lan]]', `relayed = "${s.net}.0/24"`, 'mode = "dhcp"', `range = ["${s.net}.2", "${s.net}.254"]`, `routers = ["${s.giaddr}"]`, 'lease_seconds = 3600'];
  const r = await startRelayInNs(sb.bed, 'relay', {
    creds,
    stateDir: fresh(sb.work, `relay-${mode}`),
    toml: [
      'boot_files = "/usr/lib/ipxe"',
      '[http]', 'port = 8080', `public_url = "http://${RELAY.up}:8080"`, '[sync]', 'wait_seconds = 5',
      '[[lan]]', 'interface = "eth1"', 'mode = "proxy"',
      ...SEGMENTS.flatMap(segment),
      '',
    ].join('\n'),
  });
  return { ...r, pid: r.process.pid };
}

async function listening67(bed: Testbed, p: Spawned, name: string): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < 15_000) {
    if (p.child.exitCode !== null) throw new Error(`${name} exited with ${p.child.exitCode}:\n${[...p.stdout, ...p.stderr].join('\n').slice(-3000)}`);
    if ((await bed.run('relay', 'ss', ['-Huln', 'sport = :67'])).stdout.trim()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${name} did not listen on :67`);
}

/**
 * dnsmasq's proxyDHCP for both relayed segments (a menu entry per firmware class, iPXE sent to the same
 * script URL as the relay's), --quiet-dhcp: no log line per request (the relay logs none either).
 */
export async function startDnsmasqProxy(sb: StormBed): Promise<Server> {
  const d = fresh(sb.work, 'dnsmasq');
  const url = `http://${RELAY.up}:8080/boot`;
  const p = sb.bed.spawn('relay', 'dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--port=0', '--quiet-dhcp', `--pid-file=${d}/pid`, `--dhcp-leasefile=${d}/leases`,
    ...SEGMENTS.map((s) => `--dhcp-range=${s.net}.0,proxy,255.255.255.0`),
    '--dhcp-userclass=set:ipxe,iPXE', '--pxe-prompt=edgeboot,0',
    '--pxe-service=tag:!ipxe,x86PC,edgeboot,undionly', '--pxe-service=tag:!ipxe,X86-64_EFI,edgeboot,ipxe.efi',
    `--pxe-service=tag:ipxe,x86PC,edgeboot,${url}`, `--pxe-service=tag:ipxe,X86-64_EFI,edgeboot,${url}`,
  ]);
  await listening67(sb.bed, p, 'dnsmasq');
  return { pid: p.pid, stop: () => p.kill() };
}

/** ISC Kea as Debian packages it (kea-dhcp4-server): memfile leases, one subnet per relayed segment. */
export async function startKea(sb: StormBed): Promise<Server> {
  const d = fresh(sb.work, 'kea');
  const config = {
    Dhcp4: {
      // Relayed traffic is unicast to our address: Kea's UDP sockets serve it (raw sockets are for direct clients).
      'interfaces-config': { interfaces: ['eth0'], 'dhcp-socket-type': 'udp' },
      'lease-database': { type: 'memfile', persist: true, name: join(d, 'leases4.csv'), 'lfc-interval': 0 },
      'valid-lifetime': 3600,
      subnet4: SEGMENTS.map((s, i) => ({ id: i + 1, subnet: `${s.net}.0/24`, pools: [{ pool: `${s.net}.2 - ${s.net}.254` }], 'option-data': [{ name: 'routers', data: s.giaddr }] })),
      loggers: [{ name: 'kea-dhcp4', output_options: [{ output: 'stdout' }], severity: 'WARN' }],
    },
  };
  writeFileSync(join(d, 'kea.json'), JSON.stringify(config));
  const p = sb.bed.spawn('relay', 'kea-dhcp4', ['-c', join(d, 'kea.json')], { env: { ...process.env, KEA_PIDFILE_DIR: d, KEA_LOCKFILE_DIR: d } });
  await listening67(sb.bed, p, 'kea-dhcp4');
  return { pid: p.pid, stop: () => p.kill() };
}
