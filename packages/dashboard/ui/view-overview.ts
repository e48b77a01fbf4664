// The overview: every queue's counts, pause/resume, circuit breakers.
import { actionButton, age, count, failed, h, loadOverview, router, show, state } from './core.js';

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
      h('td', { class: 'muted' }, q.tasks.join(', ')),
      h(
        'td',
        { class: 'actions' },
        h('a', { href: `#/jobs?queue=${encodeURIComponent(q.queue)}` }, 'Jobs'),
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
            'Tasks',
            '',
          ].map((t, i) => h('th', { class: i > 0 && i < 7 ? 'num' : '' }, t)),
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
