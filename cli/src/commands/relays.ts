import { readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Command } from 'commander';
import type { Relay } from '../../../shared/schemas/access.ts';
import { SignedRelease } from '../../../shared/release/statement.ts';
import { contextOf } from '../context.ts';
import { namesOf } from '../names.ts';
import { emit, formatAgo, formatFields, formatTable, formatTime } from '../output.ts';
import { parseDuration } from '../parse.ts';
import { resolveRelay, resolveSite } from '../resolve.ts';

/** Relays heartbeat every minute (relay/src/sync/heartbeat.ts): three missed ones mean trouble. */
const ONLINE_WITHIN_MS = 3 * 60_000;

/** Where a relay stands with updates, in one cell: `updated 0.2.0`, `refused 0.3.0: why`, or `—`. */
export function updateCell(r: Pick<Relay, 'update'>): string | null {
  const u = r.update;
  if (!u) return null;
  return `${u.state} ${u.version}${u.reason ? `: ${u.reason}` : ''}`;
}

/** The command a technician pastes on the site box. */
export function installCommand(cloudUrl: string, code: string): string {
  return `curl -fsSL ${cloudUrl.replace(/\/$/, '')}/v1/relays/install.sh | sudo sh -s -- --code ${code}`;
}

/** A relay's health as one word, from its last heartbeat. */
export function relayHealth(r: Pick<Relay, 'revokedAt' | 'lastSeenAt'>, now: number): 'revoked' | 'online' | 'stale' | 'never seen' {
  if (r.revokedAt) return 'revoked';
  // Enrolled but never ran (or never reached the cloud): "enrolled, never seen" in the long form.
  if (!r.lastSeenAt) return 'never seen';
  return now - Date.parse(r.lastSeenAt) <= ONLINE_WITHIN_MS ? 'online' : 'stale';
}

/** One LAN as one line: `eth0 10.0.0.0/24 dhcp 10.0.0.100–10.0.0.149`, `(relayed)` when reached through a relay agent. */
export function lanLine(l: NonNullable<Relay['lans']>[number]): string {
  return [l.interface ?? '-', l.subnet, l.mode, ...(l.range ? [`${l.range[0]}–${l.range[1]}`] : []), ...(l.relayed ? ['(relayed)'] : [])].join(' ');
}

/**
 * What the table has no room for: each relay's LANs, and every conflict the cloud found between
 * relays of one site (shared/relay-conflicts.ts), one line each; '' when there is neither.
 */
export function lansAndConflicts(relays: readonly Relay[]): string {
  const withLans = relays.filter((r) => r.lans && r.lans.length > 0);
  const conflicted = relays.filter((r) => r.conflicts.length > 0);
  const parts: string[] = [];
  if (withLans.length > 0) parts.push(['LANs:', ...withLans.flatMap((r) => r.lans!.map((l) => `  ${r.name}  ${lanLine(l)}`))].join('\n'));
  if (conflicted.length > 0) {
    parts.push(['conflicts:', ...conflicted.flatMap((r) => r.conflicts.map((c) => `  ${r.name} ↔ ${c.relayName}  ${c.subnet}: ${c.reason}`))].join('\n'));
  }
  return parts.join('\n\n');
}

