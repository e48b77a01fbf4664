// Schedules: every schedule (declared and added at run time) with its timing and next run;
// pause, resume and trigger now, each confirmed and hidden in read-only mode.
import { actionButton, api, failed, h, loadOverview, router, show, state, time } from './core.js';

export interface ScheduleRow {
  id: string;
  taskName: string;
  queue: string;
  source: 'declared' | 'runtime';
  cron?: string;
  tz?: string;
  everyMs?: number;
  nextRunAt?: string;
  paused: boolean;
  pausedAt?: string;
}

/** `1h 30m`, `45s`: an interval as a person writes it. */
export function interval(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of units) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest || !parts.length) parts.push(`${rest}ms`);
  return parts.join(' ');
}

export async function schedulesView(mine: number): Promise<void> {
  if (!state.queues.length) await loadOverview();
  const { schedules } = await api<{ schedules: ScheduleRow[] }>('schedules');
  if (mine !== state.view) return;
  const again = () => void router.route();
  const rows = schedules.map((s) => {
    const path = `schedules/${encodeURIComponent(s.id)}`;
    return h(
      'tr',
      { 'data-schedule': s.id },
      h(
        'td',
        {},
        h('strong', {}, s.id),
        ' ',
        s.paused ? h('span', { class: 'badge paused' }, 'paused') : null,
      ),
      h('td', {}, s.taskName),
      h('td', {}, s.queue),
      h(
        'td',
        {},
        s.cron ? h('code', {}, s.cron) : s.everyMs ? `every ${interval(s.everyMs)}` : '—',
        s.cron && s.tz ? h('span', { class: 'muted' }, ` ${s.tz}`) : null,
      ),
      h('td', { class: 'muted' }, s.source),
      h(
        'td',
        { class: 'next-run' },
        s.paused
          ? h('span', { class: 'muted' }, `paused at ${time(s.pausedAt)}`)
          : time(s.nextRunAt),
      ),
      h(
        'td',
        { class: 'actions' },
        s.paused
          ? actionButton(
              'Resume',
              `Resume schedule ${s.id}? Its next tick is counted from now; missed ones are not made up.`,
              `${path}/resume`,
              again,
            )
          : actionButton(
              'Pause',
              `Pause schedule ${s.id}? No tick makes a job until it is resumed, across restarts and deploys.`,
              `${path}/pause`,
              again,
            ),
        ' ',
        actionButton(
          'Trigger',
          `Run ${s.taskName} once now, with the schedule's payload? The schedule is not changed.`,
          `${path}/trigger`,
          again,
        ),
      ),
    );
  });
  show(
    h('h2', {}, 'Schedules'),
    schedules.length
      ? h(
          'table',
          { id: 'schedules' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Schedule', 'Task', 'Queue', 'When', 'Source', 'Next run', ''].map((t) =>
                h('th', {}, t),
              ),
            ),
          ),
          h('tbody', {}, ...rows),
        )
      : h(
          'p',
          { class: 'muted' },
          'No schedules. Declare one with @Task(ref, { schedule }) or add one with TaskProducer.schedule().',
        ),
  );
  state.timer = window.setTimeout(() => {
    if (mine === state.view) void schedulesView(mine).catch(failed);
  }, 5000);
}
