/**
 * A plan as people review it (the `--dry-run` output, and what `apply` prints before it acts):
 * grouped by kind, one line per object with its action, and for creates and updates the fields
 * that change, old → new, in the file's terms.
 */
import { summarize, type FieldChange, type Kind, type Step } from './plan.ts';

const SYMBOL = { create: '+', update: '~', delete: '-', unchanged: '=' } as const;
const TITLE: Record<Kind, string> = { profile: 'profiles', site: 'sites', machine: 'machines', bmc: 'BMCs', assignment: 'assignments' };
const ORDER: Kind[] = ['profile', 'site', 'machine', 'bmc', 'assignment'];

const show = (v: unknown): string => (v === null || v === undefined ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));

export function formatChange(c: FieldChange, action: Step['action']): string {
  return action === 'create' ? `${c.field}: ${show(c.to)}` : `${c.field}: ${show(c.from)} → ${show(c.to)}`;
}

export function renderPlan(steps: readonly Step[], opts: { verbose?: boolean } = {}): string {
  const lines: string[] = [];
  for (const kind of ORDER) {
    const mine = steps.filter((s) => s.kind === kind && (opts.verbose || s.action !== 'unchanged'));
    const unchanged = steps.filter((s) => s.kind === kind && s.action === 'unchanged').length;
    if (mine.length === 0 && unchanged === 0) continue;
    lines.push(`${TITLE[kind]}:`);
    for (const s of mine) {
      lines.push(`  ${SYMBOL[s.action]} ${s.action.padEnd(9)} ${s.key}`);
      for (const c of s.changes) lines.push(`      ${formatChange(c, s.action)}`);
    }
    if (!opts.verbose && unchanged > 0) lines.push(`  = ${unchanged} unchanged`);
  }
  lines.push(summaryLine(steps));
  return lines.join('\n');
}

export function summaryLine(steps: readonly Step[]): string {
  const s = summarize(steps);
  if (s.create + s.update + s.delete === 0) return `No changes: ${s.unchanged} object(s) already as the file says.`;
  return `Plan: ${s.create} to create, ${s.update} to update, ${s.delete} to delete, ${s.unchanged} unchanged.`;
}
