import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySignature } from '../../cloud/src/webhooks/signature.ts';
import { spawnEntry, type SpawnedEntry } from '../support/spawned-entry.ts';
import { startReceiver } from '../webhooks/receiver.ts';
import { makeCli, succeeding, type Cli } from './support.ts';

/** `edgeboot webhooks …` as a process against the Node entry, which delivers to a real receiver on loopback (allowed by its settings). */
describe('edgeboot webhooks', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  beforeAll(async () => {
    rx = await startReceiver((path, _n, res) => void res.writeHead(path === '/down' ? 503 : 204).end(path === '/down' ? 'maintenance' : undefined));
    entry = await spawnEntry({
      name: 'cli-webhooks',
      command: process.execPath,
      args: () => ['cloud/src/entry/node.ts'],
      env: { PORT: '0', EDGEBOOT_WEBHOOK_ALLOW_NETS: '127.0.0.0/8', EDGEBOOT_WEBHOOK_ALLOW_HTTP: '1' },
      listening: /listening on (http:\/\/\S+)/i,
    });
    cli = await makeCli(entry);
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
    await rx?.close();
  });
  const { ok, okJson } = succeeding(() => cli);

  it('creates a site webhook, prints its secret once, tests it and shows the log', async () => {
    await ok('sites', 'create', 'nantes');
    const created = await ok('webhooks', 'create', rx.url('/ok'), '--site', 'nantes', '--event', 'machine.failed', '--event', 'relay.offline', '-d', 'tickets');
    const m = /^created webhook (whk_\w{26}) for nantes: (\S+)\nsecret: (whsec_\S+)$/m.exec(created.stdout);
    expect(m?.[2]).toBe(rx.url('/ok'));
    const [, id, , secret] = m!;

    const list = (await ok('webhooks', 'list', '--site', 'nantes')).stdout.split('\n');
    expect(list[0]).toMatch(/^ID\s+URL\s+SITE\s+EVENTS\s+PENDING\s+OK\s+FAILED\s+LAST$/);
    expect(list[1]).toMatch(new RegExp(`^${id}\\s+\\S+\\s+nantes\\s+machine.failed,relay.offline\\s+0\\s+0\\s+0`));
    expect((await ok('webhooks', 'list')).stdout).not.toContain(secret);

    const tested = await ok('webhooks', 'test', id!, '--wait');
    expect(tested.stdout).toMatch(/^receiver accepted test event test:\d{13}[0-9a-f]{16}: 204$/m);
    const got = rx.at('/ok')[0]!;
    expect(await verifySignature(secret!, new Headers(got.headers as Record<string, string>), got.body, got.atSeconds)).toBeNull();

    const log = (await ok('webhooks', 'deliveries', id!)).stdout.split('\n');
    expect(log[0]).toMatch(/^TIME\s+EVENT\s+STATE\s+ATTEMPTS\s+LAST\s+NEXT\s+ID$/);
    expect(log[1]).toMatch(/\s+webhook\.test\s+succeeded\s+1\s+204\s+-\s+whd_/);
    const json = await okJson('webhooks', 'deliveries', id!);
    expect(json[0].attemptLog[0]).toMatchObject({ attempt: 1, status: 204 });

    expect((await ok('webhooks', 'delete', id!)).stdout.trim()).toBe(`deleted webhook ${id}`);
    expect((await cli.run(['webhooks', 'deliveries', id!])).code).toBe(3);
  });

  it('exits 1 from test --wait when the receiver refuses, naming its answer', async () => {
    const w = await okJson('webhooks', 'create', rx.url('/down'));
    const r = await cli.run(['webhooks', 'test', w.id, '--wait']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^receiver did not accept test event test:\w+: 503; next attempt \d{4}-/m);
  });

  it('refuses a loopback URL the operator did not allow, with the reason', async () => {
    const r = await cli.run(['webhooks', 'create', 'https://[::1]/hook']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/url: ::1 is a private, loopback or link-local address/);
  });

  it('refuses an unknown event type before asking the API', async () => {
    const r = await cli.run(['webhooks', 'create', 'https://hooks.example.com/', '--event', 'machine.exploded']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Allowed choices are machine\.discovered/);
  });
});
