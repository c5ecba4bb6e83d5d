import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { Command } from 'commander';
import type { Assignment } from '../../../shared/schemas/assignment.ts';
import type { Bmc } from '../../../shared/schemas/bmc.ts';
import type { Image } from '../../../shared/schemas/image.ts';
import type { Machine } from '../../../shared/schemas/machine.ts';
import type { Profile } from '../../../shared/schemas/profile.ts';
import type { Site } from '../../../shared/schemas/site.ts';
import { ApiError, type ApiClient } from '../api-client.ts';
import type { Fleet } from '../apply/file.ts';
import type { Current, Step } from '../apply/plan.ts';
import { contextOf } from '../context.ts';
import { CliError, ExitStatus } from '../errors.ts';
import { EXIT } from '../exit-codes.ts';

const EXAMPLE = `
The file (YAML or JSON; every section optional; names, not ids):

  profiles:
    - name: ubuntu-24.04
      spec: { kind: linux, kernel: ubuntu-24.04-vmlinuz, initrds: [ubuntu-24.04-initrd], cmdline: "ip=dhcp" }
    - name: lyon-menu
      spec: { kind: menu, title: Lyon, items: [{ label: Ubuntu 24.04, profileId: ubuntu-24.04 }] }
  sites:
    - name: lyon
      description: Lyon office
      defaultProfile: lyon-menu        # null: unknown machines boot their local disk
  machines:
    - mac: 52:54:00:12:34:56
      site: lyon
      hostname: web-1
      labels: { rack: r12, role: web }
      bmc:                             # null: forget the machine's BMC
        ipmi: 10.0.5.21                # or redfish: https://10.0.5.21 (with systemId, tlsFingerprint)
        user: admin
        passwordEnv: LYON_BMC_PASSWORD # or passwordFile: secrets/web-1 (relative to this file)
  assignments:
    - selector: { mac: 52:54:00:12:34:56 }
      profile: ubuntu-24.04
      once: true
    - selector: { site: lyon, labels: { role: web } }
      profile: ubuntu-24.04

Sites and profiles are matched by name, machines by MAC, assignments by selector. Fields left out are
not managed. Images are referenced by name and must exist (edgeboot images upload). Applying the
same file again changes nothing. --prune deletes what a section of the file does not list (only
sections the file has).

A BMC password is never in the file: apply reads it from passwordEnv or passwordFile and seals it to
each relay of the machine's site before it leaves this computer (as \`machines bmc set\`). The cloud
keeps only ciphertext, so apply compares what it can read back (protocol, address, user, systemId,
tlsFingerprint) and seals again only when one of those changed, when a relay of the site has no
sealed copy (enrolled later), when the machine moves site, or with --reseal (after changing the
password on the BMC). --dry-run reads no password.`;

async function fetchCurrent(api: ApiClient, fleet: Fleet): Promise<Current> {
  const [sites, profiles, images, machines, assignments] = await Promise.all([
    api.list<Site>('/v1/sites'),
    api.list<Profile>('/v1/profiles'),
    api.list<Image>('/v1/images'),
    api.list<Machine>('/v1/machines'),
    api.list<Assignment>('/v1/assignments'),
  ]);
  // One read per existing machine the file gives a `bmc` (with or without one); 404 is "no BMC".
  const withBmc = new Set((fleet.machines ?? []).filter((m) => m.bmc !== undefined).map((m) => m.mac));
  const bmcs = (
    await Promise.all(
      machines
        .filter((m) => withBmc.has(m.mac))
        .map((m) =>
          api.get<Bmc>(`/v1/machines/${m.id}/bmc`).catch((err: unknown) => {
            if (err instanceof ApiError && err.status === 404) return null;
            throw err;
          }),
        ),
    )
  ).filter((b): b is Bmc => b !== null);
  return { sites, profiles, images, machines, assignments, bmcs };
}

const stepJson = (s: Step, id: string | null = s.id) => ({ kind: s.kind, action: s.action, key: s.key, id, changes: s.changes });

