import { beforeAll, describe, expect, it } from 'vitest';
import { relayEventId, renderAgain, renderedBoot } from '../boot-fixtures.ts';
import { createSite } from '../fixtures.ts';
import { call, randomMac, type ApiTarget } from '../target.ts';


export function timelineContract(target: () => ApiTarget): void {
  describe('machine timeline', () => {
    let t: ApiTarget;
    let siteId: string;
    beforeAll(async () => {
      t = target();
      siteId = await createSite(t);
    });
    const timeline = async (idOrMac: string, query = '') => {
      const r = await call(t, 'GET', `/v1/machines/${idOrMac}/timeline${query}`);
      expect(r.status, r.text).toBe(200);
      return r.body;
    };
    const iso = (ms: number) => new Date(ms).toISOString();

    it("puts the relay's DHCP and TFTP events before the script into that boot, with stage durations", async () => {
      // The relay reports after the fact: events stamped before the boot exists, posted after it.
      const t0 = Date.now() - 3000;
      const b = await renderedBoot(t, siteId);
      const events = [
        { id: relayEventId('tl'), mac: b.mac, stage: 'dhcp-offer', at: iso(t0) },
        { id: relayEventId('tl'), mac: b.mac, stage: 'tftp-start', at: iso(t0 + 500) },
        { id: relayEventId('tl'), mac: b.mac, stage: 'tftp-done', at: iso(t0 + 600), durationMs: 100 },
        { id: relayEventId('tl'), mac: b.mac, stage: 'file-fetched', at: iso(Date.now() + 50), bootId: b.bootId, detail: { file: 'vmlinuz' } },
      ];
      expect((await call(t, 'POST', '/v1/relay/events', { token: b.relay.token, json: { events } })).body.accepted).toBe(4);
      const tl = await timeline(b.machineId);
      expect(tl.mac).toBe(b.mac);
      expect(tl.boots).toHaveLength(1);
      const boot = tl.boots[0];
      expect(boot).toMatchObject({ bootId: b.bootId, outcome: 'in-progress', profileId: b.profileId });
      expect(boot.stages.map((s: any) => s.stage)).toEqual(['dhcp-offer', 'tftp-start', 'tftp-done', 'script-rendered', 'file-fetched']);
      expect(boot.stages[0].durationMs).toBe(500);
      expect(boot.stages[2].durationMs).toBe(100);
      expect(boot.stages[4]).toMatchObject({ source: 'relay', durationMs: null, detail: { file: 'vmlinuz' } });
      expect(boot.startedAt).toBe(iso(t0));
    });

    it('separates boots, newest first; what follows a finished boot is a boot of its own; limit keeps the last N', async () => {
      const b = await renderedBoot(t, siteId);
      expect((await call(t, 'POST', '/v1/callback/failed', { token: b.token, json: { reason: 'no disk' } })).status).toBe(200);
      await new Promise((r) => setTimeout(r, 20));
      const second = await renderAgain(t, b.relay.token, b.mac);
      expect((await call(t, 'POST', '/v1/callback/succeeded', { token: second.token })).status).toBe(200);
      // After the install, the machine reboots from its disk: the relay sees DHCP, no boot record is made.
      const later = Date.now() + 60_000;
      await call(t, 'POST', '/v1/relay/events', {
        token: b.relay.token,
        json: { events: [{ id: relayEventId('tl'), mac: b.mac, stage: 'dhcp-discover', at: iso(later) }, { id: relayEventId('tl'), mac: b.mac, stage: 'dhcp-ack', at: iso(later + 2000) }] },
      });
      const tl = await timeline(b.mac.replaceAll(':', '-'));
      expect(tl.boots.map((x: any) => [x.bootId, x.outcome])).toEqual([
        [null, 'unknown'],
        [second.bootId, 'succeeded'],
        [b.bootId, 'failed'],
      ]);
      expect(tl.boots[0].stages.map((s: any) => s.stage)).toEqual(['dhcp-discover', 'dhcp-ack']);
      expect(tl.boots[0].stages[0].durationMs).toBe(2000);
      expect(tl.truncated).toBe(false);
      const last = await timeline(b.machineId, '?limit=1');
      expect(last.boots).toHaveLength(1);
      expect(last.truncated).toBe(true);
    });

    it('is empty for a machine that never booted', async () => {
      const m = (await call(t, 'POST', '/v1/machines', { json: { mac: randomMac(), siteId } })).body;
      const tl = await timeline(m.id);
      expect(tl).toEqual({ machineId: m.id, mac: m.mac, boots: [], truncated: false });
    });

    it('refuses a bad limit', async () => {
      const b = await renderedBoot(t, siteId);
      for (const q of ['?limit=0', '?limit=51', '?limit=x', '?colour=blue']) expect((await call(t, 'GET', `/v1/machines/${b.machineId}/timeline${q}`)).status, q).toBe(400);
    });
  });
}
