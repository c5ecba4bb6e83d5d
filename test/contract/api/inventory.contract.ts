import { beforeAll, describe, expect, it } from 'vitest';
import { renderedBoot, type RenderedBoot } from '../boot-fixtures.ts';
import { createSite, enrollRelay } from '../fixtures.ts';
import { call, errorCode, unique, type ApiTarget } from '../target.ts';

/**
 * Hardware inventory (issue 17): the imager's report (`POST /v1/callback/inventory`), kept per
 * machine and returned on GET /v1/machines/{id}; the list's filters on it; the derived hw.* labels
 * in assignment selectors. Through fetch only, so every column runs it.
 */

const GiB = 1024 ** 3;

/** A report as the imager sends it for a 2-socket Dell with 64 GiB (values from a real R640's /sys). */
export function dellReport(over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    cpu: { model: 'Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz', count: 64, arch: 'x86_64' },
    memoryBytes: 64 * GiB,
    memoryUsableBytes: 65_566_470_144,
    disks: [
      { name: 'sda', sizeBytes: 479_559_942_144, model: 'PERC H730P Mini', serial: '6d0946606e0d1e002a1b2c3d4e5f6a7b', rotational: false, removable: false },
      { name: 'sdb', sizeBytes: 4_000_787_030_016, model: 'ST4000NM0035', serial: 'ZC18ABCD', rotational: true, removable: false },
      { name: 'sdc', sizeBytes: 15_682_240_512, model: 'Internal Dual SD', removable: true },
    ],
    nics: [
      { name: 'eno1', mac: '24-6E-96-AA-BB-01', driver: 'bnxt_en', speedMbps: 25000 },
      { name: 'eno2', mac: '24:6e:96:aa:bb:02', driver: 'bnxt_en' },
    ],
    firmware: { mode: 'uefi', secureBoot: true, vendor: 'Dell Inc.', product: 'PowerEdge R640', serial: 'ABC1234', biosVendor: 'Dell Inc.', biosVersion: '2.19.1' },
    ...over,
  };
}

