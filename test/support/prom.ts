/**
 * Reads a Prometheus text exposition with an independent parser (parse-prometheus-text-format, a
 * port of the reference Python client's parser) and looks samples up by name and labels.
 */
import parse from 'parse-prometheus-text-format';

export interface Families {
  families: ReturnType<typeof parse>;
  /** The same text parsed with every sample line as its own family (`x_count{…}`), labels intact. */
  samples: ReturnType<typeof parse>;
}

/** Parses `text`; throws when a family lacks its HELP/TYPE or the parser did not account for every `# TYPE`. */
export function parseMetrics(text: string): Families {
  const families = parse(text);
  const typed = text.split('\n').filter((l) => l.startsWith('# TYPE ')).length;
  if (families.length !== typed) throw new Error(`parsed ${families.length} families, the text declares ${typed}`);
  for (const f of families) {
    if (!f.help || f.type === 'UNTYPED') throw new Error(`${f.name}: no HELP or TYPE`);
  }
  // The parser folds labelled histograms into one sample (losing their labels): read their
  // `_count` lines as untyped samples instead.
  const samples = parse(
    text
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n'),
  );
  return { families, samples };
}

const matches = (labels: Record<string, string> | undefined, want: Record<string, string>) => Object.entries(want).every(([k, v]) => labels?.[k] === v);

/** Sum of the values (counters, gauges) or of the observation counts (histograms) of `name`'s samples whose labels include `want`. */
export function sample(m: Families, name: string, want: Record<string, string> = {}): number {
  const type = typeOf(m, name);
  if (!type) return 0;
  const line = type === 'HISTOGRAM' ? `${name}_count` : name;
  // Untyped lines of one name come back as several families when other names come between them.
  return m.samples
    .filter((x) => x.name === line)
    .flatMap((x) => x.metrics)
    .filter((s) => matches(s.labels, want))
    .reduce((n, s) => n + Number(s.value), 0);
}

/** The type of family `name` (`COUNTER`, `HISTOGRAM`, …), or null when absent. */
export function typeOf(m: Families, name: string): string | null {
  return m.families.find((x) => x.name === name)?.type ?? null;
}