export function relaysCommand(): Command {
  const cmd = new Command('relays').description('the on-prem relays of each site: enrollment codes, health, revocation');

  cmd
    .command('list')
    .alias('ls')
    .description('list relays with their health (last heartbeat, version, address), then their LANs and conflicts between them')
    .option('--site <site>', 'only this site (name or id)')
    .option('--all', 'include revoked relays')
    .action(async (o: { site?: string; all?: boolean }, c: Command) => {
      const ctx = contextOf(c);
      const siteId = o.site ? (await resolveSite(ctx.api(), o.site)).id : undefined;
      const relays = (await ctx.api().list<Relay>('/v1/relays', { siteId })).filter((r) => o.all || !r.revokedAt);
      const siteName = await namesOf(ctx.api(), '/v1/sites');
      const now = ctx.out.now();
      const table = (rows: Relay[]) =>
        formatTable(
          rows,
          [
            { header: 'name', value: (r) => r.name },
            { header: 'id', value: (r) => r.id },
            { header: 'site', value: (r) => siteName(r.siteId) },
            { header: 'health', value: (r) => relayHealth(r, now) },
            { header: 'last seen', value: (r) => formatAgo(r.lastSeenAt, now) },
            { header: 'version', value: (r) => r.version },
            { header: 'desired', value: (r) => r.desiredVersion ?? null },
            { header: 'update', value: (r) => updateCell(r) },
            { header: 'address', value: (r) => r.address },
          ],
          '(no relays)',
        );
      emit(ctx.out, relays, (rows) => [table(rows), lansAndConflicts(rows)].filter(Boolean).join('\n\n'));
    });

  cmd
    .command('show')
    .description('one relay')
    .argument('<relay>', 'relay id (or name, when only one relay has it)')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const r = await resolveRelay(ctx.api(), ref);
      const siteName = await namesOf(ctx.api(), '/v1/sites');
      const now = ctx.out.now();
      emit(ctx.out, r, () =>
        formatFields([
          ['name', r.name],
          ['id', r.id],
          ['site', `${siteName(r.siteId)} (${r.siteId})`],
          ['health', relayHealth(r, now)],
          ['last seen', `${formatTime(r.lastSeenAt)} (${formatAgo(r.lastSeenAt, now)})`],
          ['version', r.version],
          ['desired version', r.desiredVersion ?? null],
          ['update', updateCell(r)],
          ['address', r.address],
          ['enrolled', formatTime(r.createdAt)],
          ['revoked', formatTime(r.revokedAt)],
          ['LANs', r.lans === null ? 'never reported' : r.lans.length === 0 ? 'none' : r.lans.map(lanLine).join('; ')],
          ['conflicts', r.conflicts.length === 0 ? 'none' : r.conflicts.map((x) => `${x.relayName} (${x.relayId}) ${x.subnet}: ${x.reason}`).join('; ')],
        ]),
      );
    });

  cmd
    .command('enroll-code')
    .alias('code')
    .description('create a one-time code that enrolls one relay in a site (shown only once)')
    .argument('<site>', 'site name or id')
    .option('--expires <duration>', 'lifetime: 60s to 24h (e.g. 15m, 2h); default 1h', parseDuration)
    .addHelpText('after', '\nOn the site box (Debian or Ubuntu, as root): curl -fsSL CLOUD/v1/relays/install.sh | sudo sh -s -- --code CODE\nwhere the relay is already installed: edgeboot-relay enroll --cloud URL --code CODE')
    .action(async (ref: string, o: { expires?: number }, c: Command) => {
      const ctx = contextOf(c);
      const site = await resolveSite(ctx.api(), ref);
      const code = await ctx.api().post<{ code: string; siteId: string; expiresAt: string }>(
        `/v1/sites/${site.id}/enrollment-codes`,
        o.expires === undefined ? {} : { expiresInSeconds: o.expires },
      );
      emit(ctx.out, code, (x) =>
        [
          `enrollment code for site ${site.name}: ${x.code}`,
          `expires ${formatTime(x.expiresAt)}; it works once and is not shown again.`,
          'on the site box (Debian or Ubuntu), paste:',
          `  ${installCommand(ctx.api().url, x.code)}`,
          `or, where the relay is installed already: edgeboot-relay enroll --cloud ${ctx.api().url} --code ${x.code}`,
        ].join('\n'),
      );
    });

  cmd
    .command('publish')
    .description('publish a relay release (admin): an artifact from `npm run package:relay`, with its .sig.json beside it')
    .argument('<artifact>', 'dist/edgeboot-relay-<version>-linux-x64 or dist/edgeboot-relay_<version>_amd64.deb')
    .action(async (artifact: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const s = SignedRelease.parse(JSON.parse(readFileSync(`${artifact}.sig.json`, 'utf8')));
      if (statSync(artifact).size !== s.bytes) throw new Error(`${artifact} has ${statSync(artifact).size} bytes, its signature says ${s.bytes}`);
      // Executables travel gzip-compressed (a third of the size, under Workers' 100 MB request limit).
      const raw = readFileSync(artifact);
      const body = s.kind === 'executable' ? gzipSync(raw, { level: 6 }) : raw;
      const res = await ctx.api().request<{ version: string; arch: string; kind: string; storedBytes: number }>('PUT', `/v1/relay-releases/${s.version}/${s.arch}/${s.kind}`, {
        query: { bytes: String(s.bytes), sha256: s.sha256, keyId: s.keyId, signature: s.signature },
        body: new Uint8Array(body),
        headers: { 'content-type': 'application/octet-stream' },
      });
      emit(ctx.out, res, (x) => `published relay ${x.version} ${x.arch} ${x.kind} (${x.storedBytes} bytes stored)`);
    });

  cmd
    .command('desired')
    .description('choose the relay release sites run: fleet-wide, or pinned for one site (--site); "none" clears')
    .argument('<version>', 'a published version, or "none"')
    .option('--site <site>', 'pin this site (name or id) instead of choosing for the fleet')
    .action(async (version: string, o: { site?: string }, c: Command) => {
      const ctx = contextOf(c);
      const siteId = o.site ? (await resolveSite(ctx.api(), o.site)).id : undefined;
      const res = await ctx.api().request<{ fleet: string | null; sites: { siteId: string; version: string }[] }>('PUT', '/v1/relay-releases/desired', {
        json: { version: version === 'none' ? null : version, ...(siteId ? { siteId } : {}) },
      });
      const siteName = await namesOf(ctx.api(), '/v1/sites');
      emit(ctx.out, res, (x) => [`fleet: ${x.fleet ?? '(none)'}`, ...x.sites.map((p) => `pinned: ${siteName(p.siteId)} → ${p.version}`)].join('\n'));
    });

  cmd
    .command('revoke')
    .description('revoke a relay and its token: it can no longer sync or boot machines')
    .argument('<relay>', 'relay id (or name, when only one relay has it)')
    .action(async (ref: string, _o, c: Command) => {
      const ctx = contextOf(c);
      const r = await resolveRelay(ctx.api(), ref);
      await ctx.api().delete(`/v1/relays/${r.id}`);
      emit(ctx.out, { revoked: r.id }, () => `revoked relay ${r.name} (${r.id})`);
    });

  return cmd;
}
