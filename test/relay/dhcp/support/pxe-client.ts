/**
 * A scripted DHCP/PXE client, run inside a client namespace of a test bed (test/support/netns.ts):
 *
 *   node test/relay/dhcp/support/pxe-client.ts '{"kind":"uefi","mac":"52:54:00:aa:00:01","steps":[…]}'
 *
 * It prints one JSON object per line on stdout and exits 0 after `{"event":"done"}`, or 1 after
 * `{"event":"error","message":…}`. Its packets are the captured packets of real firmware
 * (../fixtures, see regenerate.sh) with only the client's identity changed — chaddr, xid, client id (61),
 * optionally the GUID (97) — and the fields a step must set (ciaddr, 50, 54, the 43.71 boot item), so a
 * server under test sees byte for byte what OVMF, iPXE or a BIOS PXE ROM would send.
 *
 * What the namespace needs (a firmware owns its NIC, a namespace does not):
 * - the interface's MAC equal to `mac` and `acceptAnyDestination`: with the broadcast flag clear (iPXE,
 *   `plain`) servers unicast OFFER/ACK to yiaddr at chaddr, an address the namespace does not have;
 * - a route to 255.255.255.255 (the test bed's `attach` adds it);
 * - an IPv4 address before any unicast step (`request4011`, `renew`, `release`, unicast `raw`/`flood`):
 *   the `assign` step configures the leased one, as firmware does after its ACK.
 *
 * Steps (each `wait` is how long to collect replies, ms):
 *   {"do":"discover","wait":1500,"first":false}      broadcast DISCOVER, print every reply
 *   {"do":"dora","wait":1500,"server":"10.88.0.1"?}   DISCOVER → first OFFER with an address → REQUEST → ACK/NAK
 *   {"do":"assign","cidr":"10.88.0.150/24"?}          put the lease (or cidr) on `iface`
 *   {"do":"request4011","server":"10.88.0.2","ciaddr":…?,"from":4011|68?}  PXE boot-server REQUEST
 *   {"do":"renew"} {"do":"release"} {"do":"decline"}  against the lease from `dora`
 *   {"do":"inform","ciaddr":"10.88.0.50","to":…?}     DHCPINFORM
 *   {"do":"request","address":…?,"serverId":"…"|null}  SELECTING, or INIT-REBOOT when serverId is null
 *   {"do":"raw","hex":"…","to":"255.255.255.255","port":67,"wait":0}
 *   {"do":"flood","count":N,"to":"…","port":67|4011,"seed":1,"wait":200}  malformed, see malformedPackets
 *   {"do":"sleep","ms":100}
 *
 * Events, one JSON object a line:
 *   reply    {step, from: "ip:port", port (local), type (option 53 or null), hex, ms since the send,
 *             error?: why our decoder refuses it}
 *   lease    {step, address, serverId, mask}      after an ACK to dora, renew or request
 *   timeout  {step, waiting}                      dora/renew/request/request4011 got no answer
 *   sent     {step, count, replies}               after a flood
 *   assigned {cidr}
 *   stray    a reply to our MAC outside any step's window (late, or a wrong xid)
 *   done | error {message}
 */
import { execFileSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { decodeDhcp, encodeDhcp, forEachSubOption, getOption, ipBytes, type DhcpPacket } from '../../../../relay/src/dhcp/codec.ts';
import { MESSAGE_TYPES, OPT, PXE_SUBOPTIONS } from '../../../../relay/src/dhcp/options.ts';
import { fromHex, messageType, pxeOptions, serverId, toHex } from '../../../../relay/src/dhcp/read.ts';
import { seeded } from '../../tftp/support/scripted-client.ts';
import { fixtureBytes } from '../fixtures.ts';

export type Kind = 'bios' | 'uefi' | 'ipxe' | 'http' | 'plain';

export interface Identity {
  /** `52:54:00:aa:00:01` (colons or dashes). */
  mac: string;
  /** Option 97's 16-byte GUID as hex; default: the captured machine's. */
  guid?: string;
}

/** The captured packets each kind is made from (fixture names). */
interface Profile {
  discover?: string;
  /** The REQUEST to the DHCP server; without one it is the DISCOVER turned into a REQUEST. */
  request?: string;
  request4011?: string;
  /** Local port of the 4011 REQUEST: OVMF sends from 4011 (FIELD-NOTES), iPXE and the BIOS ROM from 68. */
  port4011: 4011 | 68;
}

const PROFILES: Record<Kind, Profile> = {
  bios: { discover: 'bios-rom-discover', request4011: 'bios-rom-request-4011', port4011: 68 },
  uefi: { discover: 'ovmf-discover', request: 'ovmf-request', request4011: 'ovmf-request-4011', port4011: 4011 },
  ipxe: { discover: 'ipxe-discover', request: 'ipxe-request', request4011: 'ipxe-request-4011', port4011: 68 },
  http: { discover: 'ovmf-http-discover', port4011: 68 },
  plain: { port4011: 68 },
};

/** The kind's default local port for `request4011`. */
export function port4011(kind: Kind): 4011 | 68 {
  return PROFILES[kind].port4011;
}

interface Template {
  pkt: DhcpPacket;
  /** The captured length: re-encoding pads to it, so unchanged packets come out byte-identical. */
  size: number;
}

function captured(name: string): Template {
  const bytes = fixtureBytes(name);
  return { pkt: decodeDhcp(bytes), size: bytes.length };
}

/**
 * `plain`: an operating system's client rather than firmware (udhcpc-like): no option 60, 93, 94 or
 * 97, broadcast flag clear, padded to the 300-byte BOOTP minimum as udhcpc and dhclient do.
 */
function plainDiscover(): Template {
  return {
    size: 300,
    pkt: {
      op: 1, htype: 1, hlen: 6, hops: 0, xid: 0, secs: 0, flags: 0,
      ciaddr: '0.0.0.0', yiaddr: '0.0.0.0', siaddr: '0.0.0.0', giaddr: '0.0.0.0',
      chaddr: new Uint8Array(16), sname: '', file: '',
      options: [
        { code: OPT.messageType, data: Uint8Array.of(MESSAGE_TYPES.DISCOVER) },
        { code: OPT.clientId, data: new Uint8Array(7) },
        { code: OPT.maxMessageSize, data: Uint8Array.of(0x02, 0x40) },
        { code: OPT.paramList, data: Uint8Array.of(1, 3, 6, 12, 15, 28, 42, 51, 58, 59) },
      ],
    },
  };
}

function discoverTemplate(kind: Kind): Template {
  const name = PROFILES[kind].discover;
  return name ? captured(name) : plainDiscover();
}

export function parseMac(mac: string): Uint8Array {
  if (!/^[0-9a-f]{2}([:-][0-9a-f]{2}){5}$/i.test(mac)) throw new Error(`not a MAC address: ${mac}`);
  return fromHex(mac.replace(/[:-]/g, ''));
}

function setOption(p: DhcpPacket, code: number, data: Uint8Array | undefined): void {
  const at = p.options.findIndex((o) => o.code === code);
  if (!data) {
    if (at >= 0) p.options.splice(at, 1);
  } else if (at >= 0) p.options[at] = { code, data };
  // New options go right after 53, where OVMF puts 54 and 50 in its REQUEST.
  else p.options.splice(1, 0, { code, data });
}

/** Gives a captured packet this client's identity; every other byte stays as the firmware sent it. */
function personalise(t: Template, id: Identity, xid: number, type?: number): DhcpPacket {
  const mac = parseMac(id.mac);
  const p: DhcpPacket = { ...t.pkt, xid, chaddr: new Uint8Array(16), options: t.pkt.options.map((o) => ({ ...o })) };
  p.chaddr.set(mac);
  // Option 61 as iPXE and OS clients send it: hardware type 1, then the MAC (RFC 2132 §9.14).
  if (getOption(p, OPT.clientId)) setOption(p, OPT.clientId, Uint8Array.of(1, ...mac));
  if (id.guid && getOption(p, OPT.clientGuid)) setOption(p, OPT.clientGuid, fromHex('00' + id.guid));
  if (type !== undefined) setOption(p, OPT.messageType, Uint8Array.of(type));
  return p;
}

const encode = (p: DhcpPacket, t: Template) => encodeDhcp(p, { minSize: t.size });
const ip = (a: string | undefined) => (a ? ipBytes(a) : undefined);

export function discoverPacket(kind: Kind, id: Identity, xid: number): Uint8Array {
  const t = discoverTemplate(kind);
  return encode(personalise(t, id, xid), t);
}

export interface RequestFields {
  /** Option 50: set when SELECTING and in INIT-REBOOT (RFC 2131 §4.3.2). */
  address?: string;
  /** Option 54: set only when SELECTING. */
  serverId?: string;
  /** Set only when RENEWING or REBINDING (then 50 and 54 are absent). */
  ciaddr?: string;
}

/** A DHCPREQUEST to the DHCP server (port 67): the kind's captured one, or its DISCOVER made a REQUEST. */
export function requestPacket(kind: Kind, id: Identity, xid: number, f: RequestFields): Uint8Array {
  const name = PROFILES[kind].request;
  const t = name ? captured(name) : discoverTemplate(kind);
  const p = personalise(t, id, xid, MESSAGE_TYPES.REQUEST);
  p.ciaddr = f.ciaddr ?? '0.0.0.0';
  setOption(p, OPT.requestedAddress, ip(f.address));
  setOption(p, OPT.serverId, ip(f.serverId));
  return encode(p, t);
}

/**
 * The PXE boot-server REQUEST to port 4011 (PXE 2.1 §2.2.5), sent once the client has its address.
 * `bootType` replaces the type in 43.71 (the BIOS ROM and iPXE name the server type the proxy offered in
 * 43.8); OVMF sends no 43. The captured xid is kept when it is 0: iPXE sends this request with xid 0.
 */
export function request4011Packet(kind: Kind, id: Identity, xid: number, ciaddr: string, bootType?: number): Uint8Array {
  const name = PROFILES[kind].request4011;
  if (!name) throw new Error(`a ${kind} client sends no PXE boot-server request (port 4011)`);
  const t = captured(name);
  const p = personalise(t, id, t.pkt.xid === 0 ? 0 : xid);
  p.ciaddr = ciaddr;
  const item = getOption(p, OPT.vendorEncap);
  if (item && bootType !== undefined) {
    const data = item.slice();
    forEachSubOption(OPT.vendorEncap, data, (sub, v) => {
      if (sub === PXE_SUBOPTIONS.bootItem) v.set([bootType >> 8, bootType & 0xff]);
    });
    setOption(p, OPT.vendorEncap, data);
  }
  return encode(p, t);
}

/**
 * RELEASE and DECLINE carry only what RFC 2131 table 5 asks (53, 54, 50 for DECLINE, 61 if the kind sends
 * one): PXE firmware never sends them, so there is no capture to copy, only the kind's header.
 */
function minimal(kind: Kind, id: Identity, xid: number, type: number, options: DhcpPacket['options'], ciaddr = '0.0.0.0'): Uint8Array {
  const p = personalise(discoverTemplate(kind), id, xid);
  const cid = getOption(p, OPT.clientId);
  p.flags = 0;
  p.ciaddr = ciaddr;
  p.options = [{ code: OPT.messageType, data: Uint8Array.of(type) }, ...options, ...(cid ? [{ code: OPT.clientId, data: cid }] : [])];
  return encodeDhcp(p, { minSize: 300 });
}

export function releasePacket(kind: Kind, id: Identity, xid: number, address: string, server: string): Uint8Array {
  return minimal(kind, id, xid, MESSAGE_TYPES.RELEASE, [{ code: OPT.serverId, data: ipBytes(server) }], address);
}

export function declinePacket(kind: Kind, id: Identity, xid: number, address: string, server: string): Uint8Array {
  return minimal(kind, id, xid, MESSAGE_TYPES.DECLINE, [
    { code: OPT.requestedAddress, data: ipBytes(address) },
    { code: OPT.serverId, data: ipBytes(server) },
  ]);
}

/** DHCPINFORM: the kind's DISCOVER options with type 8 and ciaddr (RFC 2131 §4.4.3). */
export function informPacket(kind: Kind, id: Identity, xid: number, ciaddr: string): Uint8Array {
  const t = discoverTemplate(kind);
  const p = personalise(t, id, xid, MESSAGE_TYPES.INFORM);
  p.ciaddr = ciaddr;
  p.flags = 0;
  return encode(p, t);
}

/** Offsets of each option's code byte in the main option area, END excluded. */
function optionOffsets(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 240; i < b.length && b[i] !== 255; i += b[i] === 0 ? 1 : 2 + b[i + 1]!) if (b[i] !== 0) out.push(i);
  return out;
}

