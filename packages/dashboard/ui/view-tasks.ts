// Tasks: each task of a queue with its rate, success rate and run-time percentiles over the
// last hour, from the run history the workers keep; and one task's page, with its history and
// its failures grouped by error.
import { api, h, loadOverview, ms, queueSelect, show, sparkline, state } from './core.js';

interface TaskSummary {
  task: string;
  queue: string;
  completed: number;
  failed: number;
  deadLettered: number;
  perMinute: number;
  successRate: number | null;
  avgRunMs: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}
interface Minute {
  at: string;
  completed: number;
  failed: number;
  deadLettered: number;
  avgRunMs: number;
}
interface FailureGroup {
  signature: string;
  count: number;
  name?: string;
  message?: string;
  lastJobId?: string;
  lastAt?: string;
}
interface TaskDetail extends TaskSummary {
  minutes: Minute[];
  failures: FailureGroup[];
}

const WINDOWS = ['15m', '1h'];
const n = (value: number) => value.toLocaleString('en');
const rate = (value: number | null) =>
  value === null ? '—' : `${(Math.floor(value * 1000) / 10).toFixed(1)}%`;
const enc = encodeURIComponent;

function windowPicker(current: string, href: (window: string) => string): HTMLElement {
  return h(
    'span',
    { class: 'windows' },
    'Window: ',
    ...WINDOWS.flatMap((w) => [
      w === current ? h('strong', {}, w) : h('a', { href: href(w) }, w),
      ' ',
    ]),
  );
}

export async function tasksView(
  mine: number,
  queue: string | undefined,
  params: URLSearchParams,
): Promise<void> {
  if (!state.queues.length) await loadOverview();
  if (mine !== state.view) return;
  const name = queue ?? state.queues[0]?.queue;
  if (!name) return show(h('p', {}, 'No queues.'));
  const window = params.get('window') ?? '1h';
  const tasks = await api<TaskSummary[]>(`tasks/${enc(name)}?window=${enc(window)}`);
  if (mine !== state.view) return;
  const select = queueSelect(name);
  select.addEventListener('change', () => {
    location.hash = `#/tasks/${enc((select as HTMLSelectElement).value)}`;
  });
  show(
    h('h2', {}, 'Tasks'),
    h(
      'div',
      { class: 'toolbar' },
      h('label', {}, 'Queue ', select),
      windowPicker(window, (w) => `#/tasks/${enc(name)}?window=${w}`),
    ),
    tasks.length
      ? h(
          'table',
          { id: 'tasks' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...[
                'Task',
                'Per minute',
                'Completed',
                'Failed',
                'Dead-lettered',
                'Success',
                'p50',
                'p95',
                'p99',
              ].map((t, i) => h('th', { class: i ? 'num' : '' }, t)),
            ),
          ),
          h(
            'tbody',
            {},
            ...tasks.map((t) =>
              h(
                'tr',
                { 'data-task': t.task },
                h(
                  'td',
                  {},
                  h(
                    'a',
                    { href: `#/task/${enc(t.queue)}/${enc(t.task)}?window=${window}` },
                    t.task,
                  ),
                ),
                h('td', { class: 'num' }, t.perMinute.toFixed(1)),
                h('td', { class: 'num' }, n(t.completed)),
                h('td', { class: 'num' }, n(t.failed)),
                h('td', { class: 'num' }, n(t.deadLettered)),
                h('td', { class: 'num' }, rate(t.successRate)),
                h('td', { class: 'num' }, ms(t.p50Ms)),
                h('td', { class: 'num' }, ms(t.p95Ms)),
                h('td', { class: 'num' }, ms(t.p99Ms)),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, `No task of ${name} ran in the last ${window}.`),
  );
}

export async function taskView(
  mine: number,
  queue: string,
  task: string,
  params: URLSearchParams,
): Promise<void> {
  if (!state.queues.length) await loadOverview();
  if (mine !== state.view) return;
  const window = params.get('window') ?? '1h';
  const t = await api<TaskDetail>(`tasks/${enc(queue)}/${enc(task)}?window=${enc(window)}`);
  if (mine !== state.view) return;
  const figure = (label: string, value: string, field: string) =>
    h(
      'div',
      { class: 'figure', 'data-field': field },
      h('span', { class: 'muted' }, label),
      h('strong', {}, value),
    );
  show(
    h('h2', {}, task, ' ', h('span', { class: 'muted' }, `in ${queue}`)),
    h(
      'div',
      { class: 'toolbar' },
      h('a', { href: `#/tasks/${enc(queue)}` }, '← Tasks'),
      ' ',
      h('a', { href: `#/jobs?${new URLSearchParams({ queue, task })}` }, 'Find its jobs'),
      ' ',
      h(
        'a',
        { href: `#/dead-letters/${enc(queue)}?${new URLSearchParams({ task })}` },
        'Its dead letters',
      ),
      ' ',
      windowPicker(window, (w) => `#/task/${enc(queue)}/${enc(task)}?window=${w}`),
    ),
    h(
      'div',
      { class: 'figures' },
      figure('Per minute', t.perMinute.toFixed(1), 'per-minute'),
      figure('Completed', n(t.completed), 'completed'),
      figure('Failed attempts', n(t.failed), 'failed'),
      figure('Dead-lettered', n(t.deadLettered), 'dead-lettered'),
      figure('Success', rate(t.successRate), 'success'),
      figure('p50', ms(t.p50Ms), 'p50'),
      figure('p95', ms(t.p95Ms), 'p95'),
      figure('p99', ms(t.p99Ms), 'p99'),
    ),
    h(
      'div',
      { class: 'charts' },
      h(
        'div',
        {},
        h('h3', {}, 'Runs a minute'),
        sparkline(
          t.minutes.map((m) => m.completed + m.failed),
          'runs a minute',
          480,
          60,
        ),
      ),
      h(
        'div',
        {},
        h('h3', {}, 'Failed attempts a minute'),
        sparkline(
          t.minutes.map((m) => m.failed),
          'failed attempts a minute',
          480,
          60,
        ),
      ),
      h(
        'div',
        {},
        h('h3', {}, 'Mean run time'),
        sparkline(
          t.minutes.map((m) => m.avgRunMs),
          'mean run time a minute',
          480,
          60,
        ),
      ),
    ),
    h('h3', {}, 'Failures by error'),
    t.failures.length
      ? h(
          'table',
          { id: 'failures' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', {}, 'Error'),
              h('th', { class: 'num' }, 'Count'),
              h('th', {}, 'Last'),
              h('th', {}, 'Last job'),
            ),
          ),
          h(
            'tbody',
            {},
            ...t.failures.map((f) =>
              h(
                'tr',
                { 'data-signature': f.signature },
                h(
                  'td',
                  {},
                  h('code', {}, f.signature),
                  f.message ? h('div', { class: 'muted' }, f.message) : null,
                ),
                h('td', { class: 'num' }, n(f.count)),
                h(
                  'td',
                  {},
                  f.lastAt ? new Date(f.lastAt).toISOString().replace('T', ' ').slice(0, 19) : '—',
                ),
                h(
                  'td',
                  {},
                  f.lastJobId
                    ? h('a', { href: `#/job/${enc(queue)}/${enc(f.lastJobId)}` }, f.lastJobId)
                    : '—',
                ),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted' }, `No failure in the last ${window}.`),
  );
}
