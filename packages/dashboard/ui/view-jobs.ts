// Job search: by id, by task and state, by payload field (a bounded scan with a cursor).
import {
  JobSummary,
  api,
  failed,
  h,
  loadOverview,
  queueSelect,
  show,
  state,
  time,
  truncate,
} from './core.js';

export async function jobsView(mine: number, params: URLSearchParams): Promise<void> {
  if (!state.queues.length) await loadOverview();
  if (mine !== state.view) return;
  const results = h('div', { id: 'results' });
  const form = h(
    'form',
    {
      class: 'bar',
      id: 'search',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        const query = new URLSearchParams();
        for (const [key, value] of data) if (String(value)) query.set(key, String(value));
        location.hash = `#/jobs?${query}`;
      },
    },
    h('label', {}, 'Queue', queueSelect(params.get('queue'))),
    h(
      'label',
      {},
      'State',
      h(
        'select',
        { name: 'state' },
        ...[
          '',
          'active',
          'waiting',
          'delayed',
          'dead-lettered',
          'completed',
          'waiting-children',
        ].map((s) =>
          h('option', { value: s, selected: s === (params.get('state') ?? '') }, s || 'any'),
        ),
      ),
    ),
    h(
      'label',
      {},
      'Task',
      h('input', { name: 'task', value: params.get('task') ?? '', placeholder: 'orders.charge' }),
    ),
    h(
      'label',
      {},
      'Payload field',
      h('input', { name: 'field', value: params.get('field') ?? '', placeholder: 'orderId' }),
    ),
    h(
      'label',
      {},
      'equals',
      h('input', { name: 'value', value: params.get('value') ?? '', placeholder: '42' }),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Search'),
  );
  const byId = h(
    'form',
    {
      class: 'bar',
      id: 'find-id',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const id = String(new FormData(event.target as HTMLFormElement).get('id') ?? '').trim();
        if (id) location.hash = `#/jobs?id=${encodeURIComponent(id)}`;
      },
    },
    h('label', {}, 'Job id', h('input', { name: 'id', value: params.get('id') ?? '' })),
    h('button', { type: 'submit' }, 'Find'),
  );
  show(h('h2', {}, 'Jobs'), byId, form, results);
  if (!params.get('queue') && !params.get('id')) return;
  const table = h('tbody', {});
  const more = h('div', { class: 'toolbar' });
  results.append(
    h(
      'table',
      { id: 'jobs' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Id', 'Queue', 'Task', 'State', 'Payload', 'Enqueued'].map((t) => h('th', {}, t)),
        ),
      ),
      table,
    ),
    more,
  );
  let scanned = 0;
  let indexed = false;
  // The index's jobs come first; the scan that follows it meets them again: shown once.
  const shown = new Set<string>();
  const load = async (cursor?: string) => {
    const query = new URLSearchParams(params);
    if (cursor) query.set('cursor', cursor);
    const page = await api<{
      jobs: JobSummary[];
      cursor: string | null;
      scanned?: number;
      indexed?: boolean;
    }>(`jobs?${query}`);
    if (mine !== state.view) return;
    scanned += page.scanned ?? 0;
    indexed ||= page.indexed === true;
    for (const job of page.jobs) {
      if (shown.has(`${job.queue}/${job.id}`)) continue;
      shown.add(`${job.queue}/${job.id}`);
      table.append(
        h(
          'tr',
          { 'data-job': job.id },
          h(
            'td',
            {},
            h(
              'a',
              { href: `#/job/${encodeURIComponent(job.queue)}/${encodeURIComponent(job.id)}` },
              job.id,
            ),
          ),
          h('td', {}, job.queue),
          h('td', {}, job.task),
          h('td', {}, h('span', { class: `badge ${job.state}` }, job.state)),
          h('td', {}, h('code', {}, truncate(JSON.stringify(job.payload), 120))),
          h('td', { class: 'muted' }, time(job.enqueuedAt)),
        ),
      );
    }
    more.replaceChildren(
      ...[
        h(
          'span',
          { class: 'muted' },
          `${table.children.length} found, ${scanned.toLocaleString('en')} job${scanned === 1 ? '' : 's'} read` +
            (page.indexed
              ? ' (from the search index; Read more scans the queue for jobs it does not hold)'
              : indexed
                ? ' (the search index, then the scan)'
                : ''),
        ),
        page.cursor
          ? h(
              'button',
              { type: 'button', id: 'more', onclick: () => void load(page.cursor!).catch(failed) },
              'Read more',
            )
          : null,
      ].filter((n): n is HTMLElement => n !== null),
    );
  };
  await load();
}
