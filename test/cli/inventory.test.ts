import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dellReport } from '../contract/api/inventory.contract.ts';
import { renderedBoot } from '../contract/boot-fixtures.ts';
import { createSite, enrollRelay } from '../contract/fixtures.ts';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { api, makeCli, startCloud, succeeding, type Cli } from './support.ts';

/**
 * `machines list --min-memory/--min-cpus` and the hardware in `machines show`, run as the CLI
 * process against the Node entry. The reports come in as the imager sends them: through a boot's
 * callback token, rendered by an enrolled relay.
 */

const GiB = 1024 ** 3;
const name = (p: string) => `${p}-${randomBytes(3).toString('hex')}`;

describe('edgeboot machines and the hardware inventory (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  beforeAll(async () => {
    entry = await startCloud('cli-inventory');
    cli = await makeCli(entry);
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });
  const { ok, okJson } = succeeding(() => cli);

  /** A site with a relay, and a function that boots a machine there and reports `report` for it (null: never reports). */
  async function site(): Promise<{ name: string; machine: (report: Record<string, unknown> | null) => Promise<string> }> {
    const siteName = name('inv');
    const siteId = await createSite(entry, siteName);
    const relay = await enrollRelay(entry, siteId);
    return {
      name: siteName,
      machine: async (report) => {
        const b = await renderedBoot(entry, siteId, { relay });
        if (report !== null) expect((await api(entry, 'POST', '/v1/callback/inventory', report, b.token)).status).toBe(200);
        return b.mac;
      },
    };
  }

  it('lists machines with at least the memory and CPUs asked for, in any unit people write', async () => {
    const s = await site();
    const small = await s.machine(dellReport({ memoryBytes: 16 * GiB, cpu: { count: 8 } }));
    const big = await s.machine(dellReport({ memoryBytes: 64 * GiB, cpu: { count: 64 } }));
    await s.machine(null);
    const macs = async (...filters: string[]) => (await okJson<{ mac: string }[]>('machines', 'list', '--site', s.name, ...filters)).map((x) => x.mac).sort();
    expect(await macs()).toHaveLength(3);
    expect(await macs('--min-memory', '32GiB')).toEqual([big]);
    expect(await macs('--min-memory', '32G')).toEqual([big]);
    expect(await macs('--min-memory', '16384MiB')).toEqual([small, big].sort());
    expect(await macs('--min-memory', '16')).toEqual([small, big].sort());
    expect(await macs('--min-memory', '1TiB')).toEqual([]);
    expect(await macs('--min-cpus', '9')).toEqual([big]);
    expect(await macs('--min-cpus', '8', '--min-memory', '64GB')).toEqual([big]);
    expect(await macs('--label', 'hw.memory-gib=16')).toEqual([small]);
  });

  it('refuses a memory size it cannot read, with the accepted forms, before calling the cloud', async () => {
    const r = await cli.run(['machines', 'list', '--min-memory', 'lots']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("option '--min-memory <size>' argument 'lots' is invalid");
    expect(r.stderr).toContain('32GiB, 512MiB or 1TiB');
    const cpus = await cli.run(['machines', 'list', '--min-cpus', '0']);
    expect(cpus.code).toBe(2);
  });

  it('shows the reported hardware, and says when none was reported', async () => {
    const s = await site();
    const m = await s.machine(dellReport());
    const out = (await ok('machines', 'show', m)).stdout;
    expect(out).toMatch(/^cpus:\s+64 × Intel\(R\) Xeon\(R\) Gold 6130 CPU @ 2\.10GHz$/m);
    expect(out).toMatch(/^memory:\s+64\.0 GiB$/m);
    expect(out).toMatch(/^disks:\s+sda 447 GiB SSD PERC H730P Mini, sdb 3\.64 TiB HDD ST4000NM0035$/m);
    expect(out).toMatch(/^nics:\s+eno1 24:6e:96:aa:bb:01 bnxt_en 25000 Mb\/s, eno2 24:6e:96:aa:bb:02 bnxt_en$/m);
    expect(out).toMatch(/^firmware:\s+uefi, secure boot on, Dell Inc\. PowerEdge R640 \(serial ABC1234\)$/m);
    const silent = await s.machine(null);
    expect((await ok('machines', 'show', silent)).stdout).toMatch(/^hardware:\s+never reported \(the imager reports it\)$/m);
  });
});
