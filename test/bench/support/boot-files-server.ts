/**
 * The boot server of the dnsmasq configurations in test/bench/boot-time.ts: plain node:http, run inside
 * the boot server's namespace, serving what a site that boots with dnsmasq would put on a web server —
 * the iPXE script and the kernel and initrd it names. It renders the script edgeboot's cloud renders for
 * the same profile (shared/boot/ipxe-script.ts: `kernel --name vmlinuz … initrd=initrd0` under UEFI,
 * `initrd --name initrd0 …`, `boot`), so both chains make the same requests.
 *
 *   node test/bench/support/boot-files-server.ts <listen-ip> <port> <vmlinuz> <initrd> <cmdline>
 *
 *   GET /boot?fw=bios|uefi&marker=<m>   the script (`marker` lands in edgeboot.marker=)
 *   GET /vmlinuz, GET /initrd.gz        the files, streamed
 *
 * Prints `listening http://<ip>:<port>` once ready; exits on SIGTERM.
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer } from 'node:http';

const [ip, port, vmlinuz, initrd, cmdline] = process.argv.slice(2);
if (!ip || !port || !vmlinuz || !initrd || cmdline === undefined) {
  console.error('usage: boot-files-server.ts <listen-ip> <port> <vmlinuz> <initrd> <cmdline>');
  process.exit(2);
}
const base = `http://${ip}:${port}`;
const files: Record<string, string> = { '/vmlinuz': vmlinuz, '/initrd.gz': initrd };

function script(fw: string, marker: string): string {
  const args = [cmdline, `edgeboot.marker=${marker}`, ...(fw === 'uefi' ? ['initrd=initrd0'] : [])].filter(Boolean).join(' ');
  return ['#!ipxe', `kernel --name vmlinuz ${base}/vmlinuz ${args}`, `initrd --name initrd0 ${base}/initrd.gz`, 'boot', ''].join('\n');
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', base);
  if (url.pathname === '/boot') {
    const body = script(url.searchParams.get('fw') ?? 'bios', (url.searchParams.get('marker') ?? 'none').replace(/[^A-Za-z0-9-]/g, ''));
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
    return;
  }
  const file = files[url.pathname];
  if (!file) {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(statSync(file).size) });
  createReadStream(file).pipe(res);
});
server.listen(Number(port), ip, () => console.log(`listening ${base}`));
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
