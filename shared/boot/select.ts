/**
 * Which assignment applies to a machine: a pure function, so the cloud (API, boot decisions) and the
 * relay (offline snapshot) pick the same winner from the same data. After matchbox's SelectGroup:
 * the most specific selector wins, and every tie is broken deterministically.
 */

/** What a selector can name. MACs are canonical (normalised at the API boundary). */
export interface SelectorFields {
  machineId?: string;
  mac?: string;
  siteId?: string;
  labels?: Record<string, string>;
  arch?: string;
}

/** The machine being decided for. */
export interface MachineFacts {
  id: string;
  mac: string;
  siteId: string | null;
  labels: Record<string, string>;
  arch: string | null;
}

export interface Selectable {
  id: string;
  selector: SelectorFields;
  priority: number;
  /** RFC 3339; older wins a tie, so an assignment's meaning does not change when a newer equal one appears. */
  createdAt: string;
}

export interface Selection<A extends Selectable> {
  assignment: A;
  /** Why it applies, for people: "assigned via label rack=r12". */
  reason: string;
  specificity: number;
}

/**
 * Specificity weights. Each tier outweighs everything below it put together, so the order is
 * strict: naming the machine (by id or MAC; both count once, they name the same machine) beats
 * any number of labels (at most 32 per selector: 32 × 10 = 320 < 1000), one more matching label
 * beats site + arch (2 + 1 < 10), and site beats arch.
 */
export const SPECIFICITY = { machine: 1000, label: 10, site: 2, arch: 1 } as const;

/** The score of a selector that matches `m`, or null when any field it names does not match. */
export function specificity(s: SelectorFields, m: MachineFacts): number | null {
  let score = 0;
  if (s.machineId !== undefined && s.machineId !== m.id) return null;
  if (s.mac !== undefined && s.mac !== m.mac) return null;
  if (s.machineId !== undefined || s.mac !== undefined) score += SPECIFICITY.machine;
  if (s.labels !== undefined) {
    for (const [k, v] of Object.entries(s.labels)) {
      if (!Object.hasOwn(m.labels, k) || m.labels[k] !== v) return null;
      score += SPECIFICITY.label;
    }
  }
  if (s.siteId !== undefined) {
    if (s.siteId !== m.siteId) return null;
    score += SPECIFICITY.site;
  }
  if (s.arch !== undefined) {
    if (s.arch !== m.arch) return null;
    score += SPECIFICITY.arch;
  }
  return score;
}

/**
 * True when `a` should win over `b`, both matching with scores `sa`, `sb`: more specific, then
 * higher priority, then older, then the smaller id. The last step makes the order total, so
 * the winner never depends on the order the candidates arrive in.
 */
function beats<A extends Selectable>(a: A, sa: number, b: A, sb: number): boolean {
  if (sa !== sb) return sa > sb;
  if (a.priority !== b.priority) return a.priority > b.priority;
  const ta = Date.parse(a.createdAt);
  const tb = Date.parse(b.createdAt);
  // Stored timestamps always parse; the guard keeps a malformed one from making the order partial.
  if (ta !== tb && !Number.isNaN(ta) && !Number.isNaN(tb)) return ta < tb;
  return a.id < b.id;
}

/** The winning assignment for `machine` among `candidates`, or null when none matches. */
export function selectAssignment<A extends Selectable>(machine: MachineFacts, candidates: readonly A[]): Selection<A> | null {
  let best: A | null = null;
  let bestScore = -1;
  for (const a of candidates) {
    const score = specificity(a.selector, machine);
    if (score === null) continue;
    if (best === null || beats(a, score, best, bestScore)) {
      best = a;
      bestScore = score;
    }
  }
  return best === null ? null : { assignment: best, reason: describe(best.selector), specificity: bestScore };
}

/** "assigned to this MAC", "assigned via label rack=r12 and arch bios". */
export function describe(s: SelectorFields): string {
  if (s.machineId !== undefined) return 'assigned to this machine';
  if (s.mac !== undefined) return 'assigned to this MAC';
  const parts: string[] = [];
  const labels = Object.entries(s.labels ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`);
  if (labels.length > 0) parts.push(`${labels.length === 1 ? 'label' : 'labels'} ${labels.join(', ')}`);
  if (s.siteId !== undefined) parts.push(`site ${s.siteId}`);
  if (s.arch !== undefined) parts.push(`arch ${s.arch}`);
  return `assigned via ${parts.join(' and ')}`;
}
