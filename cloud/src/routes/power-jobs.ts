import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { newId } from '../../../shared/ids.ts';
import { isRelayPublicKey } from '../../../shared/crypto/seal.ts';
import { Bmc, BmcRecipients, BmcSet, DEFAULT_JOB_DEADLINE_S, PowerJob, PowerJobCreate, PowerJobReport, RelayPowerJobs, SealKey, type RelayPowerJob } from '../../../shared/schemas/bmc.ts';
import { auditOk } from '../audit.ts';
import { assertRead, assertWrite, type Principal } from '../auth/principal.ts';
import type { AppEnv } from '../context.ts';
import { AppError, notFound } from '../errors.ts';
import { sql, type SqlDatabase } from '../ports/sql-database.ts';
import { sqlPowerJobQueue, type PowerJobQueue, type PowerJobRow } from '../power/job-queue.ts';
import { auditRow, timelineRow, toPowerJob } from '../power/job-records.ts';
import { siteSyncOf } from '../sync/site-sync.ts';
import { iso } from '../time.ts';
import { findMachine, type MachineRow } from './machine-lookup.ts';
import { body, errorResponses, IdParams, json, router } from './openapi.ts';

/**
 * Machines' BMCs and power jobs (issue 15). People set a BMC with its password sealed to each relay of
 * the machine's site and ask for power actions; the site's relay takes the jobs on a long-poll, runs
 * them against the BMC and reports back. The queue is behind a port (power/job-queue.ts).
 */

const MachineParams = z.object({ idOrMac: z.string().min(1).max(64) });
/** The relay's long-poll bound, as for the snapshot's (relay-sync.ts). */
const MAX_WAIT_SECONDS = 30;
const MAX_CLAIM = 16;

interface BmcRow {
  machine_id: string;
  protocol: 'ipmi' | 'redfish';
  address: string;
  username: string;
  system_id: string | null;
  tls_fingerprint: string | null;
  updated_at: number;
}

const queueOf = (c: Context<AppEnv>): PowerJobQueue => sqlPowerJobQueue(c.get('deps').db);

async function machineFor(db: SqlDatabase, p: Principal, idOrMac: string, write: boolean): Promise<MachineRow & { site_id: string }> {
  const m = await findMachine(db, idOrMac);
  if (!m) throw notFound('machine');
  if (write) assertWrite(p, m.site_id, 'machine');
  else assertRead(p, m.site_id, 'machine');
  if (m.site_id === null) throw new AppError('conflict', 'the machine has no site, so no relay can reach its BMC: set its site first');
  return m as MachineRow & { site_id: string };
}

/** Relays of the site that can receive sealed credentials: enrolled, not revoked, with a public key. */
async function recipients(db: SqlDatabase, siteId: string) {
  return db.all<{ id: string; name: string; seal_public_key: string }>(
    sql('SELECT id, name, seal_public_key FROM relays WHERE site_id = ? AND revoked_at IS NULL AND seal_public_key IS NOT NULL ORDER BY id', siteId),
  );
}

async function bmcView(db: SqlDatabase, m: MachineRow & { site_id: string }): Promise<Bmc | null> {
  const row = await db.first<BmcRow>(sql('SELECT * FROM machine_bmcs WHERE machine_id = ?', m.id));
  if (!row) return null;
  const sealed = await db.all<{ relay_id: string }>(sql('SELECT relay_id FROM bmc_credentials WHERE machine_id = ? ORDER BY relay_id', m.id));
  const live = await db.all<{ id: string }>(sql('SELECT id FROM relays WHERE site_id = ? AND revoked_at IS NULL ORDER BY id', m.site_id));
  const have = new Set(sealed.map((s) => s.relay_id));
  return {
    machineId: m.id,
    protocol: row.protocol,
    address: row.address,
    username: row.username,
    systemId: row.system_id,
    tlsFingerprint: row.tls_fingerprint,
    sealedFor: [...have],
    missingFor: live.map((r) => r.id).filter((id) => !have.has(id)),
    updatedAt: iso(row.updated_at),
  };
}

/** Ends overdue jobs and writes their timeline stage and audit row (the cloud is the actor). */
async function expireOverdue(c: Context<AppEnv>, siteId?: string): Promise<void> {
  const { db, clock } = c.get('deps');
  const now = clock.now();
  const ended = await queueOf(c).expire(now, siteId);
  if (ended.length === 0) return;
  await db.batch(ended.flatMap((j) => [timelineRow(j, now), auditRow(j, now, 'cloud', c.get('requestId'))]));
}

