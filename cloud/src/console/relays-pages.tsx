/** @jsxImportSource hono/jsx */
import type { FC } from 'hono/jsx';
import type { Relay } from '../../../shared/schemas/access.ts';
import { enc, type ConsoleRouter, type Kit } from './kit.tsx';
import { Csrf } from './layout.tsx';
import type { ConsoleSession } from './session.ts';
import type { SitePageFn } from './sites-pages.tsx';

/** A relay's row actions on its site's page: revoke (its token stops working at once). */
export const RelayActions: FC<{ session: ConsoleSession; relay: Relay }> = ({ session, relay }) =>
  relay.revokedAt ? (
    <span class="muted">revoked</span>
  ) : (
    <form method="post" action={`/console/relays/${relay.id}/revoke`} class="inline">
      <Csrf session={session} />
      <button type="submit" class="danger" data-confirm={`Revoke the relay ${relay.name}? Its token stops working at once; the box must enroll again.`} aria-label={`Revoke ${relay.name}`}>
        Revoke
      </button>
    </form>
  );

export function relayRoutes(r: ConsoleRouter, k: Kit, sitePage: SitePageFn) {
  /** A code shown once on the site's page, with the install command that uses it. */
  r.post('/sites/:id/enrollment-codes', async (c) => {
    const id = c.req.param('id');
    const res = await k.api(c).call<{ code: string; expiresAt: string }>('POST', `/v1/sites/${enc(id)}/enrollment-codes`, {});
    if (!res.ok) return k.apiErrorPage(c, res);
    return sitePage(c, id, { enrollmentCode: res.data }, 201);
  });

  r.post('/relays/:id/revoke', async (c) => {
    const a = k.api(c);
    const relay = await a.get<Relay>(`/v1/relays/${enc(c.req.param('id'))}`);
    const res = await a.call('DELETE', `/v1/relays/${enc(relay.id)}`);
    if (!res.ok) return k.apiErrorPage(c, res);
    return c.redirect(`/console/sites/${enc(relay.siteId)}?ok=relay-revoked`, 303);
  });
}
