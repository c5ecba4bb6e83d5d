import { expect } from 'vitest';
import { relayEventId, renderedBoot } from '../boot-fixtures.ts';
import { randomMac } from '../target.ts';
import type { BodyEndpoint, IdRoute, InputWorld, ListRoute } from './suite.ts';

/** The boot's timeline, read by the MAC that the callback path carries (`?mac=`), must still be the bare render. */
const untouchedBoot = async (w: InputWorld, _valid: Record<string, unknown>, path: string) => async () => {
  const mac = new URL(path, 'http://x').searchParams.get('mac')!;
  const r = await w.admin('GET', `/v1/machines/${mac}/timeline`);
  expect(r.status).toBe(200);
  expect(r.body.boots.map((b: any) => [b.outcome, b.stages.map((s: any) => s.stage)])).toEqual([['in-progress', ['script-rendered']]]);
};

const callback = (event: string, valid: Record<string, unknown>, invalid: Record<string, unknown>[]): BodyEndpoint => ({
  route: `POST /v1/callback/${event}`,
  method: 'POST',
  target: async (w) => {
    const b = await renderedBoot(w.t, w.siteA, { relay: w.relay });
    return { path: `/v1/callback/${event}?mac=${b.mac}`, token: b.token };
  },
  valid: () => valid,
  invalid: () => invalid,
  unchanged: untouchedBoot,
});

const event = (mac: string, extra: Record<string, unknown> = {}) => ({ id: relayEventId('input'), mac, stage: 'dhcp-offer', at: new Date().toISOString(), ...extra });

export const telemetryEndpoints: BodyEndpoint[] = [
  callback('started', { message: 'hello' }, [{ message: 5 }, { message: 'x'.repeat(1025) }]),
  callback('progress', { percent: 10, bytes: 1, totalBytes: 10, message: 'm' }, [
    { percent: 101 },
    { percent: -1 },
    { percent: '10' },
    { bytes: -1 },
    { bytes: 1.5 },
    { totalBytes: 'lots' },
    { message: ['x'] },
  ]),
  callback('succeeded', { message: 'done' }, [{ message: null }, { message: 'x'.repeat(1025) }]),
  callback('failed', { reason: 'disk', logTail: 'last line' }, [{}, { reason: '' }, { reason: 5 }, { reason: 'x', logTail: 5 }, { logTail: 'only a log' }]),
  callback('job', { disks: [{ name: 'vda', path: '/dev/vda', size: 1 << 30, removable: false }] }, [
    {},
    { disks: 'vda' },
    { disks: [{ name: 'vda', path: '/dev/vda' }] },
    { disks: [{ name: 'vda', path: 'vda', size: 1 }] },
    { disks: [{ name: 'v da', path: '/dev/vda', size: 1 }] },
    { disks: [{ name: 'vda', path: '/dev/vda; reboot', size: 1 }] },
    { disks: [{ name: 'vda', path: '/dev/vda', size: -1 }] },
    { disks: [{ name: 'vda', path: '/dev/vda', size: 1.5 }] },
    { disks: [{ name: 'vda', path: '/dev/vda', size: 1, removable: 'no' }] },
    { disks: [{ name: 'vda', path: '/dev/vda', size: 1, colour: 'blue' }] },
    { disks: Array.from({ length: 65 }, (_, i) => ({ name: `d${i}`, path: `/dev/d${i}`, size: 1 })) },
  ]),
  {
    route: 'POST /v1/relay/events',
    method: 'POST',
    target: async (w) => ({ path: '/v1/relay/events', token: w.relay.token }),
    valid: async (w) => {
      const mac = randomMac();
      expect((await w.admin('POST', '/v1/machines', { mac, siteId: w.siteA })).status).toBe(201);
      return { events: [event(mac)] };
    },
    invalid: () => {
      const mac = randomMac();
      return [
        { events: [] },
        { events: 'none' },
        { events: [event(mac, { id: 'short' })] },
        { events: [event(mac, { id: 'has space in it' })] },
        { events: [event(mac, { id: 'x'.repeat(65) })] },
        { events: [event(mac, { mac: 'not-a-mac' })] },
        { events: [event(mac, { stage: 'lunch' })] },
        { events: [event(mac, { stage: 'callback-succeeded' })] },
        { events: [event(mac, { at: 'yesterday' })] },
        { events: [event(mac, { durationMs: -1 })] },
        { events: [event(mac, { durationMs: 1.5 })] },
        { events: [event(mac, { bootId: 'boot_nope' })] },
        { events: [event(mac, { detail: 'text' })] },
        { events: [event(mac, { detail: { nested: { a: 1 } } })] },
        { events: [event(mac, { detail: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])) })] },
        { events: [event(mac, { extra: true })] },
        { events: [event(mac), { id: 'missing-the-rest' }] },
      ];
    },
    unchanged: async (w, valid) => async () => {
      const mac = (valid.events as { mac: string }[])[0]!.mac;
      expect((await w.admin('GET', `/v1/machines/${mac}/timeline`)).body.boots).toEqual([]);
    },
  },
];

export const telemetryIds: IdRoute[] = [
  { route: 'GET /v1/machines/{id}/timeline', method: 'GET', path: (id) => `/v1/machines/${id}/timeline`, unknownId: 'mch_00000000000000000000000000', shapedIds: true },
];

export const telemetryLists: ListRoute[] = [
  { route: '/v1/machines/{id}/timeline', path: '/v1/machines/02:00:00:00:00:00/timeline', bad: ['limit=0', 'limit=51', 'limit=ten', 'limit=1.5', 'colour=blue'] },
];
