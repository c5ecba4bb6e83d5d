/**
 * A fleet to measure: N sites, each with one relay enrolled through the API (enrollment code → enroll,
 * as test/contract/fixtures.ts does) and M machines per site. One fleet-wide profile and one
 * assignment (`role=netboot`) make every machine netboot, so flipping a machine's `role` label
 * changes its site's snapshot and nothing else.
 *
 * Machines go in as SQL rows (the columns POST /v1/machines writes, ids from the same newId) because
 * 50,000 API calls would take minutes per runtime and measure seeding, not sync. Sites, relays,
 * images, the profile and the assignment go through the API: their rows carry secrets and links the
 * API makes.
 */
import { newId } from '../../../shared/ids.ts';
import type { FleetTarget } from './fleet-runtimes.ts';

export interface SeededSite {
  siteId: string;
  relayToken: string;
  machines: { id: string; mac: string }[];
}

async function api(t: FleetTarget, method: string, path: string, body?: unknown, token: string | null = t.adminToken): Promise<any> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${t.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return res.status === 204 ? null : res.json();
}

async function upload(t: FleetTarget, name: string, kind: string, bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const img = await api(t, 'POST', '/v1/images', { name, kind });
  const res = await fetch(`${t.url}/v1/images/${img.id}/content`, { method: 'PUT', headers: { authorization: `Bearer ${t.adminToken}` }, body: bytes });
  if (!res.ok) throw new Error(`upload ${name}: ${res.status} ${await res.text()}`);
  return img.id;
}

async function parallel(n: number, width: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < n) await task(next++);
  }));
}

/** 02:fb:<site hi>:<site lo>:<machine>:00 — unique per (site, machine) up to 65,536 sites × 256 machines. */
export function fleetMac(site: number, machine: number): string {
  return ['02', 'fb', (site >> 8) & 255, site & 255, machine & 255, 0].map((b) => (typeof b === 'string' ? b : b.toString(16).padStart(2, '0'))).join(':');
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

export async function seedFleet(t: FleetTarget, sites: number, machinesPerSite: number, log: (msg: string) => void): Promise<SeededSite[]> {
  if (machinesPerSite > 256) throw new Error('at most 256 machines per site (fleetMac)');
  const kernel = await upload(t, 'fleet-vmlinuz', 'kernel', new Uint8Array(4096).fill(1));
  const initrd = await upload(t, 'fleet-initrd', 'initrd', new Uint8Array(4096).fill(2));
  const profile = await api(t, 'POST', '/v1/profiles', {
    name: 'fleet-os',
    spec: { kind: 'linux', kernel, initrds: [initrd], cmdline: 'console=ttyS0 hostname={{hostname}} edgeboot.callback={{callbackUrl}} edgeboot.token={{callbackToken}}' },
  });
  await api(t, 'POST', '/v1/assignments', { profileId: profile.id, selector: { labels: { role: 'netboot' } } });

  const out: SeededSite[] = new Array(sites);
  let done = 0;
  await parallel(sites, 16, async (i) => {
    const site = await api(t, 'POST', '/v1/sites', { name: `fleet-${String(i).padStart(5, '0')}` });
    const { code } = await api(t, 'POST', `/v1/sites/${site.id}/enrollment-codes`, {});
    const enrolled = await api(t, 'POST', '/v1/relays/enroll', { code, name: `relay-${i}` }, null);
    out[i] = { siteId: site.id, relayToken: enrolled.token, machines: [] };
    if (++done % 250 === 0) log(`  ${done}/${sites} sites with an enrolled relay`);
  });

  const now = Date.now();
  // D1 refuses statements over 100 KB: 200 rows (~40 KB) per INSERT, 10 INSERTs per transaction.
  let rows: string[] = [];
  let statements: string[] = [];
  const insert = () => {
    statements.push(`INSERT INTO machines (id, mac, site_id, hostname, arch, labels, state, created_at, updated_at) VALUES ${rows.join(',')}`);
    rows = [];
  };
  const flush = async () => {
    if (rows.length) insert();
    if (statements.length) await t.exec(statements);
    statements = [];
  };
  for (let s = 0; s < sites; s++) {
    const site = out[s]!;
    for (let m = 0; m < machinesPerSite; m++) {
      const id = newId('machine', now);
      const mac = fleetMac(s, m);
      site.machines.push({ id, mac });
      rows.push(`(${lit(id)}, ${lit(mac)}, ${lit(site.siteId)}, ${lit(`s${s}-n${m}`)}, 'uefi-x64', ${lit(JSON.stringify({ role: 'netboot', rack: `r${m % 5}` }))}, 'discovered', ${now}, ${now})`);
      if (rows.length === 200) {
        insert();
        if (statements.length === 10) await flush();
      }
    }
  }
  await flush();
  log(`  ${sites * machinesPerSite} machines inserted`);
  return out;
}
