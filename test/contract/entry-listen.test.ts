import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { REPO_ROOT, spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { call } from './target.ts';

/**
 * How the local entries start and refuse to: `npm start` (the Node entry) and `npm run dev:deno`
 * (the package.json line itself, run through sh as npm runs it) against a port another socket holds.
 */

const BIN = join(REPO_ROOT, 'node_modules/.bin');
const DEV_DENO = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['dev:deno']!;

/** A TCP socket listening on a port the OS chose, standing in for "another program holds it". */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { port: (server.address() as { port: number }).port, server };
}

/** Runs a command to its end; resolves with its status and output. */
function run(command: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, fail) => {
    const child = spawn(command, args, { cwd: REPO_ROOT, env: { PATH: `${BIN}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '', DENO_NO_UPDATE_CHECK: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', fail);
    child.once('exit', (code) => done({ code, stdout, stderr }));
  });
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempData(): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgeboot-listen-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('local entries and a port in use', () => {
  it('the Node entry names the port in one line and exits 75 when the port is taken', async () => {
    const held = await holdPort();
    cleanups.push(() => new Promise<void>((ok) => held.server.close(() => ok())));
    const r = await run(process.execPath, ['cloud/src/entry/node.ts'], { EDGEBOOT_DATA: tempData(), PORT: String(held.port) });
    expect(r.code).toBe(75);
    expect(r.stderr.trim()).toBe(`edgeboot: port ${held.port} on 127.0.0.1 is already in use (another edgeboot, or another program): stop it or set PORT to a free port`);
  });

  it('npm run dev:deno names the port in one line and exits 75 when the port is taken', async () => {
    const held = await holdPort();
    cleanups.push(() => new Promise<void>((ok) => held.server.close(() => ok())));
    const r = await run('sh', ['-c', DEV_DENO], { EDGEBOOT_DATA: tempData(), PORT: String(held.port) });
    expect(r.code).toBe(75);
    expect(r.stderr.trim()).toBe(`edgeboot: port ${held.port} on 127.0.0.1 is already in use (another edgeboot, or another program): stop it or set PORT to a free port`);
  });
});

describe('npm run dev:deno', () => {
  let entry: SpawnedEntry | undefined;
  afterEach(async () => {
    await entry?.stop();
    entry = undefined;
  });

  it('keeps its data in EDGEBOOT_DATA and listens on PORT', async () => {
    entry = await spawnEntry({
      name: 'dev-deno',
      command: 'sh',
      args: () => ['-c', DEV_DENO],
      // PORT=0: the OS picks, and deno serve prints the address it got.
      env: { PATH: `${BIN}:${process.env.PATH ?? ''}`, DENO_NO_UPDATE_CHECK: '1', PORT: '0' },
      listening: /listening on (http:\/\/\S+)/i,
    });
    expect((await call(entry, 'POST', '/v1/sites', { json: { name: 'dev-deno' } })).status).toBe(201);
    expect(readdirSync(entry.dataDir).some((f) => f.endsWith('.sqlite') || f.endsWith('.db'))).toBe(true);
  });
});