/**
 * An endless, seeded series of malformed variants of `valid` (a DISCOVER), cycling through seven
 * faults: random bytes of random length 0–1500; `valid` cut at each length in turn; one option length
 * byte set at random; option 52 with a bad value or length; message type 0 or 200; hops 255; op 3.
 */
export function* malformedPackets(valid: Uint8Array, seed = 1): Generator<Uint8Array> {
  const rnd = seeded(seed);
  const int = (n: number) => Math.floor(rnd() * n);
  const offsets = optionOffsets(valid);
  const end = offsets.length ? offsets.at(-1)! + 2 + valid[offsets.at(-1)! + 1]! : 240;
  const type53 = offsets.find((o) => valid[o] === OPT.messageType);
  for (let i = 0; ; i++) {
    const b = valid.slice();
    switch (i % 7) {
      case 0:
        yield Uint8Array.from({ length: int(1501) }, () => int(256));
        break;
      case 1:
        yield valid.slice(0, Math.floor(i / 7) % valid.length);
        break;
      case 2:
        b[offsets[int(offsets.length)]! + 1] = int(256);
        yield b;
        break;
      case 3: {
        const bad = [[0], [4], [255], [int(256)], [1, 1], []][int(6)]!;
        yield Uint8Array.from([...valid.subarray(0, end), OPT.overload, bad.length, ...bad, 255]);
        break;
      }
      case 4:
        if (type53 !== undefined) b[type53 + 2] = int(2) ? 0 : 200;
        yield b;
        break;
      case 5:
        b[3] = 255;
        yield b;
        break;
      default:
        b[0] = 3;
        yield b;
    }
  }
}

