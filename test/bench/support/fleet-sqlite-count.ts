/**
 * Preloaded into the Node entry by the fleet benchmark (`node --import <this> cloud/src/entry/node.ts`):
 * counts every SQL statement the process executes through node:sqlite, whoever runs it (the routes,
 * the sync hub, the webhook loop), so the benchmark does not depend on which counters the control
 * plane chooses to expose. The SQLite adapter's own bookkeeping queries (`SELECT total_changes()` /
 * `changes()` around a batch's writes) are left out; BEGIN/COMMIT through `exec` are counted apart.
 *
 * The count is served on a side port of loopback, announced on stdout as
 * `fleet-bench sqlite counter on http://127.0.0.1:<port>`.
 */
import { createServer } from 'node:http';
import { DatabaseSync, StatementSync } from 'node:sqlite';

const counts = { statements: 0, exec: 0 };
const BOOKKEEPING = /^SELECT (total_)?changes\(\) AS n$/;

for (const method of ['all', 'get', 'run', 'iterate'] as const) {
  const original = StatementSync.prototype[method] as (...args: unknown[]) => unknown;
  (StatementSync.prototype as unknown as Record<string, unknown>)[method] = function (this: StatementSync, ...args: unknown[]) {
    if (!BOOKKEEPING.test(this.sourceSQL)) counts.statements++;
    return original.apply(this, args);
  };
}
const exec = DatabaseSync.prototype.exec;
DatabaseSync.prototype.exec = function (this: DatabaseSync, sql: string) {
  counts.exec++;
  return exec.call(this, sql);
};

const server = createServer((_req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(counts));
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address && typeof address === 'object') console.log(`fleet-bench sqlite counter on http://127.0.0.1:${address.port}`);
});
server.unref();
