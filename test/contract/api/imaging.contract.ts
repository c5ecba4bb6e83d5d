import { beforeAll, describe, expect, it } from 'vitest';
import { createSite, enrollRelay } from '../fixtures.ts';
import { call, errorCode, randomMac, unique, type ApiTarget } from '../target.ts';

/**
 * The imager's job (`POST /v1/callback/job`) and installers' answer files
 * (`GET /v1/callback/files/<token>/<name>`), through fetch only, so every column runs them.
 */

const FILE_BASE = 'http://10.9.8.7:8080';
const GiB = 1024 ** 3;

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  return [...new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))].map((b) => b.toString(16).padStart(2, '0')).join('');
}

async function image(t: ApiTarget, kind: string, bytes: Uint8Array<ArrayBuffer> | null): Promise<string> {
  const r = await call(t, 'POST', '/v1/images', { json: { name: unique(kind), kind } });
  expect(r.status, r.text).toBe(201);
  if (bytes) {
    const put = await call(t, 'PUT', `/v1/images/${r.body.id}/content`, { body: bytes, headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) } });
    expect(put.status, put.text).toBe(200);
  }
  return r.body.id;
}

interface Boot {
  mac: string;
  machineId: string;
  script: string;
  token: string;
  callback: string;
}

export function imagingContract(target: () => ApiTarget): void {
  describe('imaging job and answer files', () => {
    let t: ApiTarget;
    let siteId: string;
    let relay: { relayId: string; token: string };
    let kernel: string;
    let initrd: string;
    let disk: string;
    let diskBytes: Uint8Array<ArrayBuffer>;
    beforeAll(async () => {
      t = target();
      siteId = await createSite(t);
      relay = await enrollRelay(t, siteId);
      kernel = await image(t, 'kernel', new Uint8Array([1, 2, 3]));
      initrd = await image(t, 'initrd', new Uint8Array([4, 5, 6]));
      diskBytes = crypto.getRandomValues(new Uint8Array(8192));
      disk = await image(t, 'disk-raw', diskBytes);
    });

    const profile = async (spec: Record<string, unknown>): Promise<string> => {
      const r = await call(t, 'POST', '/v1/profiles', { json: { name: unique('p'), spec } });
      expect(r.status, r.text).toBe(201);
      return r.body.id;
    };
    const imaging = (extra: Record<string, unknown> = {}) => profile({ kind: 'imaging', kernel, initrds: [initrd], diskImage: disk, cmdline: 'console=ttyS0', ...extra });

    /** A machine assigned `profileId`, booted once through the relay (fileBase = the relay's LAN base). */
    const boot = async (profileId: string, arch = '0', facts: Record<string, unknown> = {}): Promise<Boot> => {
      const mac = randomMac();
      const m = await call(t, 'POST', '/v1/machines', { json: { mac, siteId, ...facts } });
      expect(m.status, m.text).toBe(201);
      expect((await call(t, 'POST', '/v1/assignments', { json: { profileId, selector: { mac }, once: true } })).status).toBe(201);
      const r = await call(t, 'GET', `/v1/relay/boot?mac=${mac}&arch=${arch}&fileBase=${encodeURIComponent(FILE_BASE)}`, { token: relay.token });
      expect(r.status, r.text).toBe(200);
      const token = /(?:edgeboot\.token=|\/v1\/callback\/files\/)(ebc_[A-Za-z0-9_-]+)/.exec(r.text)?.[1] ?? '';
      return { mac, machineId: m.body.id, script: r.text, token, callback: `${FILE_BASE}/v1/callback` };
    };
    const job = (b: Boot, disks: unknown[]) => call(t, 'POST', '/v1/callback/job', { token: b.token, json: { disks } });
    const vda = { name: 'vda', path: '/dev/vda', size: 8 * GiB, removable: false };

    it('boots the imager with its callback, token and MAC on the kernel line, and names its initrd under UEFI', async () => {
      const b = await boot(await imaging(), '7');
      expect(b.token).toMatch(/^ebc_/);
      const kernelLine = b.script.split('\n').find((l) => l.startsWith('kernel '))!;
      expect(kernelLine).toContain(`${FILE_BASE}/v1/files/${kernel}?sig=`);
      expect(kernelLine).toContain(` edgeboot.callback=${b.callback} edgeboot.token=${b.token} edgeboot.mac=${b.mac} console=ttyS0 initrd=initrd0 `);
      expect(b.script).toContain(`initrd --name initrd0 ${FILE_BASE}/v1/files/${initrd}?sig=`);
      // The disk image is not in the script: it comes with the job.
      expect(b.script).not.toContain(disk);
    });

    it('gives the job: the single fixed disk, a signed URL of the image for the boot base, its sha256, size and format', async () => {
      const b = await boot(await imaging({ verify: 'stream', onSuccess: 'poweroff' }));
      const usb = { name: 'sdb', path: '/dev/sdb', size: 16 * GiB, removable: true, serial: 'USB1' };
      const r = await job(b, [usb, vda]);
      expect(r.status, r.text).toBe(200);
      expect(r.body).toMatchObject({
        mac: b.mac,
        machineId: b.machineId,
        target: { name: 'vda', path: '/dev/vda', size: 8 * GiB },
        image: { id: disk, format: 'raw', sha256: await sha256(diskBytes), size: diskBytes.length },
        verify: 'stream',
        onSuccess: 'poweroff',
        onFailure: 'poweroff',
        progressIntervalSeconds: 3,
      });
      const url = new URL(r.body.image.url);
      expect(url.origin).toBe(FILE_BASE);
      expect(url.pathname).toBe(`/v1/files/${disk}`);
      // The signed URL serves exactly the image (the relay's cache fetches it the same way).
      const bytes = await call(t, 'GET', `${url.pathname}${url.search}`, { token: null });
      expect(bytes.status).toBe(200);
      expect(bytes.headers.get('etag')).toBe(`"${r.body.image.sha256}"`);
      // Asking again (an imager that restarted) gets the same job; both are on the timeline.
      expect((await job(b, [usb, vda])).body.target.path).toBe('/dev/vda');
      const tl = (await call(t, 'GET', `/v1/machines/${b.machineId}/timeline?limit=1`)).body.boots[0];
      expect(tl.stages.filter((s: any) => s.stage === 'callback-job')).toHaveLength(2);
      expect(tl.stages.find((s: any) => s.stage === 'callback-job').detail).toMatchObject({ disk: '/dev/vda', imageId: disk, format: 'raw' });
    });

    it('refuses with 409 and a reason the imager can report: two fixed disks, no disk, a serial that does not match', async () => {
      const b = await boot(await imaging());
      const sda = { name: 'sda', path: '/dev/sda', size: 2000 * GiB, serial: 'WD-1' };
      const two = await job(b, [vda, sda]);
      expect(two.status).toBe(409);
      expect(errorCode(two)).toBe('conflict');
      expect(two.body.error.message).toContain('more than one non-removable disk (/dev/vda, /dev/sda)');
      expect((await job(b, [])).body.error.message).toContain('no non-removable disk; disks seen: none');
      const bySerial = await boot(await imaging({ targetDisk: { serial: 'wd-1' } }));
      expect((await job(bySerial, [vda, sda])).body.target.path).toBe('/dev/sda');
      const noSerial = await boot(await imaging({ targetDisk: { serial: 'XYZ' } }));
      expect((await job(noSerial, [vda, sda])).body.error.message).toContain('no matching serial XYZ disk');
    });

    it('refuses a raw image larger than the disk, an image not uploaded yet, and a boot that is not an imaging boot', async () => {
      const b = await boot(await imaging());
      const tiny = await job(b, [{ ...vda, size: 4096 }]);
      expect(tiny.status).toBe(409);
      expect(tiny.body.error.message).toMatch(/\(8192 bytes\) is larger than \/dev\/vda \(4096 bytes\)/);
      const pending = await boot(await imaging({ diskImage: await image(t, 'disk-zst', null) }));
      const p = await job(pending, [vda]);
      expect(p.status).toBe(409);
      expect(p.body.error.message).toContain('not uploaded yet');
      const linux = await boot(await profile({ kind: 'linux', kernel, cmdline: 'edgeboot.token={{callbackToken}}' }));
      const l = await job(linux, [vda]);
      expect(l.status).toBe(409);
      expect(l.body.error.message).toContain('not an imaging boot');
    });

    it('is the boot token only: none, another boot after it finished, or garbage are refused', async () => {
      const b = await boot(await imaging());
      expect((await call(t, 'POST', '/v1/callback/job', { token: null, json: { disks: [vda] } })).status).toBe(401);
      expect((await call(t, 'POST', '/v1/callback/job', { token: 'ebc_nope', json: { disks: [vda] } })).status).toBe(401);
      expect((await call(t, 'POST', `/v1/callback/job?mac=${randomMac()}`, { token: b.token, json: { disks: [vda] } })).status).toBe(404);
      expect((await call(t, 'POST', '/v1/callback/failed', { token: b.token, json: { reason: 'sha256 mismatch' } })).status).toBe(200);
      const after = await job(b, [vda]);
      expect(after.status).toBe(410);
      expect(errorCode(after)).toBe('gone');
    });

    it('serves answer files rendered for the machine, with the token in the path, and a default cloud-init meta-data', async () => {
      const spec = {
        kind: 'linux',
        kernel,
        initrds: [initrd],
        cmdline: 'auto=true priority=critical url={{filesUrl}}/preseed.cfg ds=nocloud-net;s={{filesUrl}}/',
        files: [
          { name: 'preseed.cfg', template: 'd-i netcfg/get_hostname string {{hostname}}\nd-i preseed/late_command string wget --post-data= {{callbackUrl}}/succeeded?token={{callbackToken}}\n' },
          { name: 'user-data', template: '#cloud-config\nhostname: {{hostname}}\nrack: {{label.rack}}\n' },
          { name: 'unattend.xml', template: '<ComputerName>{{hostname}}</ComputerName>' },
        ],
      };
      const b = await boot(await profile(spec), '0', { hostname: 'node-7', labels: { rack: 'r12' } });
      const files = `${FILE_BASE}/v1/callback/files/${b.token}`;
      expect(b.script).toContain(`url=${files}/preseed.cfg ds=nocloud-net;s=${files}/`);
      const get = (name: string, token = b.token) => call(t, 'GET', `/v1/callback/files/${token}/${name}`, { token: null });
      const preseed = await get('preseed.cfg');
      expect(preseed.status, preseed.text).toBe(200);
      expect(preseed.headers.get('cache-control')).toBe('no-store');
      expect(preseed.text).toBe(`d-i netcfg/get_hostname string node-7\nd-i preseed/late_command string wget --post-data= ${b.callback}/succeeded?token=${b.token}\n`);
      expect((await get('user-data')).text).toBe('#cloud-config\nhostname: node-7\nrack: r12\n');
      const xml = await get('unattend.xml');
      expect(xml.headers.get('content-type')).toContain('application/xml');
      expect((await get('meta-data')).text).toBe(`instance-id: ${b.machineId}\nlocal-hostname: node-7\n`);
      const missing = await get('vendor-data');
      expect(missing.status).toBe(404);
      expect(errorCode(missing)).toBe('not_found');
      expect((await get('preseed.cfg', 'ebc_notthetoken')).status).toBe(401);
      expect((await get('preseed.cfg', 'bad token!')).status).toBe(401);
      // Once the installation reported back, its token (and so its answer files) are spent.
      expect((await call(t, 'POST', '/v1/callback/succeeded', { token: b.token })).status).toBe(200);
      expect((await get('preseed.cfg')).status).toBe(410);
    });

    it('refuses answer files with clashing names and profiles whose disk image is not a disk', async () => {
      const dup = await call(t, 'POST', '/v1/profiles', {
        json: { name: unique('p'), spec: { kind: 'linux', kernel, files: [{ name: 'a', template: '' }, { name: 'a', template: '' }] } },
      });
      expect(dup.status).toBe(400);
      const path = await call(t, 'POST', '/v1/profiles', { json: { name: unique('p'), spec: { kind: 'linux', kernel, files: [{ name: '../etc/passwd', template: '' }] } } });
      expect(path.status).toBe(400);
      expect(path.body.error.issues[0].path).toBe('spec.files.0.name');
    });
  });
}
