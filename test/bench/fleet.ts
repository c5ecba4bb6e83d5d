/**
 * Benchmark (not a test): a fleet of relays against one control plane (issue 16, "Measure").
 * For each runtime — the Worker in workerd with local D1, R2 and Durable Objects, and the Node
 * entry — it seeds `--sites` sites, each with one enrolled relay and `--machines` machines, then
 * runs one simulated relay per site in this process (the real sync protocol: long-poll with
 * If-None-Match, 304 → poll again, 429/503 → Retry-After) and measures:
 *
 * 1. idle cost: database round trips (`edgeboot_db_round_trips_total` from /metrics, plus the sync
 *    Durable Objects' own where exposed) per relay per minute while nothing changes;
 * 2. a change at one site (a machine's `role` label flipped, which flips its netboot): time until
 *    that site's relay has its 200 (p50/p99), how many other relays got a 200 meanwhile (should be
 *    0), and the round trips one change costs;
 * 3. boot-script requests/s (wrk, 50 connections, a random relay and one of its site's machines per
 *    request) against the trivial handler on the same runtime: the ratio is what the catalog of
 *    sites × machines costs a boot.
 *
 *   npm run bench:fleet [-- --runtimes workerd,node --sites 1000 --machines 50 --idle 60 --changes 50]
 *
 * Needs wrk, and about 3 file descriptors per relay (raised with prlimit when root). Loopback only.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { hasWrk, wrk } from './lib/wrk.ts';
import { RelayFleet } from './support/fleet-relays.ts';
import { startNode, startTrivial, startWorkerd, type RuntimeName } from './support/fleet-runtimes.ts';
import { seedFleet, type SeededSite } from './support/fleet-seed.ts';
import { cpuMark, cpuShare, readRoundTrips, totalRoundTrips } from './support/fleet-observe.ts';
import { seeded as mulberry32 } from '../relay/tftp/support/scripted-client.ts';

const { values } = parseArgs({
  options: {
    runtimes: { type: 'string', default: 'workerd,node' },
    sites: { type: 'string', default: '1000' },
    machines: { type: 'string', default: '50' },
    idle: { type: 'string', default: '60' },
    wait: { type: 'string', default: '25' },
    changes: { type: 'string', default: '50' },
    'boot-seconds': { type: 'string', default: '5' },
    'boot-rounds': { type: 'string', default: '3' },
    ramp: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    'change-budget': { type: 'string', default: '240' },
  },
});
const runtimes = values.runtimes.split(',').map((r) => r.trim()) as RuntimeName[];
const sites = Number(values.sites);
const machinesPerSite = Number(values.machines);
const idleSeconds = Number(values.idle);
const waitSeconds = Number(values.wait);
const changeCount = Number(values.changes);
const bootSeconds = Number(values['boot-seconds']);
const bootRounds = Number(values['boot-rounds']);
const rampPerSecond = Number(values.ramp);
const changeBudgetSeconds = Number(values['change-budget']);
for (const r of runtimes) if (r !== 'workerd' && r !== 'node') throw new Error(`unknown runtime ${r} (workerd, node)`);
if (!hasWrk()) {
  console.error('wrk is needed for this benchmark: apt-get install wrk');
  process.exit(2);
}


const log = (msg: string) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);

/** Each relay holds one client socket and the server one more; workerd and Node keep a few of their own. */
function ensureFileDescriptors(needed: number): void {
  const limits = readFileSync('/proc/self/limits', 'utf8');
  const soft = Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? 0);
  if (soft >= needed) return;
  try {
    // Children (workerd, the Node entry) inherit the raised limit when they start.
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${needed}`]);
  } catch (err) {
    throw new Error(`open-file limit ${soft} < ${needed} and prlimit could not raise it (${String(err)}): run \`ulimit -n ${needed}\` first`);
  }
}
ensureFileDescriptors(Math.max(4096, sites * 3 + 1024));

const quantile = (xs: number[], q: number) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
};
const median = (xs: number[]) => quantile(xs, 0.5);

interface Result {
  runtime: RuntimeName;
  seedSeconds: number;
  scrapeCost: number;
  scrapeStatements: number | null;
  syncExposed: boolean;
  idle: { roundTripsPerRelayMin: number; statementsPerRelayMin: number | null; requestsPerRelayMin: number; errors: number; cpu: ReturnType<typeof cpuShare>; seconds: number };
  changes: { done: number; latenciesMs: number[]; missed: number; othersWoken: number; roundTripsPerChange: number; statementsPerChange: number | null; patchMs: number[]; cpu: ReturnType<typeof cpuShare> };
  boot: { app: number[]; trivial: number[]; ratio: number[]; p99Ms: number[]; errors: number; cpu: ReturnType<typeof cpuShare> };
  relayErrors: Map<string, number>;
}

