// The outbox: pending rows and the relay's lag, failing and set-aside rows, published rows
// kept, and the most recent failures; set-aside rows can be replayed.
import {
  act,
  age,
  api,
  failed,
  h,
  loadOverview,
  router,
  show,
  state,
  time,
  truncate,
} from './core.js';

interface OutboxCounts {
  pending: number;
  oldestPendingAgeMs: number;
  failing: number;
  setAside: number;
  published: number;
  running?: boolean;
  consecutiveFailures?: number;
  lastError?: string | null;
}
interface FailedRow {
  id: string;
  kind: 'task' | 'event';
  name: string;
  queue: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: string;
  nextAttemptAt: string | null;
  setAside: boolean;
}
type OutboxOverview =
  | { enabled: false }
  | {
      enabled: true;
      stats: OutboxCounts;
      failures: FailedRow[] | null;
      failuresUnavailable?: string;
      canReplay: boolean;
    };

export async function outboxView(mine: number): Promise<void> {
  if (!state.queues.length) await loadOverview();
  const outbox = await api<OutboxOverview>('outbox');
  if (mine !== state.view) return;
  if (!outbox.enabled) {
    return show(
      h('h2', {}, 'Outbox'),
      h(
        'p',
        { id: 'outbox-disabled' },
        'This app has no outbox: it does not import OutboxModule from @conveyor/outbox.',
      ),
    );
  }
  const { stats } = outbox;
  const again = () => void router.route();
  const replay = (ids: string[], label: string, question: string) =>
    outbox.canReplay && !state.readOnly
      ? h(
          'button',
          {
            type: 'button',
            'data-action': 'replay',
            onclick: async () => {
              if (await act(question, 'outbox/replay', { ids })) again();
            },
          },
          label,
        )
      : null;
  const relay =
    stats.consecutiveFailures && stats.consecutiveFailures > 0
      ? h(
          'span',
          { class: 'badge open' },
          `failing ${stats.consecutiveFailures} round(s): ${truncate(stats.lastError ?? '', 120)}`,
        )
      : stats.running === false
        ? h('span', { class: 'badge' }, 'no relay in this process')
        : h('span', { class: 'badge closed' }, 'relaying');
  const facts = h(
    'dl',
    { class: 'facts', id: 'outbox-stats' },
    ...fact('pending', 'Pending', stats.pending.toLocaleString('en')),
    ...fact('lag', 'Lag (oldest pending)', age(stats.oldestPendingAgeMs)),
    ...fact('failing', 'Failing (will retry)', stats.failing.toLocaleString('en')),
    ...fact('set-aside', 'Set aside (wait for you)', stats.setAside.toLocaleString('en')),
    ...fact('published', 'Published, kept', stats.published.toLocaleString('en')),
    ...fact('relay', 'Relay', relay),
  );
  const rows = (outbox.failures ?? []).map((row) =>
    h(
      'tr',
      { 'data-row': row.id },
      h('td', {}, row.id),
      h('td', {}, row.name, h('span', { class: 'muted' }, ` ${row.kind}`)),
      h('td', {}, row.queue ?? '—'),
      h('td', { class: 'num' }, String(row.attempts)),
      h('td', {}, truncate(row.lastError ?? '', 200)),
      h(
        'td',
        {},
        row.setAside
          ? h('span', { class: 'badge dead-lettered' }, 'set aside')
          : h('span', { class: 'muted' }, time(row.nextAttemptAt ?? undefined)),
      ),
      h(
        'td',
        { class: 'actions' },
        row.setAside
          ? replay(
              [row.id],
              'Replay',
              `Publish outbox row ${row.id} (${row.name}) again with fresh attempts? Fix what its last error names first.`,
            )
          : null,
      ),
    ),
  );
  const setAside = (outbox.failures ?? []).filter((row) => row.setAside).map((row) => row.id);
  show(
    h('h2', {}, 'Outbox'),
    facts,
    h('h3', {}, 'Recent failures'),
    outbox.failures === null
      ? h(
          'p',
          { class: 'muted', id: 'outbox-failures-unavailable' },
          outbox.failuresUnavailable ?? '',
        )
      : rows.length
        ? h(
            'div',
            {},
            setAside.length > 1
              ? h(
                  'div',
                  { class: 'toolbar' },
                  replay(
                    setAside,
                    `Replay the ${setAside.length} set-aside rows shown`,
                    `Publish the ${setAside.length} set-aside rows shown again with fresh attempts?`,
                  ),
                )
              : null,
            h(
              'table',
              { id: 'outbox-failures' },
              h(
                'thead',
                {},
                h(
                  'tr',
                  {},
                  ...['Row', 'Name', 'Queue', 'Attempts', 'Last error', 'Next attempt', ''].map(
                    (t, i) => h('th', { class: i === 3 ? 'num' : '' }, t),
                  ),
                ),
              ),
              h('tbody', {}, ...rows),
            ),
          )
        : h('p', { class: 'muted', id: 'outbox-no-failures' }, 'No row is failing.'),
  );
  state.timer = window.setTimeout(() => {
    if (mine === state.view) void outboxView(mine).catch(failed);
  }, 2000);
}

function fact(id: string, label: string, value: string | Node): HTMLElement[] {
  return [h('dt', {}, label), h('dd', { 'data-stat': id }, value)];
}
