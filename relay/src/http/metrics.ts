/**
 * A small Prometheus registry (text exposition format 0.0.4). Servers register their counters at
 * composition time and bump them in their loops; `/metrics` renders them. Counters may carry one
 * label set per bump (`drops{reason="bad-option"}`), so drop reasons need no registration ahead.
 */
type Labels = Record<string, string>;

export interface Counter {
  inc(labels?: Labels, n?: number): void;
  /** The value for a label set (tests, /healthz). */
  get(labels?: Labels): number;
}

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  values: Map<string, number>;
  collect?: () => number | Array<[Labels, number]>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]!.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class MetricsRegistry {
  readonly #families = new Map<string, Family>();

  #family(name: string, help: string, type: Family['type']): Family {
    if (!NAME.test(name)) throw new Error(`metric name ${JSON.stringify(name)} is not a Prometheus name`);
    const existing = this.#families.get(name);
    if (existing) {
      if (existing.type !== type) throw new Error(`metric ${name} is already registered as a ${existing.type}`);
      return existing;
    }
    const f: Family = { name, help, type, values: new Map() };
    this.#families.set(name, f);
    return f;
  }

  /** A monotonically increasing counter; registering the same name twice returns the same one. */
  counter(name: string, help: string): Counter {
    const f = this.#family(name, help, 'counter');
    return {
      inc(labels, n = 1) {
        const k = labelKey(labels);
        f.values.set(k, (f.values.get(k) ?? 0) + n);
      },
      get: (labels) => f.values.get(labelKey(labels)) ?? 0,
    };
  }

  /** A gauge read when /metrics is scraped. */
  gauge(name: string, help: string, collect: () => number | Array<[Labels, number]>): void {
    this.#family(name, help, 'gauge').collect = collect;
  }

  render(): string {
    const out: string[] = [];
    for (const f of this.#families.values()) {
      out.push(`# HELP ${f.name} ${f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${f.name} ${f.type}`);
      if (f.collect) {
        const v = f.collect();
        if (typeof v === 'number') out.push(`${f.name} ${fmt(v)}`);
        else for (const [labels, n] of v) out.push(`${f.name}${labelKey(labels)} ${fmt(n)}`);
      } else if (f.values.size === 0) {
        out.push(`${f.name} 0`);
      } else {
        for (const [k, n] of f.values) out.push(`${f.name}${k} ${fmt(n)}`);
      }
    }
    return `${out.join('\n')}\n`;
  }
}

function fmt(n: number): string {
  return Number.isFinite(n) ? String(n) : Number.isNaN(n) ? 'NaN' : n > 0 ? '+Inf' : '-Inf';
}