async function runOne(runtime: RuntimeName): Promise<Result> {
  log(`${runtime}: starting`);
  const t = runtime === 'workerd' ? await startWorkerd('ebt_fleetbenchadmintoken000000000000') : await startNode();
  const scratch = mkdtempSync(join(tmpdir(), 'edgeboot-bench-fleet-'));
  let fleet: RelayFleet | undefined;
  try {
    const seedStart = performance.now();
    log(`${runtime}: seeding ${sites} sites × ${machinesPerSite} machines, one relay each`);
    const seeded: SeededSite[] = await seedFleet(t, sites, machinesPerSite, log);
    const seedSeconds = (performance.now() - seedStart) / 1000;

    // What one /metrics read costs by itself (its gauges query the database): taken off every window.
    const s0 = await readRoundTrips(t);
    const s1 = await readRoundTrips(t);
    const scrapeCost = totalRoundTrips(s1) - totalRoundTrips(s0);
    const scrapeStatements = s0.statements === null ? null : s1.statements! - s0.statements;
    const perRelayMin = (a: number | null, b: number | null, minutes: number) => (a === null || b === null ? null : (b - a - scrapeStatements!) / sites / minutes);

    fleet = new RelayFleet(t.url, seeded.map((s) => s.relayToken), waitSeconds);
    const snapshots: { relay: number; at: number }[] = [];
    fleet.onSnapshot = (relay, at) => snapshots.push({ relay, at });
    log(`${runtime}: starting ${sites} relays (${rampPerSecond}/s)`);
    await fleet.start(rampPerSecond);
    const syncDeadline = performance.now() + 180_000;
    while (fleet.synced() < fleet.size && performance.now() < syncDeadline) await sleep(250);
    if (fleet.synced() < fleet.size) throw new Error(`${runtime}: only ${fleet.synced()}/${fleet.size} relays got a snapshot in 180 s (errors: ${[...fleet.relayErrors()].join('; ')})`);
    // Let every relay's first wait begin, then let the start-up burst drain.
    log(`${runtime}: all relays hold a snapshot; settling ${Math.min(waitSeconds, 10)} s`);
    await sleep(Math.min(waitSeconds, 10) * 1000);

    // 1. Idle.
    log(`${runtime}: idle window ${idleSeconds} s`);
    const idleOk = fleet.counts.ok;
    const idleReq = fleet.counts.requests;
    const idleErr = fleet.counts.errors;
    const c0 = cpuMark();
    const r0 = await readRoundTrips(t);
    const i0 = performance.now();
    await sleep(idleSeconds * 1000);
    const r1 = await readRoundTrips(t);
    const idleMin = (performance.now() - i0) / 60_000;
    const c1 = cpuMark();
    if (fleet.counts.ok !== idleOk) log(`${runtime}: warning: ${fleet.counts.ok - idleOk} snapshots (200) arrived while nothing changed`);
    const idle = {
      roundTripsPerRelayMin: (totalRoundTrips(r1) - totalRoundTrips(r0) - scrapeCost) / sites / idleMin,
      statementsPerRelayMin: perRelayMin(r0.statements, r1.statements, idleMin),
      requestsPerRelayMin: (fleet.counts.requests - idleReq) / sites / idleMin,
      errors: fleet.counts.errors - idleErr,
      cpu: cpuShare(c0, c1),
      seconds: idleMin * 60,
    };
    log(`${runtime}: idle: ${idle.roundTripsPerRelayMin.toFixed(2)} round trips/relay/min, ${idle.requestsPerRelayMin.toFixed(2)} sync requests/relay/min`);

    // 2. Changes at random sites, one at a time.
    log(`${runtime}: ${changeCount} changes at random sites (at most ${changeBudgetSeconds} s)`);
    const rand = mulberry32(Number(values.seed));
    const role = new Map<string, string>();
    const latencies: number[] = [];
    const patchMs: number[] = [];
    let missed = 0;
    let othersWoken = 0;
    const c2 = cpuMark();
    const r2 = await readRoundTrips(t);
    const budgetEnd = performance.now() + changeBudgetSeconds * 1000;
    let done = 0;
    for (let k = 0; k < changeCount && performance.now() < budgetEnd; k++, done++) {
      const s = Math.floor(rand() * sites);
      const m = seeded[s]!.machines[Math.floor(rand() * machinesPerSite)]!;
      const next = (role.get(m.id) ?? 'netboot') === 'netboot' ? 'spare' : 'netboot';
      role.set(m.id, next);
      const mark = snapshots.length;
      const t0 = performance.now();
      const res = await fetch(`${t.url}/v1/machines/${m.id}`, {
        method: 'PATCH',
        headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ labels: { role: next, rack: 'r0' } }),
      });
      if (!res.ok) throw new Error(`PATCH machine: ${res.status} ${await res.text()}`);
      await res.arrayBuffer();
      patchMs.push(performance.now() - t0);
      let got: number | undefined;
      const deadline = t0 + (waitSeconds + 5) * 1000;
      while (got === undefined && performance.now() < deadline) {
        got = snapshots.slice(mark).find((e) => e.relay === s)?.at;
        if (got === undefined) await sleep(5);
      }
      if (got === undefined) missed++;
      else latencies.push(got - t0);
      // Other sites' relays that got a 200 from the change until a second after (nothing else changed).
      await sleep(1000);
      othersWoken += snapshots.slice(mark).filter((e) => e.relay !== s).length;
      if ((k + 1) % 10 === 0) log(`${runtime}: ${k + 1}/${changeCount} changes, last took ${got === undefined ? 'no 200' : `${(got - t0).toFixed(0)} ms`}`);
    }
    const r3 = await readRoundTrips(t);
    const c3 = cpuMark();
    if (done < changeCount) log(`${runtime}: change budget spent after ${done} changes`);
    const changes = {
      done,
      latenciesMs: latencies,
      missed,
      othersWoken,
      roundTripsPerChange: (totalRoundTrips(r3) - totalRoundTrips(r2) - scrapeCost) / Math.max(1, done),
      statementsPerChange: r2.statements === null ? null : (r3.statements! - r2.statements - scrapeStatements!) / Math.max(1, done),
      patchMs,
      cpu: cpuShare(c2, c3),
    };
    log(`${runtime}: change → own relay p50 ${median(latencies).toFixed(0)} ms, p99 ${quantile(latencies, 0.99).toFixed(0)} ms, missed ${missed}, other relays woken ${othersWoken}`);
    const relayErrors = fleet.relayErrors();
    await fleet.stop();
    fleet = undefined;

    // 3. Boot scripts with the whole catalog in place (relays stopped: this is the boot path alone).
    const boot = { app: [] as number[], trivial: [] as number[], ratio: [] as number[], p99Ms: [] as number[], errors: 0, cpu: cpuShare(cpuMark(), cpuMark()) };
    if (bootRounds > 0) {
      log(`${runtime}: boot-script rounds (${bootRounds} × ${bootSeconds} s, app and trivial)`);
      const sample = seeded[0]!;
      const check = await fetch(`${t.url}/v1/relay/boot?mac=${sample.machines[1]!.mac}&arch=7&fileBase=http://127.0.0.1:8080`, { headers: { authorization: `Bearer ${sample.relayToken}` } });
      const checkText = await check.text();
      if (check.headers.get('x-edgeboot-decision') !== 'boot') throw new Error(`boot check: ${check.status} ${check.headers.get('x-edgeboot-decision')}\n${checkText.slice(0, 300)}`);
      const lua = join(scratch, 'boots.lua');
      const pairs = seeded.flatMap((s) => s.machines.map((m) => `{"${s.relayToken}","${m.mac}"}`));
      writeFileSync(
        lua,
        `local pairs = {${pairs.join(',')}}\n` +
          'request = function()\n  local p = pairs[math.random(#pairs)]\n' +
          '  return wrk.format("GET", "/v1/relay/boot?arch=7&fileBase=http://127.0.0.1:8080&mac=" .. p[2], { ["Authorization"] = "Bearer " .. p[1] })\nend\n',
      );
      const trivial = await startTrivial(runtime);
      try {
        await wrk(t.url, { connections: 50, seconds: 1, script: lua });
        await wrk(trivial.url, { connections: 50, seconds: 1 });
        const c4 = cpuMark();
        for (let round = 0; round < bootRounds; round++) {
          const a = await wrk(t.url, { connections: 50, seconds: bootSeconds, script: lua });
          const b = await wrk(trivial.url, { connections: 50, seconds: bootSeconds });
          boot.app.push(a.requestsPerSec);
          boot.trivial.push(b.requestsPerSec);
          boot.ratio.push(a.requestsPerSec / b.requestsPerSec);
          boot.p99Ms.push(a.p99Ms);
          boot.errors += a.errors + b.errors;
          log(`${runtime}: boot round ${round + 1}: ${a.requestsPerSec.toFixed(0)} req/s vs trivial ${b.requestsPerSec.toFixed(0)} (ratio ${(a.requestsPerSec / b.requestsPerSec).toFixed(3)})`);
        }
        boot.cpu = cpuShare(c4, cpuMark());
      } finally {
        await trivial.dispose();
      }
    }
    return { runtime, seedSeconds, scrapeCost, scrapeStatements, syncExposed: r1.sync !== null, idle, changes, boot, relayErrors };
  } finally {
    await fleet?.stop();
    await t.dispose();
    rmSync(scratch, { recursive: true, force: true });
  }
}

