/**
 * Benchmark (not a test): what the relay's proxyDHCP and dnsmasq's proxy answer when the requests are
 * malformed in the ways firmware, relay agents and broken clients really get them wrong (issue 14).
 * Each class is 1,000 packets from a seeded generator, built from the captured DISCOVERs of OVMF, a BIOS
 * PXE ROM and iPXE (test/relay/dhcp/fixtures), every packet with its own MAC and xid:
 *
 *   duplicated     1–3 options repeated (at another place in the area); a quarter of the copies of
 *                  fixed-size options carry another value (RFC 3396 would join them: ambiguous)
 *   zero-length    1–3 options emptied, or empty instances of random codes inserted
 *   encap-garbage  option 43 (PXE) or 175 (iPXE) with random bytes after, or instead of, its sub-options
 *   opt82-garbage  an option 82 (relay agent information) of random bytes, or valid sub-options then garbage
 *   overload       options moved into `file` and/or `sname` with option 52 (RFC 2131 §4.1); some with a
 *                  52 that lies (the field holds a file name) or has a bad value or length
 *   truncated      the packet cut anywhere from inside the magic cookie to just before END
 *   bad-header     op 0/3, hlen 0/17, Ethernet with hlen ≠ 6, a bad cookie, fewer than 240 bytes, a zero,
 *                  broadcast or multicast chaddr, message type 0/19/200, two different message types
 *
 * The generator marks each packet it makes "must not be answered" when the relay cannot interpret it:
 * a bad header, or no single readable message type (option 53 cut, empty, out of range or ambiguous).
 * The whole bad-header class is such. The relay answering any of them is a failure of issue 14.
 *
 * Topology (test/support/netns.ts): namespaces `relay` (10.89.0.10, test/bench/support/dhcp-relay.ts:
 * dhcpService() as the relay builds it, unknown machines netboot), `dnsmasq` (10.89.0.11, the proxy of
 * test/bench/dhcp.ts, --quiet-dhcp) and `cli` (10.89.0.2) on one bridge. A sender in `cli` plays a relay
 * agent: each packet goes unicast to both servers with giaddr = 10.89.0.2, and replies come back to
 * 10.89.0.2:67, told apart by source and xid. Sent at ~2,000 per second per server (both answer over
 * 10,000/s: nothing is lost to load).
 *
 *   node test/bench/dhcp-malformed.ts [--per-class 1000] [--seed 14] [--rate 2000]
 *
 * Needs root, iproute2 and dnsmasq. Only the processes and namespaces created here are touched.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTestbed, requireTools, type Spawned } from '../support/netns.ts';
import { seeded } from '../relay/tftp/support/scripted-client.ts';

const { values } = parseArgs({
  options: {
    'per-class': { type: 'string', default: '1000' },
    seed: { type: 'string', default: '14' },
    rate: { type: 'string', default: '2000' },
    sender: { type: 'string' },
  },
});

// ── the generator ───────────────────────────────────────────────────────────────────────────────────
interface Opt {
  code: number;
  data: number[];
}
interface Made {
  bytes: Uint8Array;
  mustNot: boolean;
  /** The option 82 value sent, when the class adds one (to check the echo). */
  opt82?: number[];
}

const FIXTURES = join(import.meta.dirname, '..', 'relay', 'dhcp', 'fixtures');
const fixture = (name: string) => Uint8Array.from(readFileSync(join(FIXTURES, `${name}.hex`), 'utf8').replace(/\s+/g, '').match(/../g)!, (h) => parseInt(h, 16));
const BASES = ['ovmf-discover', 'bios-rom-discover', 'ipxe-discover'].map(fixture);
/** Option lengths that have one right size (RFC 2132 / RFC 4578): a different value in a copy is a conflict. */
const FIXED = new Set([53, 57, 93, 94, 97, 50, 54, 51, 52]);

