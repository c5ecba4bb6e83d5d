/**
 * BMC passwords for `apply`: read only for the BMCs the plan will seal, all of them before the first
 * change, so a missing variable or unreadable file stops the run with nothing changed. The fleet file
 * names where each password is (`passwordEnv`, `passwordFile`); the value never enters the plan, its
 * output or the API (it is sealed to the relays first).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { MAX_SECRET_BYTES } from '../../../shared/crypto/seal.ts';
import type { Fleet, Path } from './file.ts';
import type { Step } from './plan.ts';

export interface PasswordProblem {
  path: Path;
  message: string;
}

/** Passwords by MAC for the BMC steps that create or update; `baseDir` anchors relative `passwordFile`s. */
export function readBmcPasswords(
  fleet: Fleet,
  steps: readonly Step[],
  o: { baseDir: string; env: Readonly<Record<string, string | undefined>> },
): { passwords: Map<string, string>; problems: PasswordProblem[] } {
  const passwords = new Map<string, string>();
  const problems: PasswordProblem[] = [];
  for (const s of steps) {
    if (s.kind !== 'bmc' || (s.action !== 'create' && s.action !== 'update')) continue;
    const i = fleet.machines!.findIndex((m) => m.mac === s.key);
    const b = fleet.machines![i]!.bmc!;
    let text: string | undefined;
    if (b.passwordEnv !== undefined) {
      text = o.env[b.passwordEnv];
      if (text === undefined || text === '') problems.push({ path: ['machines', i, 'bmc', 'passwordEnv'], message: `the environment variable ${b.passwordEnv} is not set (or empty)` });
    } else {
      const file = resolve(o.baseDir, b.passwordFile!);
      try {
        // One trailing newline is the file's, not the password's (as `--password-stdin`).
        text = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
        if (text === '') problems.push({ path: ['machines', i, 'bmc', 'passwordFile'], message: `${file} is empty` });
      } catch (err) {
        problems.push({ path: ['machines', i, 'bmc', 'passwordFile'], message: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      }
    }
    if (text && new TextEncoder().encode(text).length > MAX_SECRET_BYTES) {
      problems.push({ path: ['machines', i, 'bmc'], message: `the password is over ${MAX_SECRET_BYTES} bytes` });
    } else if (text) passwords.set(s.key, text);
  }
  return { passwords, problems };
}
