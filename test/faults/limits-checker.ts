import type { LimitedTask, RecordedEvent } from '../support/children/limits-tasks';

/** One run of a handler, as the ledger recorded it. */
export interface Run {
  run: string;
  n: number;
  task: string;
  scope: string;
  pid: number;
  /** `ctx.admittedAt`, ms on Redis's clock. */
  admittedAt: number;
  /** The worker's own `Date.now()` at the start (skewed in some workers). */
  local: number;
  start: { seq: number; us: number };
  /**
   * The handler's end; for a run cut by a SIGKILL, the moment the test saw the process exit
   * (its lease keeps the slot until it expires, which is later still).
   */
  end?: { seq: number; us: number };
  /** The run had no end of its own: its worker was killed while it ran. */
  cut: boolean;
  /**
   * Why its signal aborted, if it did. `TaskLockLostError` means its lease ran out before a
   * renewal (its worker stalled for most of a lease): the run stops at once, but another may
   * have started in between, which the checker reports like any overlap.
   */
  lost?: string;
}

/** A moment where more runs of one scope were open than its limit allows. */
export interface Violation {
  kind: 'overlap' | 'over-cap' | 'rate' | 'admitted-after-start' | 'unfinished';
  scope: string;
  runs: Run[];
}

/** Turns ledger events into runs; a run without an end takes its killed worker's exit. */
export function runsOf(events: readonly RecordedEvent[]): { runs: Run[]; killed: Set<number> } {
  const runs = new Map<string, Run>();
  const exits = new Map<number, { seq: number; us: number }>();
  const killed = new Set<number>();
  for (const event of events) {
    const at = { seq: event.seq, us: event.us };
    switch (event.e) {
      case 'start':
        runs.set(event.run, {
          run: event.run,
          n: event.n,
          task: event.task,
          scope: event.scope ? `${event.task}:${event.scope}` : event.task,
          pid: event.pid,
          admittedAt: event.admittedAt,
          local: event.local,
          start: at,
          cut: false,
        });
        break;
      case 'end':
        runs.get(event.run)!.end = at;
        break;
      case 'lost':
        runs.get(event.run)!.lost = event.reason;
        break;
      case 'kill':
        killed.add(event.pid);
        break;
      case 'exit':
        exits.set(event.pid, at);
        break;
    }
  }
  for (const run of runs.values()) {
    if (run.end || !killed.has(run.pid)) continue;
    run.end = exits.get(run.pid);
    run.cut = true;
  }
  return { runs: [...runs.values()], killed };
}

/**
 * Runs of each scope with a slot limit, swept in the order Redis recorded their starts and
 * ends: a run that starts while `cap` others of its scope are open is a violation (for
 * `cap` 1, an overlap). A run with no end at all (its worker was not killed) is one too.
 */
export function checkSlots(runs: readonly Run[], tasks: readonly LimitedTask[]): Violation[] {
  const violations: Violation[] = [];
  for (const { task, cap } of tasks) {
    if (!cap) continue;
    const byScope = groupBy(
      runs.filter((run) => run.task === task.name),
      (run) => run.scope,
    );
    for (const [scope, scoped] of byScope) {
      const marks: Array<{ seq: number; run: Run; open: boolean }> = [];
      for (const run of scoped) {
        marks.push({ seq: run.start.seq, run, open: true });
        if (run.end) marks.push({ seq: run.end.seq, run, open: false });
        else violations.push({ kind: 'unfinished', scope, runs: [run] });
      }
      // Runs cut by one kill share their end; ends sort before starts at the same place.
      marks.sort((a, b) => a.seq - b.seq || Number(a.open) - Number(b.open));
      const open = new Set<Run>();
      for (const mark of marks) {
        if (!mark.open) {
          open.delete(mark.run);
          continue;
        }
        if (open.size >= cap) {
          const others = [...open];
          violations.push({
            kind: cap === 1 ? 'overlap' : 'over-cap',
            scope,
            runs: [...others, mark.run],
          });
        }
        open.add(mark.run);
      }
    }
  }
  return violations;
}