/** The base's options as a list (the fixtures are well formed: no parsing subtleties needed). */
function optionsOf(b: Uint8Array): Opt[] {
  const out: Opt[] = [];
  for (let i = 240; i < b.length && b[i] !== 255; ) {
    if (b[i] === 0) {
      i++;
      continue;
    }
    out.push({ code: b[i]!, data: [...b.subarray(i + 2, i + 2 + b[i + 1]!)] });
    i += 2 + b[i + 1]!;
  }
  return out;
}

/** Raw option-area bytes: each entry as written (a length byte may lie), then END unless told not to. */
function area(opts: Array<Opt & { len?: number }>, end = true): number[] {
  const out: number[] = [];
  for (const o of opts) out.push(o.code, o.len ?? o.data.length, ...o.data);
  if (end) out.push(255);
  return out;
}

function generate(perClass: number, seed: number): Map<string, Made[]> {
  const rnd = seeded(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T>(a: readonly T[]): T => a[int(a.length)]!;
  const bytes = (n: number) => Array.from({ length: n }, () => int(256));
  let serial = 0;
  /** A copy of a base's header with a fresh MAC (locally administered, unicast) and xid. */
  const header = (base: Uint8Array) => {
    const h = base.slice(0, 240);
    serial++;
    h.set([0x02, 0xeb, (serial >> 16) & 0xff, (serial >> 8) & 0xff, serial & 0xff, int(256)], 28);
    new DataView(h.buffer).setUint32(4, 0x0e000000 + serial);
    return h;
  };
  const packet = (h: Uint8Array, optionArea: number[]) => {
    const b = new Uint8Array(240 + optionArea.length);
    b.set(h);
    b.set(optionArea, 240);
    return b;
  };
  /** How many readable, agreeing instances of 53 a list of options holds (RFC 3396 joins the rest). */
  const type53Ok = (opts: Array<Opt & { len?: number }>) => {
    const v = opts.filter((o) => o.code === 53 && o.data.length > 0).map((o) => o.data);
    return v.length > 0 && v.every((d) => d.length === 1 && d[0] === v[0]![0] && d[0]! >= 1 && d[0]! <= 18);
  };

  const classes: Record<string, () => Made> = {
    duplicated() {
      const base = pick(BASES);
      const opts = optionsOf(base);
      for (let k = 1 + int(3); k > 0; k--) {
        const o = pick(opts);
        const copy = { code: o.code, data: FIXED.has(o.code) && int(4) === 0 ? o.data.map((x) => (x + 1 + int(3)) & 0xff) : [...o.data] };
        opts.splice(int(opts.length + 1), 0, copy);
      }
      return { bytes: packet(header(base), area(opts)), mustNot: !type53Ok(opts) };
    },
    'zero-length'() {
      const base = pick(BASES);
      const opts = optionsOf(base);
      for (let k = 1 + int(3); k > 0; k--) {
        if (int(2)) pick(opts).data = [];
        else opts.splice(int(opts.length + 1), 0, { code: 1 + int(254), data: [] });
      }
      return { bytes: packet(header(base), area(opts)), mustNot: !type53Ok(opts) };
    },
    'encap-garbage'() {
      const base = pick(BASES);
      const opts = optionsOf(base);
      const o175 = opts.find((o) => o.code === 175);
      const target = o175 ?? { code: 43, data: [6, 1, 8] };
      if (!o175) opts.push(target);
      switch (int(3)) {
        case 0: // garbage after the sub-options
          target.data = [...target.data, ...bytes(1 + int(30))].slice(0, 255);
          break;
        case 1: // a sub-option whose length runs past the option's end
          target.data = [...target.data, 20 + int(10), 40 + int(100), ...bytes(int(4))];
          break;
        default: // nothing but garbage
          target.data = bytes(1 + int(40));
      }
      return { bytes: packet(header(base), area(opts)), mustNot: false };
    },
    'opt82-garbage'() {
      const base = pick(BASES);
      const opts = optionsOf(base);
      const value = int(2) ? bytes(1 + int(40)) : [1, 4, ...bytes(4), 2, 6, ...bytes(6), ...bytes(1 + int(10))];
      opts.push({ code: 82, data: value });
      return { bytes: packet(header(base), area(opts)), mustNot: false, opt82: value };
    },
    overload() {
      const base = pick(BASES);
      const opts = optionsOf(base);
      const h = header(base);
      const kind = int(10);
      if (kind < 6) {
        // Proper overload: options moved out of the main area into file (≤ 128) and/or sname (≤ 64).
        const where = 1 + int(3);
        const file: Opt[] = [];
        const sname: Opt[] = [];
        let fileLeft = 127;
        let snameLeft = 63;
        for (const o of [...opts]) {
          if (o.code === 53 || int(2)) continue;
          const need = 2 + o.data.length;
          if (where & 1 && need <= fileLeft) {
            file.push(o);
            fileLeft -= need;
          } else if (where & 2 && need <= snameLeft) {
            sname.push(o);
            snameLeft -= need;
          } else continue;
          opts.splice(opts.indexOf(o), 1);
        }
        h.fill(0, 44, 236);
        if (where & 1) h.set(area(file, int(4) !== 0), 108); // END is optional in the fixed fields
        if (where & 2) h.set(area(sname, int(4) !== 0), 44);
        opts.splice(1, 0, { code: 52, data: [where] });
      } else if (kind < 8) {
        // A 52 that lies: the file field holds a file name, not options.
        h.set(new TextEncoder().encode(pick(['pxelinux.0', 'ipxe.efi', 'boot/grub/x86_64-efi/core.efi', 'undionly.kpxe'])), 108);
        opts.push({ code: 52, data: [1 + int(3)] });
      } else {
        opts.push({ code: 52, data: pick([[0], [4], [255], [1, 1], []]) });
      }
      return { bytes: packet(h, area(opts)), mustNot: !type53Ok(opts) };
    },
    truncated() {
      const base = pick(BASES);
      const opts = optionsOf(base);
      const full = packet(header(base), area(opts));
      const cut = 237 + int(full.length - 237); // from inside the cookie to just before END
      // The 53 (first in every base) is whole from byte 243 on; before 240 the cookie is cut.
      return { bytes: full.slice(0, cut), mustNot: cut < 243 };
    },
    'bad-header'() {
      const base = pick(BASES);
      const opts = optionsOf(base);
      const h = header(base);
      let area53 = area(opts);
      switch (int(9)) {
        case 0:
          h[0] = pick([0, 3, 255]);
          break;
        case 1:
          h[2] = pick([0, 17, 255]);
          break;
        case 2:
          h[2] = pick([4, 8, 16]);
          break;
        case 3: {
          const at = 236 + int(4);
          h[at] = h[at]! ^ (1 + int(255));
          break;
        }
        case 4:
          return { bytes: packet(h, area53).slice(0, int(240)), mustNot: true };
        case 5:
          h.set(pick([[0, 0, 0, 0, 0, 0], [255, 255, 255, 255, 255, 255], [0x01, 0x00, 0x5e, 0, 0, 1 + int(250)]]), 28);
          break;
        case 6:
          opts[0]!.data = [pick([0, 19, 200])];
          area53 = area(opts);
          break;
        case 7:
          opts.splice(1 + int(opts.length), 0, { code: 53, data: [3] }); // DISCOVER and REQUEST at once
          area53 = area(opts);
          break;
        default:
          opts[0]!.data = [1, 3];
          area53 = area(opts);
      }
      return { bytes: packet(h, area53), mustNot: true };
    },
  };

  const out = new Map<string, Made[]>();
  for (const [name, make] of Object.entries(classes)) out.set(name, Array.from({ length: perClass }, make));
  return out;
}

// ── the sender (runs inside the client namespace) ───────────────────────────────────────────────────
interface SendPlan {
  servers: string[];
  giaddr: string;
  rate: number;
  packets: string[];
}
interface SendResult {
  /** Per server: xid → option 82 value of the reply (hex, '' when absent). */
  answers: Record<string, Record<number, string>>;
  sent: number;
}

async function sender(file: string): Promise<void> {
  const plan = JSON.parse(readFileSync(file, 'utf8')) as SendPlan;
  const sock = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  const answers: SendResult['answers'] = Object.fromEntries(plan.servers.map((s) => [s, {}]));
  sock.on('message', (msg, from) => {
    if (msg.length < 240 || !(from.address in answers)) return;
    let o82 = '';
    for (let i = 240; i + 1 < msg.length && msg[i] !== 255; i += msg[i] === 0 ? 1 : 2 + msg[i + 1]!) {
      if (msg[i] === 82) o82 += msg.subarray(i + 2, i + 2 + msg[i + 1]!).toString('hex');
    }
    answers[from.address]![msg.readUInt32BE(4)] = o82;
  });
  await new Promise<void>((r) => sock.bind(67, '0.0.0.0', r));
  const gi = plan.giaddr.split('.').map(Number);
  const perTick = Math.max(1, Math.round(plan.rate / 200));
  let sent = 0;
  for (let i = 0; i < plan.packets.length; i++) {
    const b = Buffer.from(plan.packets[i]!, 'hex');
    if (b.length >= 28) b.set(gi, 24); // the relay agent's own address (the header classes keep their fault)
    for (const s of plan.servers) {
      sock.send(b, 67, s);
      sent++;
    }
    if (i % perTick === perTick - 1) await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 2000));
  sock.close();
  process.stdout.write(`result ${JSON.stringify({ answers, sent } satisfies SendResult)}\n`);
}

