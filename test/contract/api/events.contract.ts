import { beforeAll, describe, expect, it } from 'vitest';
import { relayEventId as eventId } from '../boot-fixtures.ts';
import { createSite, createToken, enrollRelay } from '../fixtures.ts';
import { call, randomMac, type ApiTarget } from '../target.ts';


export function eventsContract(target: () => ApiTarget): void {
  describe('relay events', () => {
    let t: ApiTarget;
    let siteA: string;
    let siteB: string;
    let relayA: { relayId: string; token: string };
    beforeAll(async () => {
      t = target();
      siteA = await createSite(t);
      siteB = await createSite(t);
      relayA = await enrollRelay(t, siteA);
    });
    const post = (token: string, events: unknown[]) => call(t, 'POST', '/v1/relay/events', { token, json: { events } });
    const stagesOf = async (mac: string, token = t.adminToken) => {
      const r = await call(t, 'GET', `/v1/machines/${mac}/timeline`, { token });
      expect(r.status, r.text).toBe(200);
      return r.body.boots.flatMap((b: any) => b.stages.map((s: any) => `${s.stage}@${s.at}`));
    };

    it('stores a batch once: a replay adds nothing and says so, an overlapping one adds only the new events', async () => {
      const mac = randomMac();
      await call(t, 'POST', '/v1/machines', { json: { mac, siteId: siteA } });
      const base = Date.now() - 60_000;
      const at = (ms: number) => new Date(base + ms).toISOString();
      const batch = [
        { id: eventId(), mac, stage: 'dhcp-offer', at: at(0), detail: { xid: '0x1234', proxy: true } },
        { id: eventId(), mac: mac.replaceAll(':', '-'), stage: 'tftp-start', at: at(100) },
        { id: eventId(), mac, stage: 'tftp-done', at: at(400), durationMs: 300, detail: { file: 'ipxe.efi', bytes: 1_000_000 } },
      ];
      const first = await post(relayA.token, batch);
      expect(first.status, first.text).toBe(200);
      expect(first.body).toEqual({ accepted: 3, duplicates: 0 });
      const replay = await post(relayA.token, batch);
      expect(replay.body).toEqual({ accepted: 0, duplicates: 3 });
      const more = await post(relayA.token, [...batch.slice(1), { id: eventId(), mac, stage: 'script-fetched', at: at(900) }]);
      expect(more.body).toEqual({ accepted: 1, duplicates: 2 });
      expect(await stagesOf(mac)).toEqual([`dhcp-offer@${at(0)}`, `tftp-start@${at(100)}`, `tftp-done@${at(400)}`, `script-fetched@${at(900)}`]);
    });

    it('counts an id repeated within one batch as a duplicate', async () => {
      const mac = randomMac();
      const e = { id: eventId(), mac, stage: 'dhcp-discover', at: new Date().toISOString() };
      expect((await post(relayA.token, [e, e])).body).toEqual({ accepted: 1, duplicates: 1 });
    });

    it("keeps each relay's ids apart: the same id from two relays is two events", async () => {
      const mac = randomMac();
      await call(t, 'POST', '/v1/machines', { json: { mac, siteId: siteA } });
      const other = await enrollRelay(t, siteA);
      const id = eventId();
      const at = new Date(Date.now() - 30_000).toISOString();
      expect((await post(relayA.token, [{ id, mac, stage: 'dhcp-offer', at }])).body.accepted).toBe(1);
      expect((await post(other.token, [{ id, mac, stage: 'dhcp-offer', at }])).body.accepted).toBe(1);
      expect(await stagesOf(mac)).toHaveLength(2);
    });

    it("stores what a relay saw of another site's machine, but never shows it to that site's people", async () => {
      const mac = randomMac();
      const m = (await call(t, 'POST', '/v1/machines', { json: { mac, siteId: siteB } })).body;
      const operatorB = await createToken(t, { role: 'operator', siteIds: [siteB] });
      const at = new Date(Date.now() - 10_000).toISOString();
      const r = await post(relayA.token, [{ id: eventId(), mac, stage: 'dhcp-discover', at }]);
      expect(r.body).toEqual({ accepted: 1, duplicates: 0 });
      expect(await stagesOf(m.id, operatorB.token)).toEqual([]);
      expect(await stagesOf(m.id)).toEqual([`dhcp-discover@${at}`]);
    });

    it('refuses a batch over 500 events and stores none of it', async () => {
      const mac = randomMac();
      await call(t, 'POST', '/v1/machines', { json: { mac, siteId: siteA } });
      const events = Array.from({ length: 501 }, () => ({ id: eventId(), mac, stage: 'dhcp-offer', at: new Date().toISOString() }));
      const r = await post(relayA.token, events);
      expect(r.status).toBe(400);
      expect(await stagesOf(mac)).toEqual([]);
      const full = await post(relayA.token, events.slice(0, 500));
      expect(full.body).toEqual({ accepted: 500, duplicates: 0 });
    });
  });
}