const tags = ['machines'];

/** People's side, mounted at /v1/machines: a machine's BMC and its power jobs. */
export function machinePowerRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'get',
        path: '/{idOrMac}/bmc/recipients',
        tags,
        summary: "The public keys to seal this machine's BMC password to: one per relay of its site",
        request: { params: MachineParams },
        responses: { 200: json(BmcRecipients), ...errorResponses },
      }),
      async (c) => {
        const { db } = c.get('deps');
        const m = await machineFor(db, c.get('principal')!, c.req.valid('param').idOrMac, false);
        const rows = await recipients(db, m.site_id);
        return c.json({ machineId: m.id, siteId: m.site_id, relays: rows.map((r) => ({ relayId: r.id, name: r.name, publicKey: r.seal_public_key })) }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{idOrMac}/bmc',
        tags,
        summary: "A machine's BMC (address, protocol, user; the sealed password is never returned)",
        request: { params: MachineParams },
        responses: { 200: json(Bmc), ...errorResponses },
      }),
      async (c) => {
        const { db } = c.get('deps');
        const m = await machineFor(db, c.get('principal')!, c.req.valid('param').idOrMac, false);
        const view = await bmcView(db, m);
        if (!view) throw notFound('BMC');
        return c.json(view, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'put',
        path: '/{idOrMac}/bmc',
        tags,
        summary: "Set a machine's BMC, with the password sealed to each relay of its site (admin, or the site's operator)",
        request: { params: MachineParams, body: body(BmcSet) },
        responses: { 200: json(Bmc), 409: json(z.object({}), 'a credential is sealed for a relay that is not of this site'), ...errorResponses },
      }),
      async (c) => {
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const p = c.get('principal')!;
        const m = await machineFor(db, p, c.req.valid('param').idOrMac, true);
        const site = new Map((await recipients(db, m.site_id)).map((r) => [r.id, r]));
        const seen = new Set<string>();
        for (const cred of input.credentials) {
          if (!site.has(cred.relayId)) throw new AppError('conflict', `relay ${cred.relayId} is not a live relay of site ${m.site_id} with a sealing key`);
          if (seen.has(cred.relayId)) throw new AppError('validation_failed', `two credentials for relay ${cred.relayId}`);
          seen.add(cred.relayId);
        }
        const now = clock.now();
        await db.batch([
          sql(
            `INSERT INTO machine_bmcs (machine_id, protocol, address, username, system_id, tls_fingerprint, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (machine_id) DO UPDATE SET protocol = excluded.protocol, address = excluded.address, username = excluded.username,
               system_id = excluded.system_id, tls_fingerprint = excluded.tls_fingerprint, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
            m.id,
            input.protocol,
            input.address,
            input.username,
            input.systemId ?? null,
            input.tlsFingerprint ?? null,
            now,
            p.tokenId,
          ),
          // A new password replaces every old ciphertext: relays not given one lose theirs.
          sql('DELETE FROM bmc_credentials WHERE machine_id = ?', m.id),
          ...input.credentials.map((cred) => sql('INSERT INTO bmc_credentials (machine_id, relay_id, sealed, created_at) VALUES (?, ?, ?, ?)', m.id, cred.relayId, cred.sealed, now)),
          auditOk(c, m.id, m.site_id),
        ]);
        return c.json((await bmcView(db, m))!, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'delete',
        path: '/{idOrMac}/bmc',
        tags,
        summary: "Forget a machine's BMC and every sealed credential for it",
        request: { params: MachineParams },
        responses: { 204: { description: 'deleted' }, ...errorResponses },
      }),
      async (c) => {
        const { db } = c.get('deps');
        const m = await machineFor(db, c.get('principal')!, c.req.valid('param').idOrMac, true);
        const [res] = await db.batch([sql('DELETE FROM machine_bmcs WHERE machine_id = ?', m.id), sql('DELETE FROM bmc_credentials WHERE machine_id = ?', m.id)]);
        if (res!.changes === 0) throw notFound('BMC');
        await db.batch([auditOk(c, m.id, m.site_id, 204)]);
        return c.body(null, 204);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/{idOrMac}/power',
        tags,
        summary: "Queue a power job (on, off, cycle, status, reprovision) for the site's relay to run against the BMC",
        request: { params: MachineParams, body: body(PowerJobCreate) },
        responses: { 202: json(PowerJob, 'queued'), 409: json(z.object({}), 'the machine has no BMC'), ...errorResponses },
      }),
      async (c) => {
        const input = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const p = c.get('principal')!;
        const m = await machineFor(db, p, c.req.valid('param').idOrMac, true);
        if (!(await db.first(sql('SELECT 1 AS x FROM machine_bmcs WHERE machine_id = ?', m.id)))) {
          throw new AppError('conflict', `machine ${m.id} has no BMC: set one with \`edgeboot machines bmc set\``);
        }
        await expireOverdue(c, m.site_id);
        const now = clock.now();
        const job: PowerJobRow = {
          id: newId('powerJob', now),
          machine_id: m.id,
          site_id: m.site_id,
          action: input.action,
          state: 'queued',
          created_at: now,
          created_by: p.tokenId,
          deadline_at: now + (input.deadlineSeconds ?? DEFAULT_JOB_DEADLINE_S) * 1000,
          relay_id: null,
          claimed_at: null,
          finished_at: null,
          power_state: null,
          error: null,
          duration_ms: null,
          detail: null,
        };
        await queueOf(c).enqueue(
          { id: job.id, machineId: job.machine_id, siteId: job.site_id, action: job.action, createdAt: now, createdBy: p.tokenId, deadlineAt: job.deadline_at },
          [auditOk(c, job.id, m.site_id, 202)],
        );
        // Committed: the site's waiting relays take it now instead of at their next poll.
        await siteSyncOf(c.get('deps'))?.jobsQueued(m.site_id);
        return c.json(toPowerJob(job), 202);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/{idOrMac}/power-jobs',
        tags,
        summary: "A machine's last power jobs, newest first",
        request: { params: MachineParams, query: z.strictObject({ limit: z.coerce.number().int().min(1).max(100).default(20) }) },
        responses: { 200: json(z.object({ items: z.array(PowerJob) })), ...errorResponses },
      }),
      async (c) => {
        const { db } = c.get('deps');
        const m = await machineFor(db, c.get('principal')!, c.req.valid('param').idOrMac, false);
        await expireOverdue(c, m.site_id);
        const rows = await db.all<PowerJobRow>(sql('SELECT * FROM power_jobs WHERE machine_id = ? ORDER BY created_at DESC, id DESC LIMIT ?', m.id, c.req.valid('query').limit));
        return c.json({ items: rows.map(toPowerJob) }, 200);
      },
    );
}

