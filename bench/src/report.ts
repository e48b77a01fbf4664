import type { Calibration } from './calibrate';
import type { ScenarioResult } from './queue-scenarios';

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

/** The terminal table: per scenario and contender, median, spread and ratio to baseline. */
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
  const header = ['scenario', 'contender', 'median', 'min', 'max', 'unit', 'vs base'];
  const rows: string[][] = [];
  for (const s of scenarios) {
    const base = s.baseline ? s.contenders[s.baseline]?.median : undefined;
    for (const [name, summary] of Object.entries(s.contenders)) {
      if (summary.rounds.length === 0) continue; // left out with BENCH_CONTENDERS
      const ratio =
        base === undefined || name === s.baseline
          ? ''
          : s.unit === 'ms' || s.unit === '%'
            ? `${summary.median >= base ? '+' : '-'}${fmt(Math.abs(summary.median - base))} ${s.unit === '%' ? 'pt' : 'ms'}`
            : `${(summary.median / base).toFixed(2)}×`;
      rows.push([
        s.scenario,
        name,
        fmt(summary.median),
        fmt(summary.min),
        fmt(summary.max),
        s.unit,
        ratio,
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