const results: Result[] = [];
for (const r of runtimes) results.push(await runOne(r));

const col = (xs: string[]) => xs.map((x) => x.padStart(14)).join('');
const line = (label: string, f: (r: Result) => string) => console.log(`${label.padEnd(52)}${col(results.map(f))}`);
const fx = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : '—');
console.log(`\nfleet: ${sites} sites × ${machinesPerSite} machines, one relay each (GET /v1/relay/sync?wait=${waitSeconds}), idle ${idleSeconds} s, ${changeCount} changes`);
console.log(`${''.padEnd(52)}${col(results.map((r) => r.runtime))}`);
line('seed (s)', (r) => fx(r.seedSeconds, 0));
line('idle: db round trips / relay / minute', (r) => fx(r.idle.roundTripsPerRelayMin, 3));
line('idle: db round trips / s, whole fleet', (r) => fx((r.idle.roundTripsPerRelayMin * sites) / 60, 1));
line('  sync Durable Objects\' own counted in (workerd)', (r) => (r.runtime !== 'workerd' ? '' : r.syncExposed ? 'yes' : 'none'));
line('idle: SQL statements / relay / minute (Node, all)', (r) => (r.idle.statementsPerRelayMin === null ? '' : fx(r.idle.statementsPerRelayMin, 3)));
line('idle: sync requests / relay / minute', (r) => fx(r.idle.requestsPerRelayMin));
line('idle: relay errors', (r) => String(r.idle.errors));
line('changes made', (r) => String(r.changes.done));
line('change → own relay 200, p50 ms', (r) => fx(median(r.changes.latenciesMs), 0));
line('change → own relay 200, p99 ms', (r) => fx(quantile(r.changes.latenciesMs, 0.99), 0));
line('change: PATCH itself, p50 ms', (r) => fx(median(r.changes.patchMs), 0));
line(`changes missed (no 200 within ${waitSeconds + 5} s)`, (r) => String(r.changes.missed));
line('other sites\' relays woken (200), all changes', (r) => String(r.changes.othersWoken));
line('db round trips per change (idle cost included)', (r) => fx(r.changes.roundTripsPerChange, 1));
line('SQL statements per change (Node, all)', (r) => (r.changes.statementsPerChange === null ? '' : fx(r.changes.statementsPerChange, 1)));
line('boot script req/s (50 conns, median)', (r) => fx(median(r.boot.app), 0));
line('trivial handler req/s (median)', (r) => fx(median(r.boot.trivial), 0));
line('ratio boot / trivial (median of rounds)', (r) => fx(median(r.boot.ratio), 3));
line('boot p99 ms (median of rounds)', (r) => fx(median(r.boot.p99Ms), 1));
line('wrk errors', (r) => String(r.boot.errors));
line('host CPU busy % idle | changes | boot', (r) => `${fx(r.idle.cpu.hostPct, 0)}|${fx(r.changes.cpu.hostPct, 0)}|${fx(r.boot.cpu.hostPct, 0)}`);
line('  of which others (not this bench) %', (r) => `${fx(r.idle.cpu.othersPct, 0)}|${fx(r.changes.cpu.othersPct, 0)}|${fx(r.boot.cpu.othersPct, 0)}`);
for (const r of results) {
  if (r.relayErrors.size) console.log(`${r.runtime} relay errors: ${[...r.relayErrors].map(([k, v]) => `${v}× ${k}`).join('; ')}`);
}
console.log(`(one /metrics read costs ${results.map((r) => `${r.runtime} ${r.scrapeCost}${r.scrapeStatements === null ? '' : ` (${r.scrapeStatements} statements)`}`).join(', ')} round trips, taken off; host CPU = 2 cores shared)`);
