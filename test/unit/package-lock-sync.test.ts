import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * `npm install` on a fresh clone must not rewrite package-lock.json: npm rewrites it when the lock's
 * root entry (packages[""]) no longer mirrors package.json, or when a locked version no longer
 * satisfies what package.json asks for. Both are checked here from the two files alone, without the
 * registry, so CI fails on a stale lock without network access. (With the registry at hand, the full
 * check is `npm install --package-lock-only --ignore-scripts` followed by `git diff --exit-code package-lock.json`.)
 */

const ROOT = resolve(import.meta.dirname, '../..');
const read = (f: string) => JSON.parse(readFileSync(join(ROOT, f), 'utf8')) as Record<string, any>;

type Deps = Record<string, string>;
const pkg = read('package.json');
const lock = read('package-lock.json');
const rootEntry = (lock.packages as Record<string, any>)[''];

/** package.json writes bins as "./x"; the lock stores "x". */
const bins = (b: Record<string, string> | undefined) => Object.fromEntries(Object.entries(b ?? {}).map(([k, v]) => [k, v.replace(/^\.\//, '')]));

/** Exact pins only: this project pins every direct dependency (an override may name `$dep`). */
const EXACT = /^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$/;

describe('package-lock.json is in step with package.json', () => {
  it('has the same name, version, engines, bins and dependency ranges in its root entry', () => {
    expect(lock.name).toBe(pkg.name);
    expect(lock.version).toBe(pkg.version);
    expect(lock.lockfileVersion).toBe(3);
    expect(rootEntry.name).toBe(pkg.name);
    expect(rootEntry.version).toBe(pkg.version);
    expect(rootEntry.engines).toEqual(pkg.engines);
    expect(bins(rootEntry.bin)).toEqual(bins(pkg.bin));
    expect(rootEntry.dependencies ?? {}).toEqual(pkg.dependencies ?? {});
    expect(rootEntry.devDependencies ?? {}).toEqual(pkg.devDependencies ?? {});
    expect(rootEntry.optionalDependencies ?? {}).toEqual(pkg.optionalDependencies ?? {});
    expect(rootEntry.peerDependencies ?? {}).toEqual(pkg.peerDependencies ?? {});
  });

  it('locks every direct dependency at exactly the version package.json pins', () => {
    const wrong: string[] = [];
    for (const [name, spec] of Object.entries({ ...(pkg.dependencies as Deps), ...(pkg.devDependencies as Deps) })) {
      if (!EXACT.test(spec)) {
        wrong.push(`${name}: ${spec} is not an exact version (pin it: the lock check compares exact versions)`);
        continue;
      }
      const locked = lock.packages[`node_modules/${name}`]?.version;
      if (locked !== spec) wrong.push(`${name}: package.json pins ${spec}, package-lock.json has ${locked ?? 'nothing'}`);
    }
    expect(wrong).toEqual([]);
  });

  it('locks what the overrides force, wherever the overridden package sits in the tree', () => {
    const wrong: string[] = [];
    const all = { ...(pkg.dependencies as Deps), ...(pkg.devDependencies as Deps) };
    for (const [parent, forced] of Object.entries((pkg.overrides ?? {}) as Record<string, Deps>)) {
      for (const [name, spec] of Object.entries(forced)) {
        const version = spec.startsWith('$') ? all[spec.slice(1)] : spec;
        const entries = Object.entries(lock.packages as Record<string, { version?: string }>).filter(([path]) => path === `node_modules/${name}` || path.endsWith(`/node_modules/${name}`));
        if (entries.length === 0) wrong.push(`${parent} > ${name}: not in the lock`);
        for (const [path, e] of entries) if (e.version !== version) wrong.push(`${path}: ${e.version}, the override says ${version}`);
      }
    }
    expect(wrong).toEqual([]);
  });
});
