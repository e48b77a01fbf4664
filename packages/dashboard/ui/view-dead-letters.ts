// Dead letters: filter, inspect, replay one / filtered / all, purge.
import {
  DeadLetter,
  act,
  actionButton,
  api,
  count,
  h,
  loadOverview,
  queueSelect,
  router,
  show,
  state,
  time,
  truncate,
} from './core.js';

export async function deadLettersView(
  mine: number,
  queue: string | undefined,
  params: URLSearchParams,
): Promise<void> {
  if (!state.queues.length) await loadOverview();
  if (mine !== state.view) return;
  const name =
    queue ?? state.queues.find((q) => q.deadLettered > 0)?.queue ?? state.queues[0]?.queue;
  if (!name) return show(h('p', {}, 'No queues.'));
  const filter: Record<string, string> = {};
  for (const key of ['task', 'error', 'message'])
    if (params.get(key)) filter[key] = params.get(key)!;
  const query = new URLSearchParams({
    ...filter,
    offset: params.get('offset') ?? '0',
    limit: '50',
  });
  const page = await api<{ items: DeadLetter[]; total: number; nextOffset: number | null }>(
    `dead-letters/${encodeURIComponent(name)}?${query}`,
  );
  if (mine !== state.view) return;
  const q = encodeURIComponent(name);
  const filtered = Object.keys(filter).length > 0;
  const form = h(
    'form',
    {
      class: 'bar',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        const next = new URLSearchParams();
        for (const [key, value] of data)
          if (key !== 'queue' && String(value)) next.set(key, String(value));
        location.hash = `#/dead-letters/${encodeURIComponent(String(data.get('queue')))}?${next}`;
      },
    },
    h('label', {}, 'Queue', queueSelect(name)),
    h('label', {}, 'Task', h('input', { name: 'task', value: filter.task ?? '' })),
    h(
      'label',
      {},
      'Error name',
      h('input', { name: 'error', value: filter.error ?? '', placeholder: 'TypeError' }),
    ),
    h(
      'label',
      {},
      'Message contains',
      h('input', { name: 'message', value: filter.message ?? '' }),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Filter'),
  );
  const again = () => void router.route();
  // The bulk actions send the filter, or `all: true`: the API refuses an empty filter alone.
  const bulkButton = (verb: 'replay' | 'purge', all: boolean) => {
    const label = `${verb === 'replay' ? 'Replay' : 'Purge'} ${all ? 'all' : 'filtered'}`;
    const which = all ? `all ${page.total}` : 'the matching';
    const question =
      verb === 'replay'
        ? `Replay ${which} dead letters of ${name} with fresh attempts?`
        : `Delete ${which} dead letters of ${name}? This cannot be undone.`;
    return h(
      'button',
      {
        type: 'button',
        class: verb === 'purge' ? 'danger' : '',
        'data-action': label.toLowerCase(),
        onclick: async () => {
          if (await act(question, `dead-letters/${q}/${verb}`, all ? { all: true } : { filter }))
            again();
        },
      },
      label,
    );
  };
  const bulk = state.readOnly
    ? null
    : h(
        'div',
        { class: 'toolbar' },
        filtered ? bulkButton('replay', false) : null,
        filtered ? bulkButton('purge', false) : null,
        bulkButton('replay', true),
        bulkButton('purge', true),
      );
  const rows = page.items.map((letter) => {
    const path = `dead-letters/${q}/${encodeURIComponent(letter.id)}`;
    return h(
      'tr',
      { 'data-job': letter.id },
      h('td', {}, h('a', { href: `#/job/${q}/${encodeURIComponent(letter.id)}` }, letter.id)),
      h('td', {}, letter.taskName),
      h('td', {}, h('strong', {}, letter.error.name), ': ', truncate(letter.error.message, 160)),
      count(letter.attemptsMade),
      h('td', { class: 'muted' }, time(letter.failedAt)),
      h(
        'td',
        { class: 'actions' },
        actionButton(
          'Replay',
          `Replay dead letter ${letter.id} with fresh attempts?`,
          `${path}/replay`,
          () => {
            location.hash = `#/job/${q}/${encodeURIComponent(letter.id)}`;
          },
        ),
        ' ',
        actionButton(
          'Purge',
          `Delete dead letter ${letter.id}? This cannot be undone.`,
          `${path}/purge`,
          again,
          true,
        ),
      ),
    );
  });
  const next = page.nextOffset;
  show(
    h(
      'h2',
      {},
      `Dead letters of ${name} `,
      h('span', { class: 'badge dead-lettered' }, page.total.toLocaleString('en')),
    ),
    form,
    bulk,
    h(
      'table',
      { id: 'dead-letters' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Id', 'Task', 'Final error', 'Attempts', 'Failed at', ''].map((t) => h('th', {}, t)),
        ),
      ),
      h('tbody', {}, ...rows),
    ),
    next !== null
      ? h(
          'div',
          { class: 'toolbar' },
          h(
            'a',
            {
              href: `#/dead-letters/${q}?${new URLSearchParams({ ...filter, offset: String(next) })}`,
            },
            'Next page',
          ),
        )
      : null,
  );
}
