// The overview: every queue's counts, pause/resume, circuit breakers.
import {
  actionButton,
  age,
  count,
  failed,
  h,
  loadOverview,
  ms,
  router,
  show,
  sparkline,
  state,
} from './core.js';

export async function overviewView(mine: number): Promise<void> {
  const overview = await loadOverview();
  if (mine !== state.view) return;
  const rows = overview.queues.map((q) =>
    h(
      'tr',
      { 'data-queue': q.queue },
      h(
        'td',
        {},
        h('strong', {}, q.queue),
        ' ',
        q.paused ? h('span', { class: 'badge paused' }, 'paused') : null,
      ),
      count(q.waiting),
      count(q.active),
      count(q.delayed),
      h(
        'td',
        { class: 'num' },
        h(
          'a',
          { href: `#/dead-letters/${encodeURIComponent(q.queue)}` },
          q.deadLettered.toLocaleString('en'),
        ),
      ),
      count(q.completed),
      h('td', { class: 'num' }, age(q.oldestWaitingAgeMs)),
      h(
        'td',
        { class: 'history', 'data-field': 'throughput' },
        sparkline(
          q.throughput,
          `${q.completedLastHour.toLocaleString('en')} completed, ${q.failedLastHour.toLocaleString('en')} failed in the last hour`,
        ),
        h('span', { class: 'muted' }, ` ${q.completedLastHour.toLocaleString('en')}/h`),
      ),
      h(
        'td',
        { class: 'history', 'data-field': 'run-time' },
        sparkline(q.runTime, `mean run time ${ms(q.avgRunMs)} over the last hour`),
        h(
          'span',
          { class: 'muted' },
          ` ${ms(q.completedLastHour + q.failedLastHour ? q.avgRunMs : null)}`,
        ),
      ),
      h(
        'td',
        { class: 'num', 'data-field': 'workers', title: `concurrency ${q.concurrency}` },
        h('a', { href: '#/workers' }, String(q.workers)),
      ),
      h(
        'td',
        { class: 'muted' },
        ...q.tasks.flatMap((task, i) => [
          i ? ', ' : '',
          h(
            'a',
            { href: `#/task/${encodeURIComponent(q.queue)}/${encodeURIComponent(task)}` },
            task,
          ),
        ]),
      ),
      h(
        'td',
        { class: 'actions' },
        h('a', { href: `#/jobs?queue=${encodeURIComponent(q.queue)}` }, 'Jobs'),
        ' ',
        h('a', { href: `#/tasks/${encodeURIComponent(q.queue)}` }, 'Tasks'),
        ' ',
        q.paused
          ? actionButton(
              'Resume',
              `Resume queue ${q.queue}? Workers take its jobs again.`,
              `queues/${encodeURIComponent(q.queue)}/resume`,
              () => void router.route(),
            )
          : actionButton(
              'Pause',
              `Pause queue ${q.queue}? Running jobs finish; waiting ones wait.`,
              `queues/${encodeURIComponent(q.queue)}/pause`,
              () => void router.route(),
            ),
      ),
    ),
  );
  show(
    h('h2', {}, 'Queues'),
    h(
      'table',
      { id: 'queues' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...[
            'Queue',
            'Waiting',
            'Active',
            'Delayed',
            'Dead-lettered',
            'Completed',
            'Oldest waiting',
            'Last hour',
            'Run time',
            'Workers',
            'Tasks',
            '',
          ].map((t, i) => h('th', { class: (i > 0 && i < 7) || i === 9 ? 'num' : '' }, t)),
        ),
      ),
      h('tbody', {}, ...rows),
    ),
    overview.breakers.length
      ? h(
          'div',
          {},
          h('h3', {}, 'Circuit breakers'),
          ...overview.breakers.map((b) =>
            h('span', {}, `${b.name} `, h('span', { class: `badge ${b.state}` }, b.state), ' '),
          ),
        )
      : null,
  );
  state.timer = window.setTimeout(() => {
    if (mine === state.view) void overviewView(mine).catch(failed);
  }, 2000);
}
