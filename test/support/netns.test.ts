import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestbed, listNamespaces, removeStaleNamespaces, requireTools, type Testbed } from './netns.ts';

/** The test-bed library itself, and the TCP → unix-socket forwarder that crosses namespaces. */
const ROOT = resolve(import.meta.dirname, '../..');
const NODE = join(ROOT, 'node_modules/.bin/node');

let bed: Testbed | undefined;
afterEach(async () => {
  await bed?.cleanup();
  bed = undefined;
});

describe('network-namespace test beds', () => {
  it('joins two namespaces on one LAN so they can ping each other', async () => {
    requireTools(['ip', 'busybox']);
    bed = await createTestbed('netns');
    await bed.namespace('a');
    await bed.namespace('b');
    await bed.lan('lan');
    await bed.attach('a', 'lan', 'eth0', '10.88.0.1/24');
    await bed.attach('b', 'lan', 'eth0', '10.88.0.2/24');
    const ab = await bed.run('a', 'busybox', ['ping', '-c3', '-W2', '10.88.0.2']);
    const ba = await bed.run('b', 'busybox', ['ping', '-c3', '-W2', '10.88.0.1']);
    expect(ab.code, ab.stdout + ab.stderr).toBe(0);
    expect(ba.code, ba.stdout + ba.stderr).toBe(0);
  });

  it('can put a LAN’s bridge inside a member namespace, addressed on br0', async () => {
    bed = await createTestbed('netns');
    await bed.namespace('server');
    await bed.namespace('client');
    await bed.lan('lan', { in: 'server', address: '10.88.0.2/24' });
    await bed.attach('client', 'lan', 'eth0', '10.88.0.50/24');
    const r = await bed.run('client', 'busybox', ['ping', '-c3', '-W2', '10.88.0.2']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('keeps a namespace that accepts any destination from answering ARP for its neighbours', async () => {
    bed = await createTestbed('netns');
    for (const n of ['a', 'b', 'client']) await bed.namespace(n);
    await bed.lan('lan');
    await bed.attach('a', 'lan', 'eth0', '10.88.0.1/24');
    await bed.attach('b', 'lan', 'eth0', '10.88.0.2/24');
    await bed.attach('client', 'lan', 'eth0');
    await bed.acceptAnyDestination('client');
    const r = await bed.run('a', 'busybox', ['ping', '-c3', '-W2', '10.88.0.2']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('kills what it spawned and deletes its namespaces on cleanup', async () => {
    bed = await createTestbed('netns');
    const full = await bed.namespace('a');
    const sleeper = bed.spawn('a', 'sleep', ['100']);
    expect(listNamespaces()).toContain(full);
    await bed.cleanup();
    const { signal } = await sleeper.exited;
    expect(signal).toBe('SIGTERM');
    expect(() => process.kill(sleeper.pid, 0)).toThrow(); // ESRCH: the pid is gone
    expect(listNamespaces().filter((n) => n.startsWith(bed!.prefix))).toEqual([]);
  });

  it('waits for a line a child prints, and fails naming the child when it exits first', async () => {
    bed = await createTestbed('netns');
    await bed.namespace('a');
    const echo = bed.spawn('a', 'sh', ['-c', 'echo one; sleep 0.2; echo "two 2"; exit 3']);
    await expect(echo.waitForLine(/^two (\d)$/, 5000)).resolves.toBe('two 2');
    await expect(echo.waitForLine((l) => l === 'three', 5000)).rejects.toThrow(/exited \(3\)/);
    expect(echo.stdout).toEqual(['one', 'two 2']);
  });

  it('leaves no namespace and no process behind when the run exits without cleanup', async () => {
    const script = `
      const { createTestbed } = await import(${JSON.stringify(join(ROOT, 'test/support/netns.ts'))});
      const bed = await createTestbed('crash');
      await bed.namespace('a');
      const p = bed.spawn('a', 'sleep', ['100']);
      console.log(JSON.stringify({ prefix: bed.prefix, pid: p.pid }));
      process.exit(3);`;
    const r = spawnSync(NODE, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(3);
    const { prefix, pid } = JSON.parse(r.stdout) as { prefix: string; pid: number };
    expect(listNamespaces().filter((n) => n.startsWith(prefix))).toEqual([]);
    // The orphan is reaped by init, not by us: until then it is a zombie, which kill(pid, 0) still finds.
    const dead = () => !existsSync(`/proc/${pid}`) || /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    for (let i = 0; i < 50 && !dead(); i++) await new Promise((done) => setTimeout(done, 20));
    expect(dead()).toBe(true);
  });

  it('removes what a dead run left behind (its namespaces and the processes inside), and nothing of a live one', async () => {
    const dead = spawnSync('true').pid!; // a pid that has just exited
    const stale = `eb-netns-${dead}-1-left`;
    const live = `eb-netns-${process.pid}-999-live`;
    execFileSync('ip', ['netns', 'add', stale]);
    execFileSync('ip', ['netns', 'add', live]);
    try {
      const orphan = spawn('ip', ['netns', 'exec', stale, 'sleep', '100'], { stdio: 'ignore' });
      const gone = new Promise((done) => orphan.once('exit', done));
      await new Promise((r) => setTimeout(r, 200));
      removeStaleNamespaces(); // another test file's bed may sweep it first: check the effect, not the return
      await gone;
      expect(listNamespaces()).not.toContain(stale);
      expect(listNamespaces()).toContain(live);
    } finally {
      for (const n of [stale, live]) spawnSync('ip', ['netns', 'del', n]);
    }
  });

  it('names the Debian package of a missing tool', () => {
    expect(() => requireTools(['ip', 'no-such-tool-xyz'])).toThrow(/no-such-tool-xyz/);
    expect(() => requireTools(['tcpdump-missing'])).toThrow(/apt-get install/);
  });
});

describe('unix-forward', () => {
  it('carries a namespace’s TCP connection to a unix-socket server in the test process, and resets it once the server stops', async () => {
    requireTools(['curl']);
    const dir = mkdtempSync(join(tmpdir(), 'edgeboot-unix-forward-'));
    const path = join(dir, 'cloud.sock');
    const server: Server = createServer((req, res) => res.end(`hello ${req.url}`));
    await new Promise<void>((ok) => server.listen(path, ok));
    try {
      bed = await createTestbed('fwd');
      await bed.namespace('relay');
      const fwd = bed.spawn('relay', NODE, [join(ROOT, 'test/support/unix-forward.ts'), '127.0.0.1:8787', path]);
      await fwd.waitForLine(/^listening 127\.0\.0\.1:8787$/, 10_000);

      const ok = await bed.run('relay', 'curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:8787/v1/ping']);
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stdout).toBe('hello /v1/ping');

      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
      const cut = await bed.run('relay', 'curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:8787/v1/ping']);
      // The forwarder resets at once: curl says 56 "Recv failure: Connection reset by peer", or 7 when
      // the reset lands before it has checked its non-blocking connect. Never a timeout (28).
      expect([7, 56], cut.stderr).toContain(cut.code);
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
