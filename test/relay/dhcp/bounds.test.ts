import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { AddressBook } from '../../../relay/src/dhcp/address-book.ts';
import { bootTarget, DEFAULT_BOOT_FILES, IpxeUpgrades } from '../../../relay/src/dhcp/boot-target.ts';
import { classify } from '../../../relay/src/dhcp/classify.ts';
import { decodeDhcp, encodeDhcp } from '../../../relay/src/dhcp/codec.ts';
import { parseCidr } from '../../../relay/src/dhcp/ipv4.ts';
import { MESSAGE_TYPES } from '../../../relay/src/dhcp/options.ts';
import { messageType } from '../../../relay/src/dhcp/read.ts';
import type { PxeClient } from '../../../relay/src/dhcp/reply.ts';
import { createResponder, type Arrival, type Outcome } from '../../../relay/src/dhcp/responder.ts';
import { createDhcpServer, type DhcpServer } from '../../../relay/src/dhcp/server.ts';
import type { StageEvent } from '../../../relay/src/events.ts';
import { NonceRegistry } from '../../../relay/src/http/nonces.ts';
import { createLogger } from '../../../relay/src/log.ts';
import { fixture, fixtureBytes } from './fixtures.ts';

/**
 * Per-MAC state on the DHCP path is bounded and expires (issue 18: a storm of new MACs must not grow
 * the relay), every answered exchange's event reaches the sink after its reply, and the proxy answer
 * is built without a promise when the boot decision needs no I/O.
 */
const SERVER = '10.77.0.2';
const BCAST: Arrival = { port: 'dhcp', from: { address: '0.0.0.0', port: 68 } };
const target = (c: PxeClient) => bootTarget(c, { httpBase: `http://${SERVER}:8080`, bootFiles: DEFAULT_BOOT_FILES }, c.kind === 'ipxe' ? 'NONCE' : undefined);
const macN = (i: number) => `02:00:00:${((i >> 16) & 0xff).toString(16).padStart(2, '0')}:${((i >> 8) & 0xff).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`;