export function inventoryContract(target: () => ApiTarget): void {
  describe('hardware inventory', () => {
    let t: ApiTarget;
    let siteId: string;
    let relay: { relayId: string; token: string };
    beforeAll(async () => {
      t = target();
      siteId = await createSite(t);
      relay = await enrollRelay(t, siteId);
    });

    const boot = (): Promise<RenderedBoot> => renderedBoot(t, siteId, { relay });
    const report = (b: RenderedBoot, json: unknown) => call(t, 'POST', `/v1/callback/inventory?mac=${b.mac}`, { token: b.token, json });

    it('keeps the report and returns it on the machine, MACs canonical, with the time it came', async () => {
      const b = await boot();
      const before = await call(t, 'GET', `/v1/machines/${b.machineId}`);
      expect(before.body.inventory).toBeNull();

      const r = await report(b, dellReport());
      expect(r.status, r.text).toBe(200);
      expect(r.body.machineId).toBe(b.machineId);
      expect(r.body.hardwareLabels).toEqual({
        'hw.cpus': '64',
        'hw.memory-gib': '64',
        'hw.disks': '2',
        'hw.firmware': 'uefi',
        'hw.secure-boot': 'on',
        'hw.vendor': 'dell',
        'hw.product': 'poweredge-r640',
      });

      const m = await call(t, 'GET', `/v1/machines/${b.mac}`);
      expect(m.status).toBe(200);
      const inv = m.body.inventory;
      expect(inv.cpu).toEqual({ model: 'Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz', count: 64, arch: 'x86_64' });
      expect(inv.memoryBytes).toBe(68_719_476_736);
      expect(inv.disks.map((d: any) => [d.name, d.sizeBytes, d.rotational ?? null])).toEqual([
        ['sda', 479_559_942_144, false],
        ['sdb', 4_000_787_030_016, true],
        ['sdc', 15_682_240_512, null],
      ]);
      expect(inv.nics).toEqual([
        { name: 'eno1', mac: '24:6e:96:aa:bb:01', driver: 'bnxt_en', speedMbps: 25000 },
        { name: 'eno2', mac: '24:6e:96:aa:bb:02', driver: 'bnxt_en' },
      ]);
      expect(inv.firmware.serial).toBe('ABC1234');
      expect(Date.parse(inv.reportedAt)).toBeGreaterThanOrEqual(Date.parse(before.body.createdAt));
      // A report is the machine's hardware, not a person's edit: labels stay as people set them.
      expect(m.body.labels).toEqual({});
      expect(m.body.updatedAt).toBe(before.body.updatedAt);
    });

    it('replaces the earlier report with the later one', async () => {
      const b = await boot();
      expect((await report(b, dellReport())).status).toBe(200);
      const r = await report(b, dellReport({ memoryBytes: 128 * GiB, disks: [], firmware: { mode: 'bios', secureBoot: null } }));
      expect(r.status, r.text).toBe(200);
      expect(r.body.hardwareLabels).toEqual({ 'hw.cpus': '64', 'hw.memory-gib': '128', 'hw.disks': '0', 'hw.firmware': 'bios' });
      const inv = (await call(t, 'GET', `/v1/machines/${b.machineId}`)).body.inventory;
      expect(inv.memoryBytes).toBe(128 * GiB);
      expect(inv.disks).toEqual([]);
      expect(inv.firmware).toEqual({ mode: 'bios', secureBoot: null });
    });

    it('lists machines by minimum memory and CPUs, leaving out machines that never reported', async () => {
      const site = await createSite(t, unique('inv-site'));
      const r = await enrollRelay(t, site);
      const small = await renderedBoot(t, site, { relay: r });
      const big = await renderedBoot(t, site, { relay: r });
      const silent = await renderedBoot(t, site, { relay: r });
      expect((await call(t, 'POST', `/v1/callback/inventory`, { token: small.token, json: dellReport({ memoryBytes: 16 * GiB, cpu: { count: 8 } }) })).status).toBe(200);
      expect((await call(t, 'POST', `/v1/callback/inventory`, { token: big.token, json: dellReport({ memoryBytes: 256 * GiB, cpu: { count: 96 } }) })).status).toBe(200);
      const ids = async (q: string) => (await call(t, 'GET', `/v1/machines?siteId=${site}${q}`)).body.items.map((m: any) => m.id).sort();

      expect(await ids('')).toEqual([small.machineId, big.machineId, silent.machineId].sort());
      expect(await ids(`&minMemoryBytes=${32 * GiB}`)).toEqual([big.machineId]);
      expect(await ids(`&minMemoryBytes=${16 * GiB}`)).toEqual([small.machineId, big.machineId].sort());
      expect(await ids('&minCpus=9')).toEqual([big.machineId]);
      expect(await ids(`&minCpus=8&minMemoryBytes=${300 * GiB}`)).toEqual([]);
      // A derived label filters like a person's.
      expect(await ids('&label=hw.memory-gib=256')).toEqual([big.machineId]);
    });

    it('refuses a negative or fractional minimum in the list with the envelope', async () => {
      for (const q of ['minMemoryBytes=-1', 'minMemoryBytes=1.5', 'minMemoryBytes=32GiB', 'minCpus=0']) {
        const r = await call(t, 'GET', `/v1/machines?${q}`);
        expect(r.status, q).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
      }
    });

    it('lets an assignment select by a derived label, and a person\'s label of the same key wins', async () => {
      const site = await createSite(t, unique('inv-sel'));
      const r = await enrollRelay(t, site);
      const b = await renderedBoot(t, site, { relay: r });
      const profile = (await call(t, 'POST', '/v1/profiles', { json: { name: unique('big-iron'), spec: { kind: 'local' } } })).body.id;
      const a = await call(t, 'POST', '/v1/assignments', { json: { profileId: profile, selector: { siteId: site, labels: { 'hw.memory-gib': '64', 'hw.vendor': 'dell' } }, priority: 50 } });
      expect(a.status, a.text).toBe(201);
      // Before the report nothing says the machine is a 64 GiB Dell: its own MAC assignment applies.
      const before = await call(t, 'GET', `/v1/machines/${b.machineId}/assignment`);
      expect(before.body.assignment.id).toBe(b.assignmentId);

      expect((await report(b, dellReport())).status).toBe(200);
      // The MAC assignment still outranks labels (shared/boot/select.ts); remove it to see the label one.
      expect((await call(t, 'DELETE', `/v1/assignments/${b.assignmentId}`)).status).toBe(204);
      const after = await call(t, 'GET', `/v1/machines/${b.machineId}/assignment`);
      expect(after.body.assignment?.id).toBe(a.body.id);
      expect(after.body.reason).toBe('assigned via labels hw.memory-gib=64, hw.vendor=dell and site ' + site);

      // A person says otherwise: their label wins over the derived one, and the selector no longer matches.
      expect((await call(t, 'PATCH', `/v1/machines/${b.machineId}`, { json: { labels: { 'hw.vendor': 'refurbished' } } })).status).toBe(200);
      const overridden = await call(t, 'GET', `/v1/machines/${b.machineId}/assignment`);
      expect(overridden.body.assignment).toBeNull();
    });

    it('refuses absurd reports with the envelope and keeps nothing of them', async () => {
      const b = await boot();
      const bad = [
        dellReport({ memoryBytes: -1 }),
        dellReport({ disks: [{ name: 'sda', sizeBytes: -512 }] }),
        // Thousands of disks inside the 64 KiB body limit: the schema's bound (64) refuses them.
        dellReport({ disks: Array.from({ length: 2_000 }, (_, i) => ({ name: `d${i}`, sizeBytes: 1 })) }),
        dellReport({ cpu: { count: 0 } }),
        dellReport({ firmware: { mode: 'uefi', secureBoot: true, vendor: 'x'.repeat(129) } }),
        dellReport({ nics: [{ name: 'eth0', mac: 'not-a-mac' }] }),
      ];
      for (const json of bad) {
        const r = await report(b, json);
        expect(r.status, r.text.slice(0, 200)).toBe(400);
        expect(errorCode(r)).toBe('validation_failed');
        expect(r.body.error.requestId).toMatch(/^req_/);
      }
      // A string past the 64 KiB body limit: refused before any schema looks at it. (100 KiB, as the
      // bad-input suite's oversize case: the Node entry closes the connection on a body of several
      // hundred KiB before the client has sent it all, so the client sees no answer at all.)
      const huge = await report(b, dellReport({ cpu: { count: 1, model: 'x'.repeat(100 * 1024) } }));
      expect(huge.status).toBe(413);
      expect(errorCode(huge)).toBe('payload_too_large');
      expect((await call(t, 'GET', `/v1/machines/${b.machineId}`)).body.inventory).toBeNull();
    });

    it('takes the report only with the boot\'s callback token', async () => {
      const b = await boot();
      const r = await call(t, 'POST', '/v1/callback/inventory', { json: dellReport() });
      expect(r.status).toBe(401);
      expect(errorCode(r)).toBe('unauthorized');
      const asRelay = await call(t, 'POST', '/v1/callback/inventory', { token: relay.token, json: dellReport() });
      expect(asRelay.status).toBe(401);
      expect((await call(t, 'GET', `/v1/machines/${b.machineId}`)).body.inventory).toBeNull();
    });
  });
}

