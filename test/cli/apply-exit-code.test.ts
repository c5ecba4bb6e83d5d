import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpawnedEntry } from '../support/spawned-entry.ts';
import { api, makeCli, startCloud, type Cli } from './support.ts';

/** `apply --exit-code` as a CI drift check: 1 when the fleet differs from the file, 0 when not. */
describe('edgeboot apply --exit-code (CLI process against the Node entry)', () => {
  let entry: SpawnedEntry;
  let cli: Cli;
  beforeAll(async () => {
    entry = await startCloud('cli-apply-exit-code');
    cli = await makeCli(entry);
  });
  afterAll(async () => {
    await entry?.stop();
    cli?.cleanup();
  });

  let n = 0;
  function fleet(yaml: string): string {
    const file = join(cli.home, `fleet-${++n}.yaml`);
    writeFileSync(file, yaml);
    return file;
  }

  it('exits 1 on a dry run when the fleet differs, printing the plan and nothing on stderr, and changes nothing', async () => {
    const file = fleet('sites:\n  - name: drift-a\n    description: first\n');
    const r = await cli.run(['apply', '-f', file, '--dry-run', '--exit-code']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^sites:\n  \+ create\s+drift-a$/m);
    expect((await api(entry, 'GET', '/v1/sites?limit=500')).body.items.some((s: { name: string }) => s.name === 'drift-a')).toBe(false);
    // Without --exit-code, a dry run exits 0 whatever it finds, as before.
    expect((await cli.run(['apply', '-f', file, '--dry-run'])).code).toBe(0);
  });

  it('exits 0 on a dry run when the fleet is as the file says, and 1 again once someone changes it', async () => {
    const file = fleet('sites:\n  - name: drift-b\n    description: as filed\n');
    expect((await cli.run(['apply', '-f', file])).code).toBe(0);
    const same = await cli.run(['apply', '-f', file, '--dry-run', '--exit-code']);
    expect(same.code).toBe(0);
    expect(same.stderr).toBe('');

    const site = (await api(entry, 'GET', '/v1/sites?limit=500')).body.items.find((s: { name: string }) => s.name === 'drift-b');
    expect((await api(entry, 'PATCH', `/v1/sites/${site.id}`, { description: 'edited by hand' })).status).toBe(200);
    const drifted = await cli.run(['--json', 'apply', '-f', file, '--dry-run', '--exit-code']);
    expect(drifted.code).toBe(1);
    expect(drifted.json()).toMatchObject({ dryRun: true, summary: { create: 0, update: 1, delete: 0 } });
  });

  it('exits 1 from a real apply that changed something and 0 from one with nothing to do', async () => {
    const file = fleet('sites:\n  - name: drift-c\n');
    const changed = await cli.run(['apply', '-f', file, '--exit-code']);
    expect(changed.code).toBe(1);
    expect(changed.stdout).toMatch(/^created site drift-c \(site_\w{26}\)$/m);
    expect((await cli.run(['apply', '-f', file, '--exit-code'])).code).toBe(0);
  });

  it('keeps its own exit codes for errors: an unreadable file is 2, whatever --exit-code says', async () => {
    const r = await cli.run(['apply', '-f', join(cli.home, 'missing.yaml'), '--dry-run', '--exit-code']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: cannot read .*missing\.yaml: ENOENT$/m);
  });
});