// ——— the CLI ———

const ADDR = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/);
const wait = z.number().int().min(0).default(1500);
const Step = z.discriminatedUnion('do', [
  z.object({ do: z.literal('discover'), wait, first: z.boolean().default(false) }),
  z.object({ do: z.literal('dora'), wait, server: ADDR.optional() }),
  z.object({ do: z.literal('assign'), cidr: z.string().optional() }),
  z.object({ do: z.literal('request4011'), server: ADDR, ciaddr: ADDR.optional(), from: z.union([z.literal(4011), z.literal(68)]).optional(), wait, first: z.boolean().default(true) }),
  z.object({ do: z.literal('renew'), wait }),
  z.object({ do: z.literal('release'), wait: wait.default(0) }),
  z.object({ do: z.literal('decline'), wait: wait.default(0) }),
  z.object({ do: z.literal('inform'), ciaddr: ADDR.optional(), to: ADDR.default('255.255.255.255'), wait }),
  z.object({ do: z.literal('request'), address: ADDR.optional(), serverId: ADDR.nullable(), wait }),
  z.object({ do: z.literal('raw'), hex: z.string(), to: ADDR.default('255.255.255.255'), port: z.number().int().default(67), wait: wait.default(0) }),
  z.object({ do: z.literal('flood'), count: z.number().int().min(1), to: ADDR.default('255.255.255.255'), port: z.number().int().default(67), seed: z.number().int().default(1), wait: wait.default(200) }),
  z.object({ do: z.literal('sleep'), ms: z.number().int().min(0) }),
]);
export const Spec = z.object({
  kind: z.enum(['bios', 'uefi', 'ipxe', 'http', 'plain']),
  mac: z.string(),
  guid: z.string().regex(/^[0-9a-f]{32}$/i).optional(),
  iface: z.string().default('eth0'),
  timeoutMs: z.number().int().positive().default(60_000),
  steps: z.array(Step),
});
/** A spec as callers write it (defaults may be left out). */
export type Spec = z.input<typeof Spec>;
type Parsed = z.output<typeof Spec>;
type StepOf<D extends Parsed['steps'][number]['do']> = Extract<Parsed['steps'][number], { do: D }>;