export function applyCommand(): Command {
  return new Command('apply')
    .description('create or update sites, profiles, machines and assignments from a file (idempotent)')
    .requiredOption('-f, --file <path>', 'the fleet file (YAML or JSON); "-" reads standard input')
    .option('--dry-run', 'print what would change, field by field, and change nothing')
    .option('--prune', 'also delete objects a section of the file does not list')
    .option('--reseal', "seal every BMC password of the file again (after changing it on the BMCs), even where nothing else changed")
    .option('-v, --verbose', 'list unchanged objects too')
    .option('--exit-code', 'exit 1 when the fleet differs from the file (with --dry-run: would change; without: changed), 0 when it does not, as git diff --exit-code; for drift checks in CI')
    .addHelpText('after', EXAMPLE)
    .addHelpText('after', `
Drift check (CI):
  edgeboot apply -f fleet.yaml --dry-run --exit-code   # 0: the fleet is as the file says; 1: it differs (the plan is printed); other codes: errors`)
    .action(async (o: { file: string; dryRun?: boolean; prune?: boolean; reseal?: boolean; verbose?: boolean; exitCode?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      let text: string;
      try {
        text = readFileSync(o.file === '-' ? 0 : o.file, 'utf8');
      } catch (err) {
        throw new CliError(EXIT.USAGE, `cannot read ${o.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      const name = o.file === '-' ? '<stdin>' : o.file;
      // Loaded only for apply: other commands start faster without the YAML parser.
      const [{ formatPath, parseFleet }, { planFleet, summarize }, { renderPlan }, { executePlan }, { readBmcPasswords }] = await Promise.all([
        import('../apply/file.ts'),
        import('../apply/plan.ts'),
        import('../apply/render.ts'),
        import('../apply/execute.ts'),
        import('../apply/secrets.ts'),
      ]);
      const { fleet, locate } = parseFleet(text, name);
      const api = ctx.api();
      const current = await fetchCurrent(api, fleet);
      const plan = planFleet(fleet, current, { prune: o.prune, reseal: o.reseal });
      if (plan.problems.length > 0) {
        throw new CliError(EXIT.USAGE, `${name}: ${plan.problems.length} reference(s) cannot be resolved; nothing was changed`, {
          details: plan.problems.map((p) => `  ${locate(p.path)}: ${formatPath(p.path)}: ${p.message}`),
        });
      }
      if (o.dryRun) {
        const summary = summarize(plan.steps);
        emit(ctx, { dryRun: true, summary, steps: plan.steps.map((s) => stepJson(s)) }, () => renderPlan(plan.steps, { verbose: o.verbose }));
        if (o.exitCode && differs(summary)) throw new ExitStatus(EXIT.DIFFERS, 'the fleet differs from the file');
        return;
      }
      const secrets = readBmcPasswords(fleet, plan.steps, { baseDir: o.file === '-' ? process.cwd() : dirname(o.file), env: process.env });
      if (secrets.problems.length > 0) {
        throw new CliError(EXIT.USAGE, `${name}: ${secrets.problems.length} BMC password(s) cannot be read; nothing was changed`, {
          details: secrets.problems.map((p) => `  ${locate(p.path)}: ${formatPath(p.path)}: ${p.message}`),
        });
      }
      if (!ctx.out.json) ctx.out.stdout(renderPlan(plan.steps, { verbose: o.verbose }));
      const results = await executePlan(
        api,
        plan.steps,
        current,
        (r) => {
          if (!ctx.out.json && r.step.action !== 'unchanged') ctx.out.stdout(`${r.step.action === 'delete' ? 'deleted' : `${r.step.action}d`} ${r.step.kind} ${r.step.key}${r.id ? ` (${r.id})` : ''}`);
        },
        secrets.passwords,
      );
      const summary = summarize(plan.steps);
      emit(ctx, { dryRun: false, summary, steps: results.map((r) => stepJson(r.step, r.id)) }, () =>
        !differs(summary) ? 'Nothing to do.' : `Applied: ${summary.create} created, ${summary.update} updated, ${summary.delete} deleted, ${summary.unchanged} unchanged.`,
      );
      if (o.exitCode && differs(summary)) throw new ExitStatus(EXIT.DIFFERS, 'the fleet differed from the file');
    });
}

/** Whether applying the plan creates, updates or deletes anything. */
const differs = (s: { create: number; update: number; delete: number }): boolean => s.create + s.update + s.delete > 0;

function emit(ctx: ReturnType<typeof contextOf>, data: unknown, text: () => string) {
  ctx.out.stdout(ctx.out.json ? JSON.stringify(data, null, 2) : text());
}
