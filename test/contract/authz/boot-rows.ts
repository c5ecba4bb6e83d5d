import { expect } from 'vitest';
import { enrollBootRelay, signBootPath } from '../api/boot.contract.ts';
import { call, randomMac, unique } from '../target.ts';
import { relayOnly, siteRead, siteWrite, type Expect, type Row, type SiteKey, type World } from './matrix.ts';

/** A machine of the site whose script prints its callback token, so a leak would show. */
async function bootable(w: World, site: SiteKey, state = 'discovered'): Promise<{ id: string; mac: string }> {
  const p = await w.admin('POST', '/v1/profiles', { name: unique('authz-boot'), spec: { kind: 'ipxe', script: '#!ipxe\necho {{callbackToken}}\n' } });
  const m = await w.admin('POST', '/v1/machines', { mac: randomMac(), siteId: w.sites[site], arch: 'bios', state });
  await w.admin('POST', '/v1/assignments', { profileId: p.id, selector: { machineId: m.id } });
  return m;
}

/** The signature is the credential: any bearer may carry the URL; relay tokens stay on /v1/relay/ (auth/confine.ts). */
const signedUrl: Expect = {
  admin: 200,
  operatorOwn: 200,
  operatorOther: 200,
  viewerAll: 200,
  viewerOwn: 200,
  viewerOther: 200,
  relayOwn: 403,
  relayOther: 403,
  anonymous: 200,
  revoked: 401,
  garbage: 401,
};

/** Boot scripts (relay-proxied and relay-signed), explain and reprovision. */
export const bootRows: Row[] = [
  {
    route: 'GET /v1/relay/boot',
    sites: 'each',
    // Another site's relay is answered (the machine boots its disk there), never with this site's script.
    expect: relayOnly(200),
    setup: (w, site) => bootable(w, site),
    request: (_w, _s, m: { mac: string }) => ({ method: 'GET', path: `/v1/relay/boot?mac=${m.mac}&arch=0` }),
    after: async (_w, site, _m, { ok, res }) => {
      if (!ok) return expect(res.text).not.toContain('#!ipxe');
      expect(res.headers.get('x-edgeboot-decision')).toBe(site === 'A' ? 'boot' : 'local');
      expect(res.text.includes('ebc_')).toBe(site === 'A');
    },
  },
  {
    route: 'GET /v1/boot/{mac}',
    sites: 'none',
    expect: signedUrl,
    setup: async (w) => {
      const relay = await enrollBootRelay(w.t, w.sites.A);
      const m = await bootable(w, 'A');
      const path = `/v1/boot/${m.mac.replaceAll(':', '-')}`;
      return `${path}?sig=${await signBootPath(relay, path)}&arch=0`;
    },
    request: (_w, _s, url: string) => ({ method: 'GET', path: url }),
    after: async (_w, _s, _u, { ok, res }) => expect(res.text.includes('ebc_')).toBe(ok),
  },
  {
    route: 'GET /v1/machines/{id}/explain',
    sites: 'each',
    expect: siteRead(200),
    setup: (w, site) => bootable(w, site),
    request: (_w, _s, m: { id: string }) => ({ method: 'GET', path: `/v1/machines/${m.id}/explain` }),
    after: async (_w, _s, _m, { ok, res }) => {
      if (ok) expect(res.body.action).toBe('boot');
    },
  },
  {
    route: 'POST /v1/machines/{id}/reprovision',
    sites: 'each',
    expect: siteWrite(200),
    setup: (w, site) => bootable(w, site, 'deployed'),
    request: (_w, _s, m: { id: string }) => ({ method: 'POST', path: `/v1/machines/${m.id}/reprovision` }),
    after: async (w, _s, m: { id: string }, { ok }) => expect((await call(w.t, 'GET', `/v1/machines/${m.id}`)).body.state).toBe(ok ? 'ready' : 'deployed'),
  },
];