interface Reply {
  pkt: DhcpPacket;
  type: number | undefined;
}

/** A step's window: which packets are its replies, and when it may stop early. */
interface Window {
  step: number;
  xid: number;
  sentAt: number;
  replies: Reply[];
  stop: (r: Reply) => boolean;
  done: () => void;
}

const print = (event: Record<string, unknown>) => console.log(JSON.stringify(event));
const isAnswer = (r: Reply) => r.type === MESSAGE_TYPES.ACK || r.type === MESSAGE_TYPES.NAK;
const BROADCAST = '255.255.255.255';
const newXid = () => randomInt(1, 2 ** 32 - 1);

class ScriptedClient {
  readonly #spec: Parsed;
  readonly #id: Identity;
  readonly #mac: Uint8Array;
  readonly #sockets = new Map<number, Socket>();
  #window: Window | undefined;
  #held: { address: string; serverId: string; mask: string } | undefined;
  /** The last 43.8 boot-server type a proxy offered: the BIOS ROM and iPXE name it in their 4011 request. */
  #bootType: number | undefined;

  constructor(spec: Parsed) {
    this.#spec = spec;
    this.#id = { mac: spec.mac, guid: spec.guid };
    this.#mac = parseMac(spec.mac);
  }

  async #socket(port: number): Promise<Socket> {
    const have = this.#sockets.get(port);
    if (have) return have;
    const s = createSocket({ type: 'udp4', reuseAddr: true });
    s.on('message', (msg, from) => this.#receive(new Uint8Array(msg), from, port));
    await new Promise<void>((ok, fail) => {
      s.once('error', fail);
      s.bind(port, '0.0.0.0', () => {
        s.off('error', fail);
        ok();
      });
    });
    // Send errors reach each send's callback; this only keeps a late socket error from crashing the run.
    s.on('error', (e) => print({ event: 'socket-error', port, message: e.message }));
    s.setBroadcast(true);
    this.#sockets.set(port, s);
    return s;
  }

  #receive(bytes: Uint8Array, from: RemoteInfo, port: number): void {
    // Match on the raw header first: a reply our decoder refuses (dnsmasq echoes hops 255) still counts.
    if (bytes.length < 34 || bytes[0] !== 2 || !this.#mac.every((b, i) => bytes[28 + i] === b)) return; // other clients' traffic
    const xid = new DataView(bytes.buffer, bytes.byteOffset).getUint32(4);
    let pkt: DhcpPacket | undefined;
    let error: string | undefined;
    try {
      pkt = decodeDhcp(bytes);
    } catch (e) {
      error = (e as Error).message;
    }
    const type = pkt && messageType(pkt);
    const line = { from: `${from.address}:${from.port}`, port, type: type ?? null, hex: toHex(bytes), ...(error ? { error } : {}) };
    const w = this.#window;
    if (!w || xid !== w.xid) {
      print({ event: 'stray', ...line });
      return;
    }
    print({ event: 'reply', step: w.step, ...line, ms: Date.now() - w.sentAt });
    if (!pkt) return;
    const servers = pxeOptions(pkt)?.get(PXE_SUBOPTIONS.bootServers);
    if (servers && servers.length >= 2) this.#bootType = (servers[0]! << 8) | servers[1]!;
    const r: Reply = { pkt, type };
    w.replies.push(r);
    if (w.stop(r)) w.done();
  }

  /**
   * Opens step `step`'s window for replies with `xid`, runs `send`, then collects for `ms` more, or
   * until `stop` accepts a reply. Replies print as they arrive, with ms since the window opened.
   */
  async #collect(step: number, xid: number, fromPort: number, ms: number, stop: (r: Reply) => boolean, send: (sock: Socket) => Promise<void>): Promise<Reply[]> {
    const sock = await this.#socket(fromPort);
    let finished = false;
    let timer: NodeJS.Timeout | undefined;
    let w!: Window;
    const replies = new Promise<Reply[]>((resolve) => {
      w = {
        step, xid, sentAt: Date.now(), replies: [], stop,
        done: () => {
          if (finished) return;
          finished = true;
          clearTimeout(timer);
          if (this.#window === w) this.#window = undefined;
          resolve(w.replies);
        },
      };
    });
    this.#window = w;
    try {
      await send(sock);
    } catch (e) {
      w.done();
      throw e;
    }
    if (!finished) timer = setTimeout(w.done, ms);
    return replies;
  }