/** Mounted at /v1/power-jobs. */
export function powerJobRoutes() {
  return router().openapi(
    createRoute({
      method: 'get',
      path: '/{id}',
      tags,
      summary: 'One power job (poll it until it is succeeded, failed or expired)',
      request: { params: IdParams },
      responses: { 200: json(PowerJob), ...errorResponses },
    }),
    async (c) => {
      const q = queueOf(c);
      const first = await q.get(c.req.valid('param').id);
      if (!first) throw notFound('power job');
      assertRead(c.get('principal')!, first.site_id, 'power job');
      await expireOverdue(c, first.site_id);
      return c.json(toPowerJob((await q.get(first.id))!), 200);
    },
  );
}

const relayTags = ['relay'];

/** The relay's side, mounted at /v1/relay. */
export function relayPowerRoutes() {
  return router()
    .openapi(
      createRoute({
        method: 'put',
        path: '/seal-key',
        tags: relayTags,
        summary: "Register the relay's X25519 public key for sealed BMC credentials, once (relay token)",
        request: { body: body(SealKey) },
        responses: { 200: json(SealKey), 409: json(z.object({}), 'the relay already has another key: re-enroll it'), ...errorResponses },
      }),
      async (c) => {
        const { publicKey } = c.req.valid('json');
        if (!isRelayPublicKey(publicKey)) throw new AppError('validation_failed', 'not a 32-byte X25519 public key');
        const { db } = c.get('deps');
        const relayId = c.get('principal')!.relayId!;
        // Set once: a changed key would silently orphan every credential sealed to the old one.
        await db.batch([sql('UPDATE relays SET seal_public_key = ? WHERE id = ? AND seal_public_key IS NULL', publicKey, relayId)]);
        const row = await db.first<{ seal_public_key: string | null }>(sql('SELECT seal_public_key FROM relays WHERE id = ?', relayId));
        if (!row) throw notFound('relay');
        if (row.seal_public_key !== publicKey) {
          throw new AppError('conflict', 'this relay registered another sealing key earlier (its state dir was replaced?): re-enroll it, then set its machines\' BMCs again');
        }
        return c.json({ publicKey }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'get',
        path: '/power-jobs',
        tags: relayTags,
        summary: "Take up to `max` queued power jobs of the relay's site; with `wait`, hold until one is queued (relay token)",
        request: {
          query: z.strictObject({
            wait: z.coerce.number().int().min(0).max(MAX_WAIT_SECONDS).default(0),
            max: z.coerce.number().int().min(1).max(MAX_CLAIM).default(4),
          }),
        },
        responses: { 200: json(RelayPowerJobs), ...errorResponses },
      }),
      async (c) => {
        const { wait, max } = c.req.valid('query');
        const { db, clock } = c.get('deps');
        const p = c.get('principal')!;
        const siteId = p.siteIds![0]!;
        const relayId = p.relayId!;
        const q = queueOf(c);
        await expireOverdue(c, siteId);
        const hub = siteSyncOf(c.get('deps'));
        // Without a hub (an app built by hand) the relay's wait is not held: it claims what is queued now.
        if (wait > 0 && hub) await hub.waitForJobs(siteId, wait * 1000);
        const claimed = await q.claim(siteId, relayId, max, clock.now());
        // One read for every claimed job's machine, BMC and the credential sealed to this relay.
        const rows = claimed.length === 0
          ? []
          : await db.all<{ machine_id: string; mac: string; sealed: string | null } & Partial<Omit<BmcRow, 'machine_id'>>>(
              sql(
                `SELECT m.id AS machine_id, m.mac, b.protocol, b.address, b.username, b.system_id, b.tls_fingerprint, cr.sealed
                   FROM machines m
                   LEFT JOIN machine_bmcs b ON b.machine_id = m.id
                   LEFT JOIN bmc_credentials cr ON cr.machine_id = m.id AND cr.relay_id = ?
                  WHERE m.id IN (SELECT value FROM json_each(?))`,
                relayId,
                JSON.stringify([...new Set(claimed.map((j) => j.machine_id))]),
              ),
            );
        const byMachine = new Map(rows.map((r) => [r.machine_id, r]));
        const jobs: RelayPowerJob[] = claimed.map((j) => {
          const r = byMachine.get(j.machine_id);
          return {
            id: j.id,
            machineId: j.machine_id,
            mac: r?.mac ?? '',
            action: j.action,
            deadlineAt: iso(j.deadline_at),
            bmc: r?.protocol ? { protocol: r.protocol, address: r.address!, username: r.username!, systemId: r.system_id ?? null, tlsFingerprint: r.tls_fingerprint ?? null, sealed: r.sealed ?? null } : null,
          };
        });
        c.header('cache-control', 'no-store');
        return c.json({ jobs }, 200);
      },
    )
    .openapi(
      createRoute({
        method: 'post',
        path: '/power-jobs/{id}/result',
        tags: relayTags,
        summary: 'Report the outcome of a power job this relay took (relay token)',
        request: { params: IdParams, body: body(PowerJobReport) },
        responses: { 200: json(PowerJob), 409: json(z.object({}), 'the job is not running for this relay (already reported, expired)'), ...errorResponses },
      }),
      async (c) => {
        const report = c.req.valid('json');
        const { db, clock } = c.get('deps');
        const p = c.get('principal')!;
        const q = queueOf(c);
        const job = await q.get(c.req.valid('param').id);
        // Another site's job is not confirmed to exist.
        if (!job || job.site_id !== p.siteIds![0]) throw notFound('power job');
        const now = clock.now();
        if (!(await q.finish(job.id, p.relayId!, report, now))) {
          throw new AppError('conflict', `power job ${job.id} is ${job.state}${job.relay_id && job.relay_id !== p.relayId ? ` (taken by relay ${job.relay_id})` : ''}: nothing to report`);
        }
        const done = (await q.get(job.id))!;
        await db.batch([timelineRow(done, now), auditRow(done, now, p.tokenId, c.get('requestId'))]);
        return c.json(toPowerJob(done), 200);
      },
    );
}
