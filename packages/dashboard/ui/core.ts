// Conveyor's dashboard page: what every view shares (state, DOM helpers, the API client,
// formatting). Views live in view-*.ts and register in app.ts's route table.
export type Attrs = Record<string, string | boolean | ((event: Event) => void) | undefined>;
export type Child = Node | string | number | null | undefined | false;

export interface QueueOverview {
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
  throughput: number[];
  runTime: number[];
  completedLastHour: number;
  failedLastHour: number;
  avgRunMs: number;
  workers: number;
  concurrency: number;
}
export interface Overview {
  readOnly: boolean;
  queues: QueueOverview[];
  breakers: Array<{ name: string; state: string }>;
}
export interface JobSummary {
  id: string;
  queue: string;
  task: string;
  state: string;
  payload: unknown;
  enqueuedAt?: number;
}
export interface JobDetail extends JobSummary {
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
export interface DeadLetter {
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

/** What the views share. `view` is bumped on every navigation, so a slow answer for a view
 * left behind draws nothing. */
export const state = {
  readOnly: true,
  queues: [] as QueueOverview[],
  timer: undefined as number | undefined,
  view: 0,
};

/** Set by app.ts: draws the view the URL's hash names. */
export const router = { route: async (): Promise<void> => undefined };

export { TOKEN_KEY };
export class Unauthorized extends Error {}

export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
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

export function show(...nodes: Child[]): void {
  main.replaceChildren(
    ...nodes
      .filter((n): n is Node | string | number => n !== null && n !== undefined && n !== false)
      .map((n) => (typeof n === 'object' ? n : String(n))),
  );
}

export function toast(message: string, error = false): void {
  const el = document.getElementById('toast')!;
  el.textContent = message;
  el.className = error ? 'error' : '';
  window.setTimeout(() => {
    if (el.textContent === message) el.textContent = '';
  }, 4000);
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown } = {},
): Promise<T> {
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
export async function act(question: string, path: string, body?: unknown): Promise<boolean> {
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

export function actionButton(
  label: string,
  question: string,
  path: string,
  after: () => void,
  danger = false,
): Child {
  if (state.readOnly) return null;
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

export function login(message: string): void {
  window.clearInterval(state.timer);
  state.view++;
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
        void router.route();
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

export async function loadOverview(): Promise<Overview> {
  const overview = await api<Overview>('overview');
  state.readOnly = overview.readOnly;
  state.queues = overview.queues;
  document.getElementById('mode')!.hidden = !state.readOnly;
  document.getElementById('nav')!.hidden = false;
  document.getElementById('logout')!.hidden = !sessionStorage.getItem(TOKEN_KEY);
  return overview;
}

export const count = (n: number) => h('td', { class: 'num' }, n.toLocaleString('en'));

export function age(ms: number): string {
  if (!ms) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 360) / 10}h`;
}

export function time(at: number | string | undefined): string {
  return at === undefined ? '—' : new Date(at).toISOString().replace('T', ' ').replace('Z', '');
}

export function json(value: unknown): HTMLElement {
  return h('pre', {}, value === undefined ? '—' : JSON.stringify(value, null, 2));
}

export function queueSelect(selected: string | null, name = 'queue'): HTMLElement {
  return h(
    'select',
    { name },
    ...state.queues.map((q) =>
      h('option', { value: q.queue, selected: q.queue === selected }, q.queue),
    ),
  );
}

export function truncate(text: string | undefined, n: number): string {
  if (text === undefined) return '';
  return text.length > n ? `${text.slice(0, n)}…` : text;
}

export function failed(error: unknown): void {
  if (error instanceof Unauthorized) return;
  show(h('p', { class: 'error' }, (error as Error).message));
}

const SVG = 'http://www.w3.org/2000/svg';

/**
 * A small line of `values` (one a minute, oldest first) as an SVG polyline, with `title` as its
 * tooltip. Drawn with attributes only: the page's CSP allows no inline style.
 */
export function sparkline(values: number[], title: string, width = 120, height = 24): Element {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('width', String(width));
  svg.setAttribute('height', String(height));
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', title);
  const tip = document.createElementNS(SVG, 'title');
  tip.textContent = title;
  svg.append(tip);
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute(
    'points',
    values
      .map(
        (v, i) => `${(i * step).toFixed(1)},${(height - 1 - (v / max) * (height - 2)).toFixed(1)}`,
      )
      .join(' '),
  );
  svg.append(line);
  return svg;
}

/** A duration in ms as people read it: 840 ms, 2.4 s, 3.1 min. */
export function ms(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  if (value < 1_000) return `${Math.round(value)} ms`;
  if (value < 60_000) return `${(value / 1_000).toFixed(1)} s`;
  return `${(value / 60_000).toFixed(1)} min`;
}