  /** One packet out, its replies in. */
  #exchange(step: number, bytes: Uint8Array, to: string, toPort: number, fromPort: number, ms: number, stop: (r: Reply) => boolean = () => false): Promise<Reply[]> {
    // A raw packet may be too short to hold an xid; then nothing counts as its reply.
    const xid = bytes.length >= 8 ? new DataView(bytes.buffer, bytes.byteOffset).getUint32(4) : -1;
    return this.#collect(step, xid, fromPort, ms, stop, (sock) => sendTo(step, sock, bytes, to, toPort));
  }

  #lease(step: number) {
    if (!this.#held) throw new Error(`step ${step}: no lease yet (run a dora step first)`);
    return this.#held;
  }

  async run(): Promise<void> {
    for (const [i, s] of this.#spec.steps.entries()) await this.#step(i, s);
  }

  async #step(i: number, s: Parsed['steps'][number]): Promise<void> {
    const { kind } = this.#spec;
    const id = this.#id;
    switch (s.do) {
      case 'discover':
        await this.#exchange(i, discoverPacket(kind, id, newXid()), BROADCAST, 67, 68, s.wait, () => s.first);
        return;
      case 'dora':
        return this.#dora(i, s);
      case 'assign': {
        const cidr = s.cidr ?? `${this.#lease(i).address}/${prefixLength(this.#lease(i).mask)}`;
        execFileSync('ip', ['addr', 'add', cidr, 'dev', this.#spec.iface], { stdio: ['ignore', 'ignore', 'inherit'] });
        print({ event: 'assigned', cidr });
        return;
      }
      case 'request4011': {
        const ciaddr = s.ciaddr ?? this.#lease(i).address;
        const pkt = request4011Packet(kind, id, newXid(), ciaddr, this.#bootType);
        const replies = await this.#exchange(i, pkt, s.server, 4011, s.from ?? port4011(kind), s.wait, (r) => s.first && isAnswer(r));
        if (replies.length === 0) print({ event: 'timeout', step: i, waiting: 'ACK from port 4011' });
        return;
      }
      case 'renew': {
        const l = this.#lease(i);
        const replies = await this.#exchange(i, requestPacket(kind, id, newXid(), { ciaddr: l.address }), l.serverId, 67, 68, s.wait, isAnswer);
        this.#noteAnswer(i, replies);
        return;
      }
      case 'release': {
        const l = this.#lease(i);
        await this.#exchange(i, releasePacket(kind, id, newXid(), l.address, l.serverId), l.serverId, 67, 68, s.wait);
        this.#held = undefined;
        return;
      }
      case 'decline': {
        const l = this.#lease(i);
        await this.#exchange(i, declinePacket(kind, id, newXid(), l.address, l.serverId), BROADCAST, 67, 68, s.wait);
        this.#held = undefined;
        return;
      }
      case 'inform': {
        const ciaddr = s.ciaddr ?? this.#lease(i).address;
        await this.#exchange(i, informPacket(kind, id, newXid(), ciaddr), s.to, 67, 68, s.wait, isAnswer);
        return;
      }
      case 'request': {
        const pkt = requestPacket(kind, id, newXid(), { address: s.address ?? this.#lease(i).address, serverId: s.serverId ?? undefined });
        this.#noteAnswer(i, await this.#exchange(i, pkt, BROADCAST, 67, 68, s.wait, isAnswer));
        return;
      }
      case 'raw':
        await this.#exchange(i, fromHex(s.hex), s.to, s.port, 68, s.wait);
        return;
      case 'flood':
        return this.#flood(i, s);
      case 'sleep':
        await new Promise((r) => setTimeout(r, s.ms));
        return;
    }
  }

  async #dora(i: number, s: StepOf<'dora'>): Promise<void> {
    const { kind } = this.#spec;
    const xid = newXid();
    // Proxy offers carry no address (yiaddr 0.0.0.0): only a DHCP server's offer can be requested.
    const isLeaseOffer = (r: Reply) => r.type === MESSAGE_TYPES.OFFER && r.pkt.yiaddr !== '0.0.0.0' && (!s.server || serverId(r.pkt) === s.server);
    const offers = await this.#exchange(i, discoverPacket(kind, this.#id, xid), BROADCAST, 67, 68, s.wait, isLeaseOffer);
    const offer = offers.find(isLeaseOffer);
    const server = offer && serverId(offer.pkt);
    if (!offer || !server) {
      print({ event: 'timeout', step: i, waiting: 'OFFER' });
      return;
    }
    // RFC 2131 §4.4.1: the REQUEST keeps the DISCOVER's xid, and is broadcast so other servers see the choice.
    const req = requestPacket(kind, this.#id, xid, { address: offer.pkt.yiaddr, serverId: server });
    const answers = await this.#exchange(i, req, BROADCAST, 67, 68, s.wait, (r) => isAnswer(r) && serverId(r.pkt) === server);
    this.#noteAnswer(i, answers);
  }

  #noteAnswer(i: number, replies: Reply[]): void {
    const r = replies.find(isAnswer);
    if (!r) {
      print({ event: 'timeout', step: i, waiting: 'ACK or NAK' });
      return;
    }
    if (r.type === MESSAGE_TYPES.NAK) {
      this.#held = undefined;
      return;
    }
    const address = r.pkt.yiaddr !== '0.0.0.0' ? r.pkt.yiaddr : r.pkt.ciaddr;
    const mask = getOption(r.pkt, OPT.subnetMask);
    this.#held = { address, serverId: serverId(r.pkt) ?? '', mask: mask ? [...mask].join('.') : '255.255.255.0' };
    print({ event: 'lease', step: i, ...this.#held });
  }

  async #flood(i: number, s: StepOf<'flood'>): Promise<void> {
    const valid = discoverPacket(this.#spec.kind, this.#id, newXid());
    const packets = malformedPackets(valid, s.seed);
    // Replies to the variants that still parse (a cut after END, a harmless length) count as the step's.
    const xid = new DataView(valid.buffer).getUint32(4);
    const replies = await this.#collect(i, xid, 68, s.wait, () => false, async (sock) => {
      for (let n = 0; n < s.count; n++) {
        // One datagram in flight at a time, so the socket's send buffer never overflows.
        await sendTo(i, sock, packets.next().value!, s.to, s.port);
        await new Promise((r) => setImmediate(r));
      }
    });
    print({ event: 'sent', step: i, count: s.count, replies: replies.length });
  }

  close(): void {
    for (const s of this.#sockets.values()) s.close();
  }
}

function sendTo(step: number, sock: Socket, bytes: Uint8Array, to: string, port: number): Promise<void> {
  return new Promise((ok, fail) =>
    sock.send(bytes, port, to, (err) => {
      if (!err) return ok();
      // ENETUNREACH on a unicast: the namespace has no address yet.
      const hint = to === BROADCAST ? '' : ' (unicast needs an address: run an assign step first)';
      fail(new Error(`step ${step}: ${err.message}${hint}`));
    }),
  );
}

function prefixLength(mask: string): number {
  return [...ipBytes(mask)].reduce((n, b) => n + (b.toString(2).match(/1/g)?.length ?? 0), 0);
}

if (import.meta.main) {
  let client: ScriptedClient | undefined;
  const fail = (e: unknown) => {
    const message = e instanceof z.ZodError ? `bad spec: ${z.prettifyError(e)}` : e instanceof Error ? e.message : String(e);
    print({ event: 'error', message });
    process.exit(1);
  };
  try {
    const arg = process.argv[2] ?? '';
    // A spec may also come from a file (`@path`), for long flood or raw scripts.
    const spec = Spec.parse(JSON.parse(arg.startsWith('@') ? readFileSync(arg.slice(1), 'utf8') : arg));
    const deadline = setTimeout(() => fail(new Error(`spec did not finish within ${spec.timeoutMs} ms`)), spec.timeoutMs);
    client = new ScriptedClient(spec);
    await client.run();
    clearTimeout(deadline);
    client.close();
    print({ event: 'done' });
  } catch (e) {
    client?.close();
    fail(e);
  }
}
