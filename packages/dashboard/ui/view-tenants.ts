// Tenants: each key of a concurrencyKey or lock task, with its running jobs against its
// limit and its parked jobs (its backlog), most parked first. A bounded read a page.
import { api, count, failed, h, loadOverview, show, state } from './core.js';

interface TenantQueues {
  queues: Array<{ queue: string; tasks: string[] }>;
}
interface Tenant {
  task: string;
  key: string;
  running: number;
  reserved: number;
  limit: number | null;
  rateLimit?: { max: number; durationMs: number };
  parked: number;
}
interface TenantPage {
  queue: string;
  tenants: Tenant[];
  cursor: string | null;
}

export async function tenantsView(
  mine: number,
  queue: string | undefined,
  params: URLSearchParams,
): Promise<void> {
  if (!state.queues.length) await loadOverview();
  const { queues } = await api<TenantQueues>('tenants');
  if (mine !== state.view) return;
  // The first queue with keyed tasks; a process without handlers names none: the first queue.
  const name = queue ?? (queues.find((q) => q.tasks.length > 0) ?? queues[0])?.queue;
  if (!name) return show(h('h2', {}, 'Tenants'), h('p', {}, 'No queues.'));
  const cursor = params.get('cursor') ?? '';
  const query = new URLSearchParams({ limit: '100', ...(cursor ? { cursor } : {}) });
  const page = await api<TenantPage>(`tenants/${encodeURIComponent(name)}?${query}`);
  if (mine !== state.view) return;
  const tasks = queues.find((q) => q.queue === name)?.tasks ?? [];
  const form = h(
    'form',
    {
      class: 'bar',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        location.hash = `#/tenants/${encodeURIComponent(String(data.get('queue')))}`;
      },
    },
    h(
      'label',
      {},
      'Queue',
      h(
        'select',
        { name: 'queue' },
        ...queues.map((q) => h('option', { value: q.queue, selected: q.queue === name }, q.queue)),
      ),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Show'),
  );
  const rows = page.tenants.map((t) =>
    h(
      'tr',
      { 'data-task': t.task, 'data-key': t.key },
      h('td', {}, t.task),
      h('td', {}, h('strong', {}, t.key)),
      h(
        'td',
        { class: 'num' },
        t.running.toLocaleString('en'),
        t.limit !== null ? h('span', { class: 'muted' }, ` / ${t.limit.toLocaleString('en')}`) : '',
        t.limit !== null && t.running >= t.limit
          ? h('span', { class: 'badge delayed', title: 'every slot of this key is taken' }, 'full')
          : null,
      ),
      count(t.reserved),
      h(
        'td',
        { class: 'num' },
        t.parked > 0
          ? h('span', { class: 'badge waiting' }, t.parked.toLocaleString('en'))
          : h('span', { class: 'muted' }, '0'),
      ),
      h('td', { class: 'muted' }, t.rateLimit ? rate(t.rateLimit) : '—'),
    ),
  );
  show(
    h('h2', {}, `Tenants of ${name}`),
    form,
    h(
      'p',
      { class: 'muted' },
      tasks.length
        ? `Tasks with a per-key limit: ${tasks.join(', ')}.`
        : 'No task this process has a handler for has a per-key limit (concurrencyKey or lock) in this queue; keys of other processes’ tasks still show.',
    ),
    page.tenants.length
      ? h(
          'table',
          { id: 'tenants' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Task', 'Key', 'Running / limit', 'Starting', 'Parked', 'Rate limit'].map(
                (t, i) => h('th', { class: i >= 2 && i <= 4 ? 'num' : '' }, t),
              ),
            ),
          ),
          h('tbody', {}, ...rows),
        )
      : h('p', { id: 'tenants-empty' }, 'No key of this queue runs or waits now.'),
    page.cursor
      ? h(
          'div',
          { class: 'toolbar' },
          h(
            'a',
            { href: `#/tenants/${encodeURIComponent(name)}?cursor=${page.cursor}` },
            'Next keys',
          ),
        )
      : null,
    h(
      'p',
      { class: 'muted' },
      'Parked: jobs waiting in the key’s line, refused by its limit or met behind it, most ' +
        'parked first. Starting: woken from the line, their slot held. A key’s jobs that no ' +
        'worker has met yet are not indexed by key: they count in the queue’s waiting jobs ' +
        '(Overview) only.',
    ),
  );
  state.timer = window.setTimeout(() => {
    if (mine === state.view) void tenantsView(mine, queue, params).catch(failed);
  }, 2000);
}

function rate(limit: { max: number; durationMs: number }): string {
  const ms = limit.durationMs;
  const per =
    ms % 3_600_000 === 0
      ? `${ms / 3_600_000}h`
      : ms % 60_000 === 0
        ? `${ms / 60_000}m`
        : ms % 1000 === 0
          ? `${ms / 1000}s`
          : `${ms}ms`;
  return `${limit.max} per ${per.replace(/^1(?=[a-z])/, '')}`;
}
