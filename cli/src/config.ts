/**
 * Where the CLI finds the API and its token: `EDGEBOOT_URL`/`EDGEBOOT_TOKEN` first (CI jobs,
 * one-off calls), then the profile `edgeboot login` saved in the user's config directory
 * (`$XDG_CONFIG_HOME/edgeboot/config.json`, else `~/.config/edgeboot/config.json`).
 *
 * The file holds a bearer token, so it is written 0600 in a 0700 directory, through a temporary
 * file created with that mode and renamed: there is no moment at which another user could read it.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { CliError } from './errors.ts';
import { EXIT } from './exit-codes.ts';

export type Env = Record<string, string | undefined>;

const StoredProfile = z.object({ url: z.string(), token: z.string(), savedAt: z.string().optional() });
export type StoredProfile = z.infer<typeof StoredProfile>;

export interface Connection {
  url: string;
  token: string;
  /** Where each came from, for `edgeboot status` and for error hints. */
  urlFrom: 'flag' | 'env' | 'config';
  tokenFrom: 'env' | 'config';
}

export function configDir(env: Env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(env.HOME || homedir(), '.config');
  return join(base, 'edgeboot');
}

export function configPath(env: Env): string {
  return join(configDir(env), 'config.json');
}

/** Upload resume state is state, not configuration: `$XDG_STATE_HOME/edgeboot`, else `~/.local/state/edgeboot`. */
export function stateDir(env: Env): string {
  const base = env.XDG_STATE_HOME && env.XDG_STATE_HOME.startsWith('/') ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(base, 'edgeboot');
}

/** An API base URL as typed: http(s) only, no trailing slash, no path beyond a prefix. */
export function normalizeUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(EXIT.USAGE, `not a URL: ${JSON.stringify(raw)}`, { hint: 'give the control plane\'s base URL, e.g. https://edgeboot.example.com or http://127.0.0.1:8787' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new CliError(EXIT.USAGE, `the URL must be http or https, not ${u.protocol}`);
  if (u.search || u.hash) throw new CliError(EXIT.USAGE, 'the URL must not carry a query or fragment');
  return `${u.origin}${u.pathname}`.replace(/\/+$/, '');
}

export function readProfile(env: Env): StoredProfile | null {
  const path = configPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CliError(EXIT.ERROR, `cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = StoredProfile.safeParse(safeJson(text));
  if (!parsed.success) throw new CliError(EXIT.ERROR, `${path} is not a valid edgeboot config`, { hint: 'run `edgeboot login` again (or delete the file)' });
  return parsed.data;
}

const safeJson = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** Writes the profile with mode 0600 (directory 0700); returns the file's path. */
export function saveProfile(env: Env, profile: StoredProfile): string {
  const dir = configDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = configPath(env);
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(profile, null, 2)}\n`, { mode: 0o600 });
  // The mode given to writeFileSync is filtered by the umask; 0600 must hold whatever the umask.
  chmodSync(tmp, 0o600);
  renameSync(tmp, path);
  return path;
}

export function removeProfile(env: Env): boolean {
  const path = configPath(env);
  try {
    statSync(path);
  } catch {
    return false;
  }
  rmSync(path, { force: true });
  return true;
}

/** Group or others can read the token file: say so (once per run), as ssh does for keys. */
export function looseModeWarning(env: Env): string | null {
  try {
    const mode = statSync(configPath(env)).mode & 0o777;
    if (mode & 0o077) return `warning: ${configPath(env)} is readable by others (mode ${mode.toString(8)}); run: chmod 600 ${configPath(env)}`;
  } catch {
    // no file: nothing to warn about
  }
  return null;
}

/**
 * The connection a command uses: `--url` over `EDGEBOOT_URL` over the saved profile, and
 * `EDGEBOOT_TOKEN` over the saved token (tokens are never taken from the command line, where
 * other users could read them in the process list).
 */
export function resolveConnection(env: Env, flagUrl?: string): Connection {
  const saved = readProfile(env);
  const urlRaw = flagUrl ?? env.EDGEBOOT_URL ?? saved?.url;
  const token = env.EDGEBOOT_TOKEN || saved?.token;
  if (!urlRaw || !token) {
    throw new CliError(EXIT.AUTH, urlRaw ? 'no API token' : 'not logged in: no API URL', {
      hint: 'run `edgeboot login --url URL --token TOKEN`, or set EDGEBOOT_URL and EDGEBOOT_TOKEN',
    });
  }
  return {
    url: normalizeUrl(urlRaw),
    token,
    urlFrom: flagUrl ? 'flag' : env.EDGEBOOT_URL ? 'env' : 'config',
    tokenFrom: env.EDGEBOOT_TOKEN ? 'env' : 'config',
  };
}
