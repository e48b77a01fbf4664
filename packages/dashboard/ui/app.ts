// Conveyor's dashboard page: plain TypeScript and the DOM, compiled by tsc into one script.
// It asks for the token (kept in sessionStorage, so it ends with the tab), sends it with every
// API call, and routes on the URL's hash. Text is always set as text, never as HTML.

type Attrs = Record<string, string | boolean | ((event: Event) => void) | undefined>;
type Child = Node | string | number | null | undefined | false;

interface QueueOverview {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  deadLettered: number;
  waitingChildren: number;
  oldestWaitingAgeMs: number;
  paused: boolean;
  tasks: string[];
}
interface Overview {
  readOnly: boolean;
  queues: QueueOverview[];
  breakers: Array<{ name: string; state: string }>;
}
interface JobSummary {
  id: string;
  queue: string;
  task: string;
  state: string;
  payload: unknown;
  enqueuedAt?: number;
}
interface JobDetail extends JobSummary {
  result?: unknown;
  attemptsMade: number;
  maxAttempts: number;
  errors: Array<{ attempt: number; name: string; message: string; stack: string }>;
  failedReason?: string;
  progress?: unknown;
  worker?: string;
  logs: string[];
  timeline: Array<{ at: number; event: string }>;
}
interface DeadLetter {
  id: string;
  taskName: string;
  error: { name: string; message: string };
  attemptsMade: number;
  failedAt?: string;
}

const TOKEN_KEY = 'conveyor.token';
const USER_KEY = 'conveyor.user';
const base = document.querySelector('meta[name="conveyor-base"]')?.getAttribute('content') ?? '';
const main = document.getElementById('main')!;
let readOnly = true;
let queues: QueueOverview[] = [];
let timer: number | undefined;
// Bumped on every navigation, so a slow answer for a view left behind draws nothing.
let view = 0;

class Unauthorized extends Error {}

function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === 'object' ? child : String(child));
  }
  return el;
}

function show(...nodes: Child[]): void {
  main.replaceChildren(
    ...nodes
      .filter((n): n is Node | string | number => n !== null && n !== undefined && n !== false)
      .map((n) => (typeof n === 'object' ? n : String(n))),
  );
}

function toast(message: string, error = false): void {
  const el = document.getElementById('toast')!;
  el.textContent = message;
  el.className = error ? 'error' : '';
  window.setTimeout(() => {
    if (el.textContent === message) el.textContent = '';
  }, 4000);
}

