import type { MiddlewareHandler } from 'hono';
import type { Clock } from './ports/clock.ts';
import type { SiteChanges } from './ports/site-changes.ts';
import type { ObjectStore } from './ports/object-store.ts';
import type { SqlDatabase } from './ports/sql-database.ts';
import type { Principal } from './auth/principal.ts';
import type { PrincipalCache } from './auth/principal-cache.ts';

/** Everything the app needs from its runtime. Only `cloud/src/entry/*` build one of these. */
export interface AppDeps {
  db: SqlDatabase;
  objects: ObjectStore;
  clock: Clock;
  /**
   * An admin token configured outside the database (`EDGEBOOT_ADMIN_TOKEN`, a Workers secret),
   * accepted as admin. Lets a fresh deployment be used before any token exists.
   */
  bootstrapAdminToken?: string;
  /**
   * Largest body one image upload request may carry (a single PUT, or one multipart part).
   * Default 100 MB: the request body limit of Workers on the Free and Pro plans.
   */
  maxUploadBytes?: number;
  /**
   * Answer a verified `/v1/files` GET with a 302 to a presigned URL of the object store (when it
   * can presign, i.e. S3) instead of streaming the bytes through the app. Off by default.
   */
  redirectFilesToStore?: boolean;
  /** Wakes the relays of changed sites (sync/); absent in apps built without relay sync. */
  siteChanges?: SiteChanges;
  /**
   * Compresses the console's pages and assets. Node and Deno pass hono's compress(); Workers do not
   * (Cloudflare compresses at its edge, and workerd would encode a body whose Content-Encoding is
   * already set a second time), so the middleware is not in the Worker bundle.
   */
  compressConsole?: MiddlewareHandler;
}

/**
 * Read these with `c.get('deps')`, not `c.var.deps`: Hono's `c.var` builds a fresh object from the
 * whole context map on every access, which showed up in the profile of the hottest route.
 */
export interface AppEnv {
  Variables: {
    deps: AppDeps;
    requestId: string;
    /** Null for anonymous requests (only enrollment and the OpenAPI document allow them). */
    principal: Principal | null;
    /** Set once a mutation has written its audit row in its own transaction. */
    audited: boolean;
    /** Recently resolved tokens of this app instance; revocations clear it. */
    principals: PrincipalCache;
    /** The error code of the response, for the audit row of a refused mutation. */
    errorCode: string | undefined;
  };
}