// ── the run ─────────────────────────────────────────────────────────────────────────────────────────
async function main(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.error('this benchmark creates network namespaces: run it as root');
    process.exit(2);
  }
  requireTools(['ip', 'dnsmasq']);
  const perClass = Number(values['per-class']);
  const seed = Number(values.seed);
  const classes = generate(perClass, seed);
  const all = [...classes.values()].flat();

  const dir = mkdtempSync(join(tmpdir(), 'eb-bench-dhcpmal-'));
  const bed = await createTestbed('dhcpmal');
  const RELAY = '10.89.0.10';
  const DNSMASQ = '10.89.0.11';
  const CLIENT = '10.89.0.2';
  let relay: Spawned | undefined;
  try {
    await bed.lan('lan');
    for (const [name, addr] of [['relay', RELAY], ['dnsmasq', DNSMASQ], ['cli', CLIENT]] as const) {
      await bed.namespace(name);
      await bed.attach(name, 'lan', 'eth0', `${addr}/24`);
    }
    relay = bed.spawn('relay', process.execPath, [join(import.meta.dirname, 'support', 'dhcp-relay.ts'), '--mode', 'proxy', '--state-dir', join(dir, 'relay'), '--interface', 'eth0', '--public-url', `http://${RELAY}:8080`]);
    await relay.waitForLine(/^ready /, 20_000);
    // test/bench/dhcp.ts's proxy: a menu entry per firmware class, iPXE sent to HTTP, no log line per request.
    const dnsmasq = bed.spawn('dnsmasq', 'dnsmasq', [
      '--no-daemon', '--conf-file=/dev/null', '--port=0', `--pid-file=${dir}/dnsmasq.pid`, `--dhcp-leasefile=${dir}/dnsmasq.leases`, '--quiet-dhcp',
      '--dhcp-range=10.89.0.0,proxy,255.255.255.0', '--dhcp-userclass=set:ipxe,iPXE', '--pxe-prompt=edgeboot,0',
      '--pxe-service=tag:!ipxe,x86PC,edgeboot,undionly', '--pxe-service=tag:!ipxe,X86-64_EFI,edgeboot,ipxe.efi',
      `--pxe-service=tag:ipxe,x86PC,edgeboot,http://${DNSMASQ}:8080/boot`, `--pxe-service=tag:ipxe,X86-64_EFI,edgeboot,http://${DNSMASQ}:8080/boot`,
    ]);
    await dnsmasq.waitForLine(/DHCP, proxy on subnet/, 10_000);

    // Control: the unmodified bases must be answered by both, or the bed is wrong, not the packets.
    const plan: SendPlan = { servers: [RELAY, DNSMASQ], giaddr: CLIENT, rate: Number(values.rate), packets: all.map((m) => Buffer.from(m.bytes).toString('hex')) };
    writeFileSync(join(dir, 'plan.json'), JSON.stringify(plan));
    const run = await bed.run('cli', process.execPath, [import.meta.filename, '--sender', join(dir, 'plan.json')], { timeoutMs: 600_000 });
    const line = run.stdout.split('\n').find((l) => l.startsWith('result '));
    if (!line) throw new Error(`the sender printed no result:\n${run.stderr.slice(-2000)}`);
    const result = JSON.parse(line.slice(7)) as SendResult;
    relay.child.kill('SIGTERM');
    const stats = await relay.waitForLine(/^stats /, 10_000);

    const xidOf = (m: Made) => new DataView(m.bytes.buffer, m.bytes.byteOffset).getUint32(4);
    const hasXid = (m: Made) => m.bytes.length >= 8;
    console.log(`DHCP proxy answers to malformed DISCOVERs, ${perClass} per class, seed ${seed}, ${result.sent} packets sent (each to both servers)`);
    console.log(`${'class'.padEnd(14)} ${'must-not'.padStart(8)}  ${'relay'.padStart(6)}  ${'dnsmasq'.padStart(7)}  ${'relay/dnsmasq'.padStart(13)}  ${'relay must-not'.padStart(14)}  ${'dnsmasq must-not'.padStart(16)}  82 echoed as sent`);
    let relayBad = 0;
    for (const [name, made] of classes) {
      const count = (server: string, only?: (m: Made) => boolean) => made.filter((m) => hasXid(m) && (only ? only(m) : true) && xidOf(m) in result.answers[server]!).length;
      const r = count(RELAY);
      const d = count(DNSMASQ);
      const rBad = count(RELAY, (m) => m.mustNot);
      const dBad = count(DNSMASQ, (m) => m.mustNot);
      relayBad += rBad;
      const with82 = made.filter((m) => m.opt82 && hasXid(m) && xidOf(m) in result.answers[RELAY]!);
      const echoed = with82.filter((m) => result.answers[RELAY]![xidOf(m)] === Buffer.from(m.opt82!).toString('hex')).length;
      const d82 = made.filter((m) => m.opt82 && xidOf(m) in result.answers[DNSMASQ]!);
      const dEchoed = d82.filter((m) => result.answers[DNSMASQ]![xidOf(m)] === Buffer.from(m.opt82!).toString('hex')).length;
      console.log(
        `${name.padEnd(14)} ${String(made.filter((m) => m.mustNot).length).padStart(8)}  ${String(r).padStart(6)}  ${String(d).padStart(7)}  ${(d ? `${(r / d).toFixed(2)}×` : 'n/a').padStart(13)}  ${String(rBad).padStart(14)}  ${String(dBad).padStart(16)}  ${with82.length || d82.length ? `relay ${echoed}/${with82.length}, dnsmasq ${dEchoed}/${d82.length}` : ''}`,
      );
    }
    console.log(`relay answers to packets that must not be answered: ${relayBad} (must be 0)`);
    console.log(`relay counters: ${stats.slice(6)}`);
    await dnsmasq.kill();
  } finally {
    await relay?.kill();
    await bed.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (values.sender) await sender(values.sender);
else await main();
