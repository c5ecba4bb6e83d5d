/**
 * Packages of another Debian suite (e.g. `trixie` on a bookworm machine: a current iPXE, shim 16 and
 * GRUB 2.12), read through a private apt configuration under the cache folder. The machine's own
 * sources, lists and caches are never changed: apt is pointed at
 *
 *   <cacheDir>/apt-<suite>/sources.list    one line: the machine's Debian archive, this suite, main
 *   <cacheDir>/apt-<suite>/lists/          its package lists (`apt-get update` with these options)
 *   <cacheDir>/apt-<suite>/cache/          apt's own cache files
 *
 * The archive's address is read from the machine's apt sources (the entry that serves its release,
 * not -security or -updates), and its keyring is the one the machine already trusts for it, so the
 * other suite's Release file is verified exactly as the machine's own are.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { lock } from './file-lock.ts';

const exec = promisify(execFile);

/** Default cache of the private configurations (`.cache/debian` in the repository). */
export const DEFAULT_SUITE_DIR = resolve(import.meta.dirname, '../../.cache/debian');
/** Package lists older than this are fetched again (a new point release, a security fix). */
const LISTS_MAX_AGE_MS = 24 * 3600_000;

export interface ArchiveSource {
  uri: string;
  /** The keyring the machine's entry names (Signed-By), if any. */
  signedBy: string | null;
}

/**
 * The machine's Debian archive: the first apt source entry whose suites include a plain release name
 * (no `-security`, `-updates`, `-backports`), from deb822 `.sources` files and one-line `.list` files.
 */
export function machineArchive(aptDir = '/etc/apt'): ArchiveSource {
  const files = [join(aptDir, 'sources.list'), ...listDir(join(aptDir, 'sources.list.d')).map((f) => join(aptDir, 'sources.list.d', f))];
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const found = file.endsWith('.sources') ? fromDeb822(text) : file.endsWith('.list') ? fromOneLine(text) : null;
    if (found) return found;
  }
  throw new Error(`no Debian archive found in ${aptDir}/sources.list{,.d}: a package of another suite is fetched from the archive the machine already uses`);
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

const RELEASE = /^[a-z]+$/;

function fromDeb822(text: string): ArchiveSource | null {
  for (const stanza of text.split(/\n\s*\n/)) {
    const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim();
    if (!/^Types:.*\bdeb\b/im.test(stanza) || /^Enabled:\s*no/im.test(stanza)) continue;
    const suites = (field('Suites') ?? '').split(/\s+/);
    const uri = field('URIs')?.split(/\s+/)[0];
    if (uri && suites.some((s) => RELEASE.test(s)) && (field('Components') ?? '').split(/\s+/).includes('main')) return { uri, signedBy: field('Signed-By') ?? null };
  }
  return null;
}

function fromOneLine(text: string): ArchiveSource | null {
  for (const line of text.split('\n')) {
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line.trim());
    if (!m || !RELEASE.test(m[3]!) || !m[4]!.split(/\s+/).includes('main')) continue;
    const signedBy = /signed-by=(\S+)/.exec(m[1] ?? '')?.[1] ?? null;
    return { uri: m[2]!, signedBy };
  }
  return null;
}

const ready = new Map<string, Promise<string[]>>();

/**
 * apt options that read `suite` instead of the machine's sources, after making sure its package lists
 * are there and fresh (one `apt-get update` per day, under a lock shared by processes).
 */
export function suiteAptOptions(cacheDir: string, suite: string): Promise<string[]> {
  if (!RELEASE.test(suite)) return Promise.reject(new Error(`not a Debian suite name: ${JSON.stringify(suite)}`));
  const key = `${cacheDir}\0${suite}`;
  let p = ready.get(key);
  if (!p) {
    p = prepare(cacheDir, suite);
    p.catch(() => ready.delete(key));
    ready.set(key, p);
  }
  return p;
}

async function prepare(cacheDir: string, suite: string): Promise<string[]> {
  const dir = join(cacheDir, `apt-${suite}`);
  const lists = join(dir, 'lists');
  const cache = join(dir, 'cache');
  mkdirSync(join(lists, 'partial'), { recursive: true });
  mkdirSync(join(cache, 'archives', 'partial'), { recursive: true });
  const archive = machineArchive();
  const sources = join(dir, 'sources.list');
  const line = `deb ${archive.signedBy ? `[signed-by=${archive.signedBy}] ` : ''}${archive.uri} ${suite} main\n`;
  const options = [
    '-o', `Dir::Etc::sourcelist=${sources}`,
    '-o', 'Dir::Etc::sourceparts=-',
    '-o', `Dir::State::Lists=${lists}`,
    '-o', `Dir::Cache=${cache}`,
    '-o', 'APT::Get::List-Cleanup=0',
  ];
  const stamp = join(dir, 'updated');
  const fresh = () => existsSync(stamp) && Date.now() - statSync(stamp).mtimeMs < LISTS_MAX_AGE_MS && readFileSync(sources, 'utf8') === line;
  if (fresh()) return options;
  const release = await lock(`${dir}.lock`, fresh);
  if (!release) return options;
  try {
    if (fresh()) return options;
    writeFileSync(sources, line);
    const sandbox = process.getuid?.() === 0 ? ['-o', 'APT::Sandbox::User=root'] : [];
    await exec('apt-get', [...sandbox, ...options, '-qq', 'update'], { maxBuffer: 16 << 20 }).catch((e: Error & { stderr?: string }) => {
      throw new Error(`apt-get update for suite ${suite} failed: ${e.stderr?.trim() || e.message}`);
    });
    writeFileSync(stamp, new Date().toISOString());
    return options;
  } finally {
    release();
  }
}