async function api<T>(path: string, init: { method?: string; body?: unknown } = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = sessionStorage.getItem(TOKEN_KEY);
  const user = sessionStorage.getItem(USER_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (user) headers['x-conveyor-user'] = user;
  if (init.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(`${base}/api/${path}`, {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    credentials: 'same-origin',
  });
  const text = await response.text();
  const body = text ? JSON.parse(text) : undefined;
  if (response.status === 401) {
    login(body?.message ?? 'Sign in to continue');
    throw new Unauthorized();
  }
  if (!response.ok) throw new Error(body?.message ?? `${response.status} ${response.statusText}`);
  return body as T;
}

/** Runs an action after the user confirms it; reports what happened. */
async function act(question: string, path: string, body?: unknown): Promise<boolean> {
  if (!window.confirm(question)) return false;
  try {
    const outcome = await api<unknown>(path, { method: 'POST', body: body ?? {} });
    toast(`Done: ${JSON.stringify(outcome)}`);
    return true;
  } catch (error) {
    if (!(error instanceof Unauthorized)) toast((error as Error).message, true);
    return false;
  }
}

function actionButton(
  label: string,
  question: string,
  path: string,
  after: () => void,
  danger = false,
): Child {
  if (readOnly) return null;
  return h(
    'button',
    {
      type: 'button',
      class: danger ? 'danger' : '',
      'data-action': label.toLowerCase(),
      onclick: async () => {
        if (await act(question, path)) after();
      },
    },
    label,
  );
}

function login(message: string): void {
  window.clearInterval(timer);
  view++;
  document.getElementById('nav')!.hidden = true;
  document.getElementById('logout')!.hidden = true;
  const form = h(
    'form',
    {
      class: 'login',
      id: 'login',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        sessionStorage.setItem(TOKEN_KEY, String(data.get('token') ?? ''));
        const user = String(data.get('user') ?? '').trim();
        if (user) sessionStorage.setItem(USER_KEY, user);
        else sessionStorage.removeItem(USER_KEY);
        void route();
      },
    },
    h('h2', {}, 'Sign in to Conveyor'),
    h('p', { class: 'error', id: 'login-error' }, message),
    h(
      'label',
      {},
      'Token',
      h('input', {
        name: 'token',
        type: 'password',
        autocomplete: 'current-password',
        required: true,
      }),
    ),
    h(
      'label',
      {},
      'Your name, for the action log',
      h('input', {
        name: 'user',
        autocomplete: 'username',
        value: sessionStorage.getItem(USER_KEY) ?? '',
      }),
    ),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
  );
  show(form);
}

async function loadOverview(): Promise<Overview> {
  const overview = await api<Overview>('overview');
  readOnly = overview.readOnly;
  queues = overview.queues;
  document.getElementById('mode')!.hidden = !readOnly;
  document.getElementById('nav')!.hidden = false;
  document.getElementById('logout')!.hidden = !sessionStorage.getItem(TOKEN_KEY);
  return overview;
}

const count = (n: number) => h('td', { class: 'num' }, n.toLocaleString('en'));

function age(ms: number): string {
  if (!ms) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 360) / 10}h`;
}

function time(at: number | string | undefined): string {
  return at === undefined ? '—' : new Date(at).toISOString().replace('T', ' ').replace('Z', '');
}

function json(value: unknown): HTMLElement {
  return h('pre', {}, value === undefined ? '—' : JSON.stringify(value, null, 2));
}

async function overviewView(mine: number): Promise<void> {
  const overview = await loadOverview();
  if (mine !== view) return;
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
              () => void route(),
            )
          : actionButton(
              'Pause',
              `Pause queue ${q.queue}? Running jobs finish; waiting ones wait.`,
              `queues/${encodeURIComponent(q.queue)}/pause`,
              () => void route(),
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
  timer = window.setTimeout(() => {
    if (mine === view) void overviewView(mine).catch(failed);
  }, 2000);
}

function queueSelect(selected: string | null, name = 'queue'): HTMLElement {
  return h(
    'select',
    { name },
    ...queues.map((q) => h('option', { value: q.queue, selected: q.queue === selected }, q.queue)),
  );
}

async function jobsView(mine: number, params: URLSearchParams): Promise<void> {
  if (!queues.length) await loadOverview();
  if (mine !== view) return;
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
  const load = async (cursor?: string) => {
    const query = new URLSearchParams(params);
    if (cursor) query.set('cursor', cursor);
    const page = await api<{ jobs: JobSummary[]; cursor: string | null; scanned?: number }>(
      `jobs?${query}`,
    );
    if (mine !== view) return;
    scanned += page.scanned ?? 0;
    for (const job of page.jobs) {
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
          `${table.children.length} found, ${scanned.toLocaleString('en')} jobs read`,
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

function truncate(text: string | undefined, n: number): string {
  if (text === undefined) return '';
  return text.length > n ? `${text.slice(0, n)}…` : text;
}

async function jobView(mine: number, queue: string, id: string): Promise<void> {
  if (!queues.length) await loadOverview();
  const job = await api<JobDetail>(`jobs/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`);
  if (mine !== view) return;
  const path = `jobs/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`;
  const again = () => void route();
  const actions = h(
    'div',
    { class: 'toolbar' },
    ['waiting', 'delayed', 'active'].includes(job.state)
      ? actionButton(
          'Cancel',
          `Cancel job ${id}? It will not be retried.`,
          `${path}/cancel`,
          again,
          true,
        )
      : null,
    job.state === 'delayed'
      ? actionButton('Promote', `Run delayed job ${id} now?`, `${path}/promote`, again)
      : null,
    job.state === 'dead-lettered'
      ? actionButton('Retry', `Run job ${id} again with fresh attempts?`, `${path}/retry`, again)
      : null,
  );
  show(
    h(
      'h2',
      {},
      `Job ${job.id} `,
      h('span', { class: `badge ${job.state}`, id: 'job-state' }, job.state),
    ),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Queue'),
      h('dd', {}, job.queue),
      h('dt', {}, 'Task'),
      h('dd', {}, job.task),
      h('dt', {}, 'Attempts'),
      h('dd', {}, `${job.attemptsMade} of ${job.maxAttempts}`),
      h('dt', {}, 'Worker'),
      h('dd', {}, job.worker ?? '—'),
      job.progress !== undefined ? h('dt', {}, 'Progress') : null,
      job.progress !== undefined ? h('dd', {}, JSON.stringify(job.progress)) : null,
    ),
    actions,
    h('h3', {}, 'Payload'),
    json(job.payload),
    job.state === 'completed' ? h('h3', {}, 'Result') : null,
    job.state === 'completed' ? json(job.result) : null,
    h('h3', {}, 'Timeline'),
    h(
      'ol',
      { class: 'timeline' },
      ...job.timeline.map((t) =>
        h('li', {}, h('span', { class: 'muted' }, time(t.at)), ` ${t.event}`),
      ),
    ),
    job.errors.length ? h('h3', {}, 'Failed attempts (a replay keeps the earlier ones)') : null,
    ...job.errors.map((e) =>
      h(
        'details',
        {},
        h('summary', {}, `Failure ${e.attempt}: ${e.name}: ${e.message}`),
        h('pre', {}, e.stack),
      ),
    ),
    job.logs.length ? h('h3', {}, 'Logs') : null,
    job.logs.length ? h('pre', {}, job.logs.join('\n')) : null,
  );
  // Watch a job that has not finished, e.g. one just replayed.
  if (!['completed', 'dead-lettered'].includes(job.state)) {
    timer = window.setTimeout(() => {
      if (mine === view) void jobView(mine, queue, id).catch(failed);
    }, 1000);
  }
}

async function deadLettersView(
  mine: number,
  queue: string | undefined,
  params: URLSearchParams,
): Promise<void> {
  if (!queues.length) await loadOverview();
  if (mine !== view) return;
  const name = queue ?? queues.find((q) => q.deadLettered > 0)?.queue ?? queues[0]?.queue;
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
  if (mine !== view) return;
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
  const again = () => void route();
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
  const bulk = readOnly
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

function failed(error: unknown): void {
  if (error instanceof Unauthorized) return;
  show(h('p', { class: 'error' }, (error as Error).message));
}

async function route(): Promise<void> {
  window.clearTimeout(timer);
  const mine = ++view;
  const [path, search = ''] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(search);
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', link.getAttribute('href') === `#/${parts[0] ?? ''}`);
  }
  try {
    if (parts[0] === 'jobs') await jobsView(mine, params);
    else if (parts[0] === 'job' && parts.length === 3) await jobView(mine, parts[1], parts[2]);
    else if (parts[0] === 'dead-letters') await deadLettersView(mine, parts[1], params);
    else await overviewView(mine);
  } catch (error) {
    failed(error);
  }
}

document.getElementById('logout')!.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  queues = [];
  login('Signed out.');
});
window.addEventListener('hashchange', () => void route());
void route();