describe('the DHCP socket loop: an event per answered exchange, after the reply', () => {
  let server: DhcpServer | undefined;
  let client: Socket | undefined;
  afterEach(async () => {
    await server?.close();
    client?.close();
    server = client = undefined;
  });

  /** A server on 127.0.0.1 whose LAN answers with the real proxy responder; the reply goes to the test's socket (as to a relay agent). */
  async function start() {
    client = createSocket('udp4');
    const replies: Buffer[] = [];
    client.on('message', (m) => replies.push(m));
    await new Promise<void>((r) => client!.bind(0, '127.0.0.1', r));
    const to = { address: '127.0.0.1', port: client.address().port };
    const respond = createResponder({ mode: 'proxy', reply: { serverIp: SERVER }, target });
    const events: StageEvent[] = [];
    /** Whether the handler of the request that caused each event had returned when the event came. */
    const at: Array<{ event: string; handlerReturned: boolean }> = [];
    let handlerReturned = true;
    server = createDhcpServer({
      port: 0,
      proxyPort: null,
      bindAddress: '127.0.0.1',
      lans: [
        {
          name: 'lo',
          interface: null,
          relayed: false,
          serverIp: '127.0.0.1',
          subnet: parseCidr('127.0.0.0/8'),
          // The real responder; only the destination is moved from the broadcast address to this test's socket.
          respond: (req, arrival) => {
            handlerReturned = false;
            // Runs once the socket's message handler (which sends the reply) has returned.
            process.nextTick(() => (handlerReturned = true));
            const out = respond(req, arrival) as Outcome;
            return out.answer ? { ...out, answer: { ...out.answer, to } } : out;
          },
        },
      ],
      onEvent: (e) => {
        events.push(e);
        at.push({ event: e.stage, handlerReturned });
      },
    });
    const { port } = await server.listen();
    const send = async (bytes: Uint8Array, want: number) => {
      client!.send(bytes, port, '127.0.0.1');
      const t0 = Date.now();
      while (replies.length < want && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setImmediate(r));
    };
    return { events, replies, send, at };
  }

  it('answers every DISCOVER of many MACs and hands the sink each exchange, retransmissions too (the sink folds them: sync/event-fold.ts)', async () => {
    const { events, replies, send } = await start();
    const base = fixture('ovmf-discover');
    const chaddrOf = (i: number) => {
      const chaddr = new Uint8Array(16);
      chaddr.set([2, 0, 0, (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff]);
      return chaddr;
    };
    let n = 0;
    for (let round = 0; round < 2; round++) for (let i = 0; i < 60; i++) await send(encodeDhcp({ ...base, chaddr: chaddrOf(i) }), ++n);
    expect(replies).toHaveLength(120);
    expect(messageType(decodeDhcp(replies[0]!))).toBe(MESSAGE_TYPES.OFFER);
    expect(events).toHaveLength(120);
    expect(events.every((e) => e.stage === 'proxy-offer')).toBe(true);
    expect(events.slice(0, 60).map((e) => e.mac)).toEqual(Array.from({ length: 60 }, (_, i) => macN(i)));
    expect(server!.stats().sent).toEqual({ offer: 120 });
  });

  it('hands the event to the sink after the handler that sent the reply has returned, not inside it', async () => {
    const { at, replies, send } = await start();
    await send(fixtureBytes('ovmf-discover'), 1);
    expect(replies).toHaveLength(1);
    expect(at).toEqual([{ event: 'proxy-offer', handlerReturned: true }]);
  });
});

describe('responder: no promise when the decision needs none', () => {
  it('returns the proxy OFFER itself for a synchronous target, and the same OFFER through a promise for an asynchronous one', async () => {
    const sync = createResponder({ mode: 'proxy', reply: { serverIp: SERVER }, target });
    const async_ = createResponder({ mode: 'proxy', reply: { serverIp: SERVER }, target: async (c) => target(c) });
    const a = sync(fixture('ovmf-discover'), BCAST);
    const b = async_(fixture('ovmf-discover'), BCAST);
    expect(a).not.toBeInstanceOf(Promise);
    expect(b).toBeInstanceOf(Promise);
    const offer = a as Outcome;
    expect(offer.answer!.packet.file).toBe('ipxe.efi');
    expect(Buffer.from((await b).answer!.bytes).toString('hex')).toBe(Buffer.from(offer.answer!.bytes).toString('hex'));
  });

  it('builds byte-identical BIOS menu offers whether its per-LAN parts are fresh or cached', () => {
    const ctx = { serverIp: SERVER, menuText: 'edgeboot' };
    const r = createResponder({ mode: 'proxy', reply: ctx, target });
    const first = r(fixture('bios-rom-discover'), BCAST) as Outcome;
    const second = r(fixture('bios-rom-discover'), BCAST) as Outcome;
    expect(Buffer.from(second.answer!.bytes).equals(Buffer.from(first.answer!.bytes))).toBe(true);
    // A context changed afterwards is not served stale parts.
    ctx.menuText = 'other';
    const third = r(fixture('bios-rom-discover'), BCAST) as Outcome;
    expect(Buffer.from(third.answer!.bytes).includes(Buffer.from('other'))).toBe(true);
  });
});

describe('per-MAC state expires', () => {
  it('AddressBook forgets an address after its TTL and drops expired entries as new ones come', () => {
    let now = 0;
    const book = new AddressBook(1000, { ttlMs: 60_000, now: () => now });
    for (let i = 0; i < 500; i++) book.set(`10.0.${i >> 8}.${i & 0xff}`, macN(i));
    expect(book.macFor('10.0.0.7')).toBe(macN(7));
    now = 60_000;
    expect(book.macFor('10.0.0.7')).toBeUndefined();
    book.set('10.1.0.1', macN(9999));
    expect(book.size).toBe(1);
    expect(book.macFor('10.1.0.1')).toBe(macN(9999));
  });

  it('AddressBook keeps at most its bound, the oldest leaving first', () => {
    const book = new AddressBook(3);
    for (let i = 1; i <= 5; i++) book.set(`10.0.0.${i}`, macN(i));
    expect(book.size).toBe(3);
    expect(book.macFor('10.0.0.2')).toBeUndefined();
    expect(book.macFor('10.0.0.5')).toBe(macN(5));
  });

  it('NonceRegistry drops expired nonces when new ones are issued, and issued nonces still check', () => {
    let now = 0;
    const n = new NonceRegistry({ ttlMs: 1000, now: () => now });
    const old = Array.from({ length: 400 }, (_, i) => n.issue(macN(i), null));
    expect(n.size).toBe(400);
    expect(new Set(old).size).toBe(400);
    now = 1000;
    const fresh = n.issue(macN(1), '10.0.0.1');
    expect(n.size).toBe(1);
    expect(n.check(old[0], macN(0), '10.0.0.9')).toBe('unknown');
    expect(n.check(fresh, macN(1), '10.0.0.1')).toBe('ok');
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('IpxeUpgrades remembers at most `max` chained MACs and forgets them after the window', () => {
    let now = 0;
    const u = new IpxeUpgrades({ policy: 'always', needsHttps: false, bootFiles: DEFAULT_BOOT_FILES, now: () => now, max: 50, windowMs: 1000 });
    const rom = classify(fixture('ipxe-discover'));
    if (!rom.pxe) throw new Error(rom.reason);
    for (let i = 0; i < 200; i++) expect(u.target({ ...rom, mac: macN(i) })).toEqual({ kind: 'tftp', file: 'undionly.kpxe' });
    expect(u.size).toBe(50);
    // Within the window the last MAC is not chained again; after it, the next chain prunes the old ones.
    expect(u.target({ ...rom, mac: macN(199) })).toBeNull();
    now = 1000;
    u.target({ ...rom, mac: macN(1000) });
    expect(u.size).toBe(1);
  });
});

describe('log.once', () => {
  it('builds the fields of a suppressed line not at all, and counts it in the next printed one', () => {
    let now = 0;
    const lines: string[] = [];
    const log = createLogger({ write: (l) => lines.push(l), now: () => now, onceIntervalMs: 1000 }).child('dhcp');
    let built = 0;
    const fields = () => ((built += 1), { mac: 'x' });
    for (let i = 0; i < 100; i++) log.once('malformed', 'dhcp packet dropped', fields);
    expect(built).toBe(1);
    expect(lines).toHaveLength(1);
    now = 1000;
    log.once('malformed', 'dhcp packet dropped', fields);
    expect(JSON.parse(lines[1]!)).toMatchObject({ reason: 'malformed', suppressed: 99, mac: 'x', component: 'dhcp' });
  });

  it('rate-limits one reason across two loggers of the same component', () => {
    const lines: string[] = [];
    const root = createLogger({ write: (l) => lines.push(l) });
    root.child('dhcp').once('r', 'm');
    root.child('dhcp').once('r', 'm');
    root.child('tftp').once('r', 'm');
    expect(lines).toHaveLength(2);
  });
});
