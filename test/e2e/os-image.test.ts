/**
 * The test OS that end-to-end scenarios netboot: the cpio writer, module resolution from an unpacked
 * Debian kernel, and real boots in qemu (TCG) — without a NIC, on a LAN of network namespaces with
 * dnsmasq and an HTTP callback server, and from the local disk under BIOS and UEFI.
 *
 * Needs: apt lists (apt-get update) to download the kernel, busybox-static, qemu-system-x86, ovmf,
 * syslinux, syslinux-common, mtools, dnsmasq; root for the namespace test.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import { gunzipSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTestbed, requireTools, type Testbed } from '../support/netns.ts';
import { decodeCpio, encodeCpio, type CpioEntry } from '../../imager/build/cpio.ts';
import { readModinfo, resolveModules, moduleBytes } from '../../imager/build/kernel-modules.ts';
import { buildInitramfs, buildLocalDisk, debianKernel, E2E_CACHE, type DebianKernel } from './support/os-image.ts';

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const QEMU = ['qemu-system-x86_64', '-accel', 'tcg', '-m', '512', '-nographic', '-no-reboot'];

let kernel: DebianKernel;
let work: string;
let initrd: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'edgeboot-os-image-'));
  kernel = await debianKernel(E2E_CACHE);
  initrd = await buildInitramfs({ kernel, out: join(work, 'initrd.gz'), extraInit: 'echo "EDGEBOOT-EXTRA ran after the callback, token=$token"' });
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('newc cpio writer', () => {
  const sample: CpioEntry[] = [
    { type: 'dir', path: 'bin', mode: 0o755 },
    { type: 'file', path: 'bin/x', data: new Uint8Array([1, 2, 3, 4, 5]), mode: 0o755 },
    { type: 'symlink', path: 'bin/sh', target: 'x' },
    { type: 'dir', path: 'dev', mode: 0o755 },
    { type: 'char', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { type: 'file', path: 'a-name-of-odd-length', data: new TextEncoder().encode('hello\n'), mode: 0o644 },
    { type: 'file', path: 'empty', data: new Uint8Array(), mode: 0o644 },
  ];

  it('round-trips files, directories, symlinks and device nodes through its reader', () => {
    expect(decodeCpio(encodeCpio(sample))).toEqual(sample);
  });

  it('aligns every entry to 4 bytes and ends with the TRAILER!!! entry', () => {
    for (let len = 1; len <= 9; len++) {
      const bytes = encodeCpio([{ type: 'file', path: 'n'.repeat(len), data: new Uint8Array(len), mode: 0o644 }]);
      expect(bytes.length % 4).toBe(0);
      const s = new TextDecoder().decode(bytes);
      // Second header: 110 bytes + name + NUL, padded; then the data, padded.
      const second = Math.ceil((110 + len + 1) / 4) * 4 + Math.ceil(len / 4) * 4;
      expect(s.slice(second, second + 6)).toBe('070701');
      expect(s.slice(second + 110, second + 120)).toBe('TRAILER!!!');
    }
  });

  it('writes archives that busybox cpio lists the same way', () => {
    const listing = execFileSync('busybox', ['cpio', '-t'], { input: encodeCpio(sample), encoding: 'utf8', stdio: ['pipe', 'pipe', 'ignore'] });
    expect(listing.trim().split('\n')).toEqual(sample.map((e) => e.path));
  });

  it('builds an initramfs whose /init, busybox and modules decode back intact', () => {
    const entries = decodeCpio(gunzipSync(readFileSync(initrd)));
    const byPath = new Map(entries.map((e) => [e.path, e]));
    expect(byPath.get('dev/console')).toMatchObject({ type: 'char', major: 5, minor: 1 });
    expect(byPath.get('bin/sh')).toEqual({ type: 'symlink', path: 'bin/sh', target: 'busybox' });
    const busybox = byPath.get('bin/busybox');
    expect(busybox?.type === 'file' && Buffer.from(busybox.data).equals(readFileSync('/bin/busybox'))).toBe(true);
    const init = byPath.get('init');
    expect(init).toMatchObject({ type: 'file', mode: 0o755 });
    expect(new TextDecoder().decode((init as { data: Uint8Array }).data)).toContain('EDGEBOOT-EXTRA');
    // Every directory precedes its children: the kernel's unpacker creates no parents.
    const seen = new Set<string>();
    for (const e of entries) {
      const parent = e.path.split('/').slice(0, -1).join('/');
      if (parent) expect(seen, `${e.path} before ${parent}`).toContain(parent);
      seen.add(e.path);
    }
  });
});

describe('Debian package cache', () => {
  it('downloads and unpacks a package once when two processes ask for it at the same time', async () => {
    const cache = join(work, 'cache');
    const script = `
      const { debianPackage } = await import(${JSON.stringify(join(import.meta.dirname, '../../imager/build/debian-package.ts'))});
      console.log(JSON.stringify(await debianPackage(process.argv[1], 'systemd-boot-efi')));`;
    const child = () =>
      new Promise<string>((resolve, reject) =>
        execFile(process.execPath, ['--input-type=module', '-e', script, cache], { timeout: 120_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))),
      );
    const [a, b] = await Promise.all([child(), child()]);
    expect(JSON.parse(a)).toEqual(JSON.parse(b));
    const root = JSON.parse(a).root as string;
    expect(statSync(join(root, 'usr/lib/systemd/boot/efi/systemd-bootx64.efi')).size).toBeGreaterThan(50_000);
    // Nothing but the unpacked tree is left: no lock, no temporary folder, no .deb.
    expect(readdirSync(cache)).toEqual([basename(root)]);
  }, 180_000);
});

describe('kernel modules from the unpacked package', () => {
  it('reads dependencies from .modinfo and lists them before the modules that need them', () => {
    const mods = resolveModules(kernel.modulesDir, ['virtio_pci', 'virtio_net']).map((m) => m.name);
    expect(mods).toEqual(expect.arrayContaining(['virtio', 'virtio_ring', 'virtio_pci', 'virtio_net', 'net_failover', 'failover']));
    expect(mods.indexOf('failover')).toBeLessThan(mods.indexOf('net_failover'));
    expect(mods.indexOf('net_failover')).toBeLessThan(mods.indexOf('virtio_net'));
    expect(mods.indexOf('virtio_ring')).toBeLessThan(mods.indexOf('virtio_pci'));
    const net = resolveModules(kernel.modulesDir, ['virtio_net']).at(-1)!;
    expect(readModinfo(moduleBytes(net.path)).get('vermagic')?.[0]).toMatch(new RegExp(`^${kernel.version.replace(/\./g, '\\.')} `));
  });

  it('fails naming a module the kernel does not have', () => {
    expect(() => resolveModules(kernel.modulesDir, ['no_such_module'])).toThrow(/no_such_module is neither built into the kernel nor in/);
  });
});

describe('the test OS in qemu', () => {
  let bed: Testbed | undefined;
  afterEach(async () => {
    await bed?.cleanup();
    bed = undefined;
  });

  it('boots kernel + initramfs with no NIC to the marker line, then powers off', async () => {
    const run = await boot([...QEMU, '-nic', 'none', '-kernel', kernel.vmlinuz, '-initrd', initrd, '-append', 'console=ttyS0 edgeboot.token=abc edgeboot.marker=m1 edgeboot.callback=http://10.0.0.1/x']);
    expect(run.code, run.tail()).toBe(0);
    expect(run.lines.filter((l) => l.includes('EDGEBOOT-MARKER')), run.tail()).toEqual(['EDGEBOOT-MARKER token=abc marker=m1']);
    expect(run.lines).toContain('EDGEBOOT-CALLBACK status=failed');
    expect(run.lines).toContain('EDGEBOOT-EXTRA ran after the callback, token=abc');
    expect(run.ms).toBeLessThan(60_000);
    report('no NIC', run, 'EDGEBOOT-MARKER');
  }, 120_000);

  it('gets a DHCP lease on a namespace LAN and POSTs {} to <callback>/succeeded with the bearer token', async () => {
    requireTools(['ip', 'dnsmasq', 'qemu-system-x86_64']);
    bed = await createTestbed('osimage');
    await bed.namespace('srv');
    await bed.lan('lan');
    await bed.attach('srv', 'lan', 'eth0', '10.77.0.1/24');
    for (const args of [['tuntap', 'add', 'tap0', 'mode', 'tap'], ['link', 'set', 'tap0', 'master', 'br0', 'up']]) {
      const r = await bed.run('lan', 'ip', args);
      expect(r.code, r.stderr).toBe(0);
    }
    const dnsmasq = bed.spawn('srv', 'dnsmasq', ['--no-daemon', '--conf-file=/dev/null', '--port=0', '--pid-file=', '--leasefile-ro', '--no-ping', '--dhcp-authoritative', '--dhcp-range=10.77.0.100,10.77.0.150,255.255.255.0,10m', '--dhcp-option=3,10.77.0.1']);
    await dnsmasq.waitForLine(/DHCP, IP range/);
    const http = bed.spawn('srv', process.execPath, ['--input-type=module', '-e', CALLBACK_SERVER]);
    await http.waitForLine(/^listening$/);

    const cases = [
      { token: 'good-token', mac: '52:54:00:0e:b0:01', status: 'ok' },
      { token: 'wrong-token', mac: '52:54:00:0e:b0:02', status: 'failed' }, // the server answers 401
    ];
    for (const c of cases) {
      const vm = bed.spawn('lan', QEMU[0]!, [
        ...QEMU.slice(1),
        '-netdev', 'tap,id=n0,ifname=tap0,script=no,downscript=no',
        // No option ROM: the kernel is loaded directly, iPXE would only cost start-up time.
        '-device', `virtio-net-pci,netdev=n0,mac=${c.mac},romfile=`,
        '-kernel', kernel.vmlinuz, '-initrd', initrd,
        '-append', `console=ttyS0 quiet edgeboot.token=${c.token} edgeboot.marker=nic edgeboot.callback=http://10.77.0.1:8080/v1/callback/`,
      ]);
      const started = Date.now();
      const timer = setTimeout(() => void vm.kill(), 120_000);
      const when = (re: RegExp) => vm.waitForLine(re, 120_000).then(() => Date.now() - started, () => NaN);
      const [markerAt, leaseAt, callbackAt] = [when(/EDGEBOOT-MARKER/), when(/lease of .* obtained/), when(/EDGEBOOT-CALLBACK/)];
      const exit = await vm.exited;
      clearTimeout(timer);
      const lines = vm.stdout.map(plain);
      const tail = lines.slice(-40).join('\n') + '\n' + vm.stderr.join('\n');
      expect(exit.code, tail).toBe(0);
      expect(lines, tail).toContain(`EDGEBOOT-MARKER token=${c.token} marker=nic`);
      expect(lines, tail).toContain(`EDGEBOOT-CALLBACK status=${c.status}`);
      expect(lines.some((l) => /^edgeboot: eth0 10\.77\.0\.1\d\d\/24 router 10\.77\.0\.1$/.test(l)), tail).toBe(true);
      console.info(`[os-image] NIC boot (${c.status}): marker at ${await markerAt} ms, lease at ${await leaseAt} ms, callback at ${await callbackAt} ms, power-off at ${Date.now() - started} ms`);
    }

    const requests = http.stdout.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Logged);
    expect(requests.map((r) => [r.method, r.url, r.headers.authorization])).toEqual([
      ['POST', '/v1/callback/succeeded', 'Bearer good-token'],
      ['POST', '/v1/callback/succeeded', 'Bearer wrong-token'],
    ]);
    for (const r of requests) {
      expect(r.body).toBe('{}');
      // busybox wget sends the caller's Content-Type instead of its form default, not beside it.
      expect(r.raw.filter((h) => h.toLowerCase() === 'content-type')).toHaveLength(1);
      expect(r.headers['content-type']).toBe('application/json');
    }
  }, 300_000);

  it('boots the local disk under BIOS from IDE and from virtio-blk', async () => {
    const disk = await buildLocalDisk(join(work, 'local.img'), 'L1', { kernel });
    console.info(`[os-image] local disk ${(statSync(disk).size / 2 ** 20).toFixed(0)} MiB`);
    for (const drive of [['-drive', `file=${disk},format=raw,snapshot=on`], ['-drive', `file=${disk},format=raw,if=none,id=d0,snapshot=on`, '-device', 'virtio-blk-pci,drive=d0,bootindex=1']]) {
      const run = await boot([...QEMU, '-nic', 'none', ...drive]);
      expect(run.code, run.tail()).toBe(0);
      expect(run.lines, run.tail()).toContain('EDGEBOOT-LOCAL marker=L1');
      report(`BIOS local disk (${drive.length > 2 ? 'virtio-blk' : 'IDE'})`, run, 'EDGEBOOT-LOCAL');
    }
  }, 180_000);

  it('boots the same disk under UEFI (OVMF, q35, virtio-blk) through systemd-boot', async () => {
    const disk = await buildLocalDisk(join(work, 'local-uefi.img'), 'U1', { kernel });
    const vars = join(work, 'vars.fd');
    copyFileSync(OVMF_VARS, vars);
    const run = await boot([
      ...QEMU, '-machine', 'q35', '-nic', 'none',
      '-drive', `if=pflash,format=raw,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,file=${vars}`,
      '-drive', `file=${disk},format=raw,if=none,id=d0,snapshot=on`, '-device', 'virtio-blk-pci,drive=d0,bootindex=1',
    ]);
    expect(run.code, run.tail()).toBe(0);
    expect(run.lines, run.tail()).toContain('EDGEBOOT-LOCAL marker=U1');
    report('UEFI local disk', run, 'EDGEBOOT-LOCAL');
  }, 180_000);
});

// ---------------------------------------------------------------------------------------------------

interface Logged {
  method: string;
  url: string;
  headers: Record<string, string>;
  raw: string[];
  body: string;
}

/** Logs each request as one JSON line; 200 for `Bearer good-token`, else 401 (as the cloud would). */
const CALLBACK_SERVER = `
import { createServer } from 'node:http';
createServer((req, res) => {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    console.log(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, raw: req.rawHeaders.filter((_, i) => i % 2 === 0), body }));
    const ok = req.headers.authorization === 'Bearer good-token';
    res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
    res.end(ok ? '{"ok":true}' : '{"error":{"code":"unauthorized"}}');
  });
}).listen(8080, '10.77.0.1', () => console.log('listening'));
`;