/**
 * Boot decisions by derived labels: what the relay is told for a machine whose only matching
 * assignment selects on hw.* labels. Needs the catalog to merge the derived labels
 * (cloud/src/boot/catalog.ts toCatalogMachine: `labels: selectorLabelsOf(r)`).
 */
export function inventoryBootContract(target: () => ApiTarget): void {
  describe('hardware inventory in boot decisions', () => {
    it('boots the profile an assignment selects by hw.* labels once the machine reported, and explain names the label', async () => {
      const t = target();
      const site = await createSite(t, unique('inv-boot'));
      const relay = await enrollRelay(t, site);
      const b = await renderedBoot(t, site, { relay });
      const script = `#!ipxe\necho selected by hardware ${unique('m')}\n`;
      const profile = (await call(t, 'POST', '/v1/profiles', { json: { name: unique('hw-profile'), spec: { kind: 'ipxe', script } } })).body.id;
      expect((await call(t, 'POST', '/v1/assignments', { json: { profileId: profile, selector: { siteId: site, labels: { 'hw.memory-gib': '64', 'hw.secure-boot': 'on' } } } })).status).toBe(201);
      expect((await call(t, 'POST', '/v1/callback/inventory', { token: b.token, json: dellReport() })).status).toBe(200);
      // Its own MAC assignment outranks any label selector: without it, hardware decides.
      expect((await call(t, 'DELETE', `/v1/assignments/${b.assignmentId}`)).status).toBe(204);

      const r = await call(t, 'GET', `/v1/relay/boot?mac=${b.mac}&arch=0`, { token: relay.token });
      expect(r.status, r.text).toBe(200);
      expect(r.text).toContain(script.split('\n')[1]);
      const explain = await call(t, 'GET', `/v1/machines/${b.mac}/explain?arch=bios`);
      expect(explain.status, explain.text).toBe(200);
      expect(JSON.stringify(explain.body)).toContain('hw.memory-gib=64');
    });
  });
}
