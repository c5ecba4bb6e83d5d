/**
 * The bad-input engine. Bad input, per resource: every POST/PATCH gets malformed JSON, the wrong content type, bodies that
 * are not objects, unknown fields, wrong types and an oversize body; every id route gets unknown,
 * huge and odd ids; every list gets bad query parameters. Each answer must be the expected 4xx with
 * the error envelope and its request id, and the call must have created or changed nothing.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createSite, enrollRelay } from '../fixtures.ts';
import { call, errorCode, unique, type ApiTarget, type CallResult } from '../target.ts';

export interface InputWorld {
  t: ApiTarget;
  siteA: string;
  relay: { relayId: string; token: string };
  admin(method: string, path: string, json?: unknown): Promise<CallResult>;
}

export interface BodyEndpoint {
  route: string;
  method: 'POST' | 'PATCH' | 'PUT';
  /** Path and, when the call is made as someone else than admin, the token. */
  target: (w: InputWorld) => Promise<{ path: string; token?: string | null }>;
  /** A valid body; bad variants are derived from it. Carries a marker (a unique name…) when it can. */
  valid: (w: InputWorld) => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** Bodies that are well-formed JSON objects but break the schema (wrong types, out of range…). */
  invalid: (w: InputWorld) => Promise<Record<string, unknown>[]> | Record<string, unknown>[];
  /** Takes a snapshot; returns a check that nothing changed (e.g. that no object has the marker). */
  unchanged: (w: InputWorld, valid: Record<string, unknown>, path: string) => Promise<() => Promise<void>>;
}

export interface IdRoute {
  route: string;
  method: string;
  /** The path for an id (already URL-encoded by the caller). */
  path: (id: string) => string;
  /** A well-formed id that names nothing. */
  unknownId: string;
  json?: unknown;
  /** The route checks the id's shape (e.g. "a machine id or a MAC"): odd ids are 400, not 404. */
  shapedIds?: boolean;
}

export interface ListRoute {
  route: string;
  path: string;
  /** Query strings that must be refused with 400. */
  bad: string[];
}

/** Over 64 KiB, the JSON body limit; the handler must never see it. */
const OVERSIZE = 100 * 1024;

function expectRefusal(r: CallResult, status: number, codes: string[]): void {
  expect(r.status, r.text.slice(0, 300)).toBe(status);
  expect(codes).toContain(errorCode(r));
  expect(r.body.error.requestId).toMatch(/^req_/);
  expect(r.body.error.requestId).toBe(r.headers.get('x-request-id'));
}

