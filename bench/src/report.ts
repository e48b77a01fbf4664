import type { Calibration } from './calibrate';
import type { ScenarioResult } from './queue-scenarios';
import { median } from './util';

const fmt = (value: number): string =>
  !Number.isFinite(value)
    ? '-'
    : Math.abs(value) >= 100
      ? Math.round(value).toLocaleString('en-US')
      : value.toFixed(2);

function pad(cells: string[], widths: number[]): string {
  return cells
    .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
    .join('  ');
}

/** Units compared by difference (ms, points), not by ratio. */
const byDifference = (unit: string) => unit === 'ms' || unit === '%';

/**
 * A contender against the scenario's baseline, two ways: the ratio (or difference) of the
 * medians, and the median of the per-round ratios (`paired`). The rounds run side by side,
 * so a round on a busy machine slows both sides of its pair; the paired figure cancels
 * that, where a median of each side can pair one's quiet round with the other's busy one.
 */
export function versusBaseline(
  s: ScenarioResult,
  name: string,
): { medians: number; paired?: number } | undefined {
  const base = s.baseline ? s.contenders[s.baseline] : undefined;
  const own = s.contenders[name];
  if (!base || !own || name === s.baseline || base.rounds.length === 0) return undefined;
  const compare = (a: number, b: number) => (byDifference(s.unit) ? a - b : a / b);
  const medians = compare(own.median, base.median);
  if (own.rounds.length !== base.rounds.length || own.rounds.length < 2) return { medians };
  return { medians, paired: median(own.rounds.map((v, i) => compare(v, base.rounds[i]!))) };
}

function showRatio(s: ScenarioResult, value: number): string {
  if (!byDifference(s.unit)) return `${value.toFixed(2)}×`;
  return `${value >= 0 ? '+' : '-'}${fmt(Math.abs(value))} ${s.unit === '%' ? 'pt' : 'ms'}`;
}

/** The terminal table: per scenario and contender, median, spread and both comparisons. */
export function printTable(
  machine: Record<string, unknown>,
  calibration: Calibration | undefined,
  scenarios: ScenarioResult[],
): void {
  const lines: string[] = [];
  lines.push(`machine: ${JSON.stringify(machine)}`);
  if (calibration) {
    lines.push('', 'calibration');
    for (const [k, v] of Object.entries({ ...calibration.redis, ...calibration.pgbench })) {
      lines.push(`  ${k.padEnd(40)} ${fmt(v).padStart(12)} /s`);
    }
  }
  const header = ['scenario', 'contender', 'median', 'min', 'max', 'unit', 'vs base', 'paired'];
  const rows: string[][] = [];
  for (const s of scenarios) {
    for (const [name, summary] of Object.entries(s.contenders)) {
      if (summary.rounds.length === 0) continue; // left out with BENCH_CONTENDERS
      const ratio = versusBaseline(s, name);
      rows.push([
        s.scenario,
        name,
        fmt(summary.median),
        fmt(summary.min),
        fmt(summary.max),
        s.unit,
        ratio ? showRatio(s, ratio.medians) : '',
        ratio?.paired === undefined ? '' : showRatio(s, ratio.paired),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  lines.push('', pad(header, widths), widths.map((w) => '-'.repeat(w)).join('  '));
  let last = '';
  for (const row of rows) {
    lines.push(pad([row[0] === last ? '' : row[0], ...row.slice(1)], widths));
    last = row[0];
  }
  process.stdout.write(lines.join('\n') + '\n');
}
