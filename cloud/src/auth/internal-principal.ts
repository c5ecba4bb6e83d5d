import type { Principal } from './principal.ts';

/**
 * Requests the app makes to itself on behalf of an already authenticated caller (the web console's
 * cookie session), so that they go through the very routes, checks and audit rows of the API.
 *
 * Keyed by the Request object: only code in this process can hold one, so nothing on the network can
 * claim a principal this way, unlike a header. The body-limit middleware rebuilds a request that has
 * no Content-Length (which would drop it from here): internal requests always carry one.
 */
const internal = new WeakMap<Request, Principal>();

/** Marks `request` as made for `principal`; pass it to `app.fetch`. */
export function asPrincipal(request: Request, principal: Principal): Request {
  internal.set(request, principal);
  return request;
}

/** The principal an internal request was made for, if it is one. */
export function internalPrincipal(request: Request): Principal | undefined {
  return internal.get(request);
}