interface Boot {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Console lines without escape sequences or CR, and when each arrived (ms after spawn). */
  lines: string[];
  at: number[];
  ms: number;
  tail(): string;
}

/** Runs qemu in this namespace (every boot here has no NIC) until it powers off, or kills it after `timeoutMs`. */
function boot(argv: string[], timeoutMs = 90_000): Promise<Boot> {
  const started = Date.now();
  const child = spawn(argv[0]!, argv.slice(1), { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const at: number[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (l) => {
    lines.push(plain(l));
    at.push(Date.now() - started);
  });
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
  }, timeoutMs);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, lines, at, ms: Date.now() - started, tail: () => `${lines.slice(-40).join('\n')}\n--- stderr\n${stderr}` });
    });
  });
}

/** Milliseconds from spawn to the kernel's first line and to the marker, for the log. */
function report(what: string, run: Boot, marker: string): void {
  const kernelAt = run.at[run.lines.findIndex((l) => l.includes('Linux version'))];
  const markerAt = run.at[run.lines.findIndex((l) => l.includes(marker))];
  console.info(`[os-image] ${what}: kernel at ${kernelAt ?? '?'} ms, marker at ${markerAt} ms (kernel → marker ${kernelAt === undefined ? '?' : markerAt! - kernelAt} ms), power-off at ${run.ms} ms`);
}

/** Firmware and iPXE draw with escape sequences (SeaBIOS starts with ESC c); lines are compared as plain text. */
function plain(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;?]*[A-Za-z]|\u001b[()][A-Z0-9]|\u001b[cM78=>]|\r/g, '');
}
