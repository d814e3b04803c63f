// The bench's figures: percentiles, the rows of the printed table, and their units.

/** Nearest-rank percentile of the defined values; undefined when there are none. */
export function percentile(values: Array<number | undefined>, p: number): number | undefined {
  const sorted = values.filter((v): v is number => v !== undefined).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

export interface Row {
  figure: string;
  value: string;
  target?: string;
  /** The load generator's own CPU seconds while this figure was measured. */
  loadgenCpu?: string;
}

export const ms = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(1)} ms`);
export const mb = (v: number | undefined): string => (v === undefined ? 'n/a' : `${(v / 1024 / 1024).toFixed(1)} MB`);
export const sec = (v: number | undefined): string => (v === undefined ? 'n/a' : `${v.toFixed(3)} s`);

export function formatTable(rows: Row[]): string {
  const header: Row = { figure: 'figure', value: 'value', target: 'target', loadgenCpu: 'generator CPU' };
  const all = [header, ...rows];
  const width = (key: keyof Row): number => Math.max(...all.map((r) => (r[key] ?? '').length));
  const w = { figure: width('figure'), value: width('value'), target: width('target'), loadgenCpu: width('loadgenCpu') };
  const line = (r: Row): string =>
    `| ${r.figure.padEnd(w.figure)} | ${r.value.padEnd(w.value)} | ${(r.target ?? '').padEnd(w.target)} | ${(r.loadgenCpu ?? '').padEnd(w.loadgenCpu)} |`;
  const rule = `|${'-'.repeat(w.figure + 2)}|${'-'.repeat(w.value + 2)}|${'-'.repeat(w.target + 2)}|${'-'.repeat(w.loadgenCpu + 2)}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