/** Admissions of each rate-limited scope: no `perMs` window may hold more than `max`. */
export function checkRates(runs: readonly Run[], tasks: readonly LimitedTask[]): Violation[] {
  const violations: Violation[] = [];
  for (const { task, rate } of tasks) {
    if (!rate) continue;
    const byScope = groupBy(
      runs.filter((run) => run.task === task.name),
      (run) => run.scope,
    );
    for (const [scope, scoped] of byScope) {
      const sorted = [...scoped].sort((a, b) => a.admittedAt - b.admittedAt);
      // A window is (t - perMs, t], as the admission script counts it: max + 1 admissions
      // less than perMs apart are one too many.
      for (let i = 0; i + rate.max < sorted.length; i++) {
        if (sorted[i + rate.max].admittedAt - sorted[i].admittedAt < rate.perMs) {
          violations.push({ kind: 'rate', scope, runs: sorted.slice(i, i + rate.max + 1) });
        }
      }
    }
  }
  return violations;
}

/**
 * `ctx.admittedAt` must be Redis's time of the admission, which comes before the handler's
 * first ledger write: never after it, whatever the worker's own clock says.
 */
export function checkAdmittedAt(runs: readonly Run[]): Violation[] {
  return runs
    .filter((run) => run.admittedAt > run.start.us / 1000)
    .map((run) => ({ kind: 'admitted-after-start' as const, scope: run.scope, runs: [run] }));
}

/** The tightest window of `max + 1` admissions per rate-limited task (ms; ≥ perMs if held). */
export function tightestRateWindow(runs: readonly Run[], task: LimitedTask): number {
  const at = runs
    .filter((run) => run.task === task.task.name)
    .map((run) => run.admittedAt)
    .sort((a, b) => a - b);
  let tightest = Infinity;
  for (let i = 0; i + task.rate!.max < at.length; i++) {
    tightest = Math.min(tightest, at[i + task.rate!.max] - at[i]);
  }
  return tightest;
}

/** The most runs of one scope of `task` open at once. */
export function peakConcurrency(runs: readonly Run[], task: LimitedTask): number {
  let peak = 0;
  const byScope = groupBy(
    runs.filter((run) => run.task === task.task.name && run.end),
    (run) => run.scope,
  );
  for (const scoped of byScope.values()) {
    const marks = scoped.flatMap((run) => [
      { seq: run.start.seq, d: 1 },
      { seq: run.end!.seq, d: -1 },
    ]);
    marks.sort((a, b) => a.seq - b.seq || a.d - b.d);
    let open = 0;
    for (const mark of marks) peak = Math.max(peak, (open += mark.d));
  }
  return peak;
}

/**
 * For each run cut by a kill in an exclusive scope, the time (ms, Redis clock) from its
 * worker's exit to the next start in that scope.
 */
export function gapsAfterCuts(runs: readonly Run[], tasks: readonly LimitedTask[]): number[] {
  const exclusive = new Set(tasks.filter((t) => t.cap === 1).map((t) => t.task.name));
  const gaps: number[] = [];
  for (const cut of runs) {
    if (!cut.cut || !exclusive.has(cut.task)) continue;
    const next = runs
      .filter((run) => run.scope === cut.scope && run.start.seq > cut.end!.seq)
      .reduce<Run | undefined>((a, b) => (a && a.start.seq < b.start.seq ? a : b), undefined);
    if (next) gaps.push((next.start.us - cut.end!.us) / 1000);
  }
  return gaps;
}

/** A violation in one line, with each run's Redis times, for a failing test's message. */
export function describeViolation(v: Violation): string {
  const runs = v.runs.map(
    (run) =>
      `${run.run} (job ${run.n}, pid ${run.pid}, admitted ${run.admittedAt}, ` +
      `start ${run.start.seq}@${run.start.us}, end ${run.end ? `${run.end.seq}@${run.end.us}` : '-'}` +
      `${run.cut ? ' cut by kill' : ''}${run.lost ? `, signal ${run.lost}` : ''})`,
  );
  return `${v.kind} in ${v.scope}: ${runs.join('; ')}`;
}

function groupBy<T>(items: readonly T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const group = groups.get(k);
    if (group) group.push(item);
    else groups.set(k, [item]);
  }
  return groups;
}
