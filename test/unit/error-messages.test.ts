import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { assertRole, type Principal } from '../../cloud/src/auth/principal.ts';
import { AppError } from '../../cloud/src/errors.ts';
import { issuesOf, validationMessage } from '../../cloud/src/routes/openapi.ts';

const viewer: Principal = { tokenId: 'tok_x', role: 'viewer', siteIds: null, relayId: null };

function refusal(f: () => void): AppError {
  try {
    f();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('did not throw');
}

describe('error messages people read', () => {
  it('puts "an" before admin and "a" before operator', () => {
    expect(refusal(() => assertRole(viewer, 'admin')).message).toBe('this needs an admin token');
    expect(refusal(() => assertRole(viewer, 'admin', 'operator')).message).toBe('this needs an admin or operator token');
    expect(refusal(() => assertRole(viewer, 'operator')).message).toBe('this needs an operator token');
    expect(refusal(() => assertRole(viewer, 'relay')).message).toBe('this needs a relay token');
  });

  it('names each unknown field by its full path', () => {
    const schema = z.strictObject({ name: z.string(), selector: z.strictObject({ mac: z.string().optional() }) });
    const r = schema.safeParse({ name: 'x', colour: 'blue', selector: { hostname: 'h', rack: 1 } });
    const issues = issuesOf(r.error!);
    // zod reports the nested object before the outer one.
    expect(issues).toEqual([
      { path: 'selector.hostname', message: 'unknown field' },
      { path: 'selector.rack', message: 'unknown field' },
      { path: 'colour', message: 'unknown field' },
    ]);
    expect(validationMessage('json', issues)).toBe('invalid request body: selector.hostname: unknown field (and 2 more problems)');
  });

  it('names the field and its problem for a wrong type, and the query as the query', () => {
    const r = z.strictObject({ limit: z.number() }).safeParse({ limit: 'ten' });
    const issues = issuesOf(r.error!);
    expect(issues[0]!.path).toBe('limit');
    expect(validationMessage('query', issues)).toBe(`invalid query: limit: ${issues[0]!.message}`);
  });
});