/** Bodies that are not a JSON object of the right shape, by what is wrong with them. */
function rawCases(valid: Record<string, unknown>): { name: string; body: string; contentType?: string; status: number; codes: string[]; message?: string }[] {
  const text = JSON.stringify(valid);
  return [
    { name: 'truncated JSON', body: text.slice(0, -1), status: 400, codes: ['invalid_json'] },
    { name: 'JSON with a trailing comma', body: `${text.slice(0, -1)},}`, status: 400, codes: ['invalid_json'] },
    { name: 'single-quoted pseudo-JSON', body: text.replace(/"/g, "'"), status: 400, codes: ['invalid_json'] },
    { name: 'an empty body', body: '', status: 400, codes: ['invalid_json', 'validation_failed'] },
    { name: 'a JSON array', body: `[${text}]`, status: 400, codes: ['validation_failed'] },
    { name: 'JSON null', body: 'null', status: 400, codes: ['validation_failed'] },
    { name: 'a JSON string', body: JSON.stringify(text), status: 400, codes: ['validation_failed'] },
    { name: 'text/plain content type', body: text, contentType: 'text/plain', status: 415, codes: ['unsupported_media_type'] },
    { name: 'form content type', body: 'name=x', contentType: 'application/x-www-form-urlencoded', status: 415, codes: ['unsupported_media_type'] },
    // Valid JSON with one field too many: the message names the field, not "invalid json".
    { name: 'an unknown field', body: JSON.stringify({ ...valid, colour: 'blue' }), status: 400, codes: ['validation_failed'], message: 'invalid request body: colour: unknown field' },
    { name: 'a __proto__ field', body: `${text.slice(0, -1)}${text === '{}' ? '' : ','}"__proto__":{"role":"admin"}}`, status: 400, codes: ['validation_failed'] },
    { name: `a ${OVERSIZE / 1024} KiB body`, body: JSON.stringify({ ...valid, padding: 'x'.repeat(OVERSIZE) }), status: 413, codes: ['payload_too_large'] },
  ];
}

/**
 * Ids that must give 404 (odd but short: nothing has that id) or 400 (over the 64-character limit,
 * or odd on a route that checks the shape), never a 500.
 */
function idCases(route: IdRoute): { name: string; id: string; status: number }[] {
  const odd = route.shapedIds ? 400 : 404;
  return [
    { name: 'an unknown well-formed id', id: route.unknownId, status: 404 },
    { name: 'an id of another kind', id: 'tok_00000000000000000000000000', status: odd },
    { name: 'an id with SQL in it', id: encodeURIComponent("x' OR '1'='1"), status: odd },
    { name: 'an id with a NUL byte', id: '%00', status: odd },
    { name: 'an id with non-ASCII letters', id: encodeURIComponent('sïte_é'), status: odd },
    { name: 'an id with an encoded slash', id: '..%2F..%2Fetc%2Fpasswd', status: odd },
    { name: 'a 65-character id', id: 'a'.repeat(65), status: 400 },
    { name: 'a 4,000-character id', id: 'a'.repeat(4000), status: 400 },
  ];
}

/** Runs the bad-input cases of these endpoints against one target. */
export function badInputSuite(target: () => ApiTarget, endpoints: BodyEndpoint[], ids: IdRoute[], lists: ListRoute[]): void {
  let w: InputWorld;
  beforeAll(async () => {
    const t = target();
    const siteA = await createSite(t, unique('input'));
    w = { t, siteA, relay: await enrollRelay(t, siteA), admin: (method, path, json) => call(t, method, path, { json }) };
  });

  for (const ep of endpoints) {
    describe(ep.route, () => {
      it('refuses malformed, mistyped, non-object, unknown-field and oversize bodies and changes nothing', async () => {
        const valid = await ep.valid(w);
        const { path, token } = await ep.target(w);
        const check = await ep.unchanged(w, valid, path);
        for (const c of rawCases(valid)) {
          const r = await call(w.t, ep.method, path, { token, body: c.body, headers: { 'content-type': c.contentType ?? 'application/json' } });
          try {
            expectRefusal(r, c.status, c.codes);
            if (c.message !== undefined) {
              expect(r.body.error.message).toBe(c.message);
              expect(r.body.error.issues).toContainEqual({ path: 'colour', message: 'unknown field' });
            }
          } catch (err) {
            throw new Error(`${c.name}: ${(err as Error).message}`);
          }
        }
        for (const bad of await ep.invalid(w)) {
          const r = await call(w.t, ep.method, path, { token, json: bad });
          try {
            expectRefusal(r, 400, ['validation_failed']);
            expect(r.body.error.issues?.length).toBeGreaterThan(0);
          } catch (err) {
            throw new Error(`${JSON.stringify(bad).slice(0, 120)}: ${(err as Error).message}`);
          }
        }
        await check();
      });
    });
  }

  for (const route of ids) {
    describe(route.route, () => {
      for (const c of idCases(route)) {
        it(`answers ${c.status} for ${c.name}`, async () => {
          const r = await call(w.t, route.method, route.path(c.id), { json: route.json });
          expectRefusal(r, c.status, c.status === 404 ? ['not_found'] : ['validation_failed']);
        });
      }
    });
  }

  for (const list of lists) {
    describe(`GET ${list.route}`, () => {
      it('refuses bad query parameters with 400', async () => {
        for (const q of list.bad) {
          const r = await call(w.t, 'GET', `${list.path}?${q}`);
          try {
            expectRefusal(r, 400, ['validation_failed']);
          } catch (err) {
            throw new Error(`?${q}: ${(err as Error).message}`);
          }
        }
      });
    });
  }

  describe('Authorization header', () => {
    it('refuses a malformed bearer header with 401', async () => {
      for (const header of ['Bearer', 'Basic YWRtaW46YWRtaW4=', `Bearer ${'x'.repeat(200)}`, 'Bearer ebt_with space', 'bearer']) {
        const r = await call(w.t, 'GET', '/v1/sites', { token: null, headers: { authorization: header } });
        expectRefusal(r, 401, ['unauthorized']);
      }
    });
  });
}

/** Checks that no item of a list has `field` equal to the marker. */
export function noneNamed(listPath: string, field: string) {
  return async (w: InputWorld, valid: Record<string, unknown>) => async () => {
    const r = await w.admin('GET', `${listPath}${listPath.includes('?') ? '&' : '?'}limit=500`);
    expect(r.status).toBe(200);
    expect(r.body.items.map((x: Record<string, unknown>) => x[field])).not.toContain(valid[field]);
  };
}

/** Checks that the object at `path` reads the same afterwards. */
export function sameObject(getPath: (path: string) => string = (p) => p) {
  return async (w: InputWorld, _valid: Record<string, unknown>, path: string) => {
    const before = await w.admin('GET', getPath(path));
    expect(before.status).toBe(200);
    return async () => expect((await w.admin('GET', getPath(path))).body).toEqual(before.body);
  };
}

/** Query strings every keyset-paged list must refuse. */
export const GENERIC_BAD_QUERY = ['limit=0', 'limit=501', 'limit=ten', 'limit=1.5', 'cursor=%27%3B--', `cursor=${'a'.repeat(65)}`, 'colour=blue'];
