// Workflows: recent chains, groups and chords (each a tree of steps with their jobs' states)
// and durable workflows (status, history; cancel, confirmed).
import {
  type Child,
  act,
  actionButton,
  api,
  failed,
  h,
  json,
  loadOverview,
  router,
  show,
  state,
  time,
  toast,
} from './core.js';

interface StepInfo {
  path: string;
  kind: 'task' | 'collector' | 'fan-out';
  taskName: string;
  queue: string;
  jobId: string;
  state: string;
  error?: string;
}
interface TreeNode {
  kind: 'step' | 'chain' | 'group' | 'chord' | 'fan-out';
  path: string;
  step?: StepInfo;
  children: TreeNode[];
}
interface CanvasRow {
  id: string;
  startedAt: string;
  state: string;
  steps: number;
}
interface DurableRow {
  id: string;
  name: string;
  status: string;
  createdAt: string;
}
interface HistoryEntry {
  seq: number;
  kind: string;
  task?: string;
  signal?: string;
  state: string;
  startedAt: string;
  endedAt?: string;
  until?: string;
  result?: unknown;
  error?: { name: string; message: string };
}
interface DurableDetail {
  id: string;
  name: string;
  status: string;
  input: unknown;
  result?: unknown;
  error?: { name: string; message: string };
  compensationError?: { name: string; message: string };
  cancelRequested: boolean;
  current?: HistoryEntry;
  history: HistoryEntry[];
  createdAt: string;
  updatedAt: string;
}

const DURABLE_STATUSES = [
  '',
  'running',
  'compensating',
  'completed',
  'failed',
  'compensated',
  'cancelled',
];
const FINISHED = new Set(['completed', 'failed', 'cancelled', 'compensated']);

/** `#/workflows`, `#/workflows/canvas/<id>`, `#/workflows/durable/<id>`. */
export async function workflowsView(
  mine: number,
  parts: string[],
  params: URLSearchParams,
): Promise<void> {
  if (!state.queues.length) await loadOverview();
  if (parts[1] === 'canvas' && parts[2]) return canvasView(mine, parts[2]);
  if (parts[1] === 'durable' && parts[2]) return durableView(mine, parts[2]);
  return listView(mine, params);
}

const badge = (value: string) => h('span', { class: `badge ${value}` }, value);
const canvasLink = (id: string) => `#/workflows/canvas/${encodeURIComponent(id)}`;
const durableLink = (id: string) => `#/workflows/durable/${encodeURIComponent(id)}`;

async function listView(mine: number, params: URLSearchParams): Promise<void> {
  const status = params.get('status') ?? '';
  const [canvas, durable] = await Promise.all([
    api<{ workflows: CanvasRow[] }>('workflows/canvas'),
    api<{ workflows: DurableRow[] }>(
      `workflows/durable${status ? `?status=${encodeURIComponent(status)}` : ''}`,
    ),
  ]);
  if (mine !== state.view) return;
  const open = h(
    'form',
    {
      class: 'toolbar',
      id: 'open-workflow',
      onsubmit: (event: Event) => {
        event.preventDefault();
        const id = String(new FormData(event.target as HTMLFormElement).get('id') ?? '').trim();
        if (id) location.hash = id.startsWith('wf-') ? canvasLink(id) : durableLink(id);
      },
    },
    h('input', { name: 'id', placeholder: 'wf-… or a durable workflow id', size: '44' }),
    h('button', { type: 'submit' }, 'Open'),
  );
  show(
    h('h2', {}, 'Workflows'),
    open,
    h('h3', {}, 'Chains, groups and chords (most recent)'),
    canvas.workflows.length
      ? table(
          'canvas-workflows',
          ['Workflow', 'Started', 'State', 'Steps'],
          canvas.workflows.map((w) =>
            h(
              'tr',
              { 'data-workflow': w.id },
              h('td', {}, h('a', { href: canvasLink(w.id) }, w.id)),
              h('td', {}, time(w.startedAt)),
              h('td', {}, badge(w.state)),
              h('td', { class: 'num' }, w.steps),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No chain, group or chord started in the last 7 days.'),
    h('h3', {}, 'Durable workflows'),
    h(
      'form',
      { class: 'toolbar', id: 'durable-filter' },
      h(
        'label',
        {},
        'Status ',
        h(
          'select',
          {
            name: 'status',
            onchange: (event: Event) => {
              const value = (event.target as HTMLSelectElement).value;
              location.hash = `#/workflows${value ? `?status=${value}` : ''}`;
            },
          },
          ...DURABLE_STATUSES.map((s) =>
            h('option', { value: s, selected: s === status }, s || 'any'),
          ),
        ),
      ),
    ),
    durable.workflows.length
      ? table(
          'durable-workflows',
          ['Workflow', 'Name', 'Status', 'Started'],
          durable.workflows.map((w) =>
            h(
              'tr',
              { 'data-workflow': w.id },
              h('td', {}, h('a', { href: durableLink(w.id) }, w.id)),
              h('td', {}, w.name),
              h('td', {}, badge(w.status)),
              h('td', {}, time(w.createdAt)),
            ),
          ),
        )
      : h('p', { class: 'muted' }, 'No durable workflow.'),
  );
  state.timer = window.setTimeout(() => {
    if (mine === state.view) void listView(mine, params).catch(failed);
  }, 5000);
}

async function canvasView(mine: number, id: string): Promise<void> {
  const workflow = await api<{ id: string; state: string; tree: TreeNode }>(
    `workflows/canvas/${encodeURIComponent(id)}`,
  );
  if (mine !== state.view) return;
  show(
    h(
      'h2',
      {},
      `Workflow ${workflow.id} `,
      h('span', { id: 'workflow-state' }, badge(workflow.state)),
    ),
    h('p', { class: 'muted' }, h('a', { href: '#/workflows' }, '← all workflows')),
    h('ul', { class: 'tree', id: 'workflow-tree' }, treeNode(workflow.tree)),
  );
  if (!['completed', 'failed', 'cancelled'].includes(workflow.state)) {
    state.timer = window.setTimeout(() => {
      if (mine === state.view) void canvasView(mine, id).catch(failed);
    }, 1000);
  }
}

function treeNode(node: TreeNode): HTMLElement {
  const step = node.step;
  const label: Child[] = [h('span', { class: `kind ${node.kind}` }, node.kind)];
  if (step) {
    const own =
      step.kind === 'task'
        ? step.taskName
        : step.kind === 'collector'
          ? 'collector'
          : 'fan-out job';
    label.push(
      ' ',
      h(
        'a',
        { href: `#/job/${encodeURIComponent(step.queue)}/${encodeURIComponent(step.jobId)}` },
        own,
      ),
      ' ',
      badge(step.state),
      step.error ? h('span', { class: 'muted' }, ` ${step.error}`) : null,
    );
  }
  if (node.path.endsWith('.callback')) label.unshift(h('span', { class: 'muted' }, 'callback: '));
  return h(
    'li',
    { 'data-path': node.path, 'data-state': step?.state },
    ...label,
    node.children.length ? h('ul', {}, ...node.children.map(treeNode)) : null,
  );
}

async function durableView(mine: number, id: string): Promise<void> {
  const workflow = await api<DurableDetail>(`workflows/durable/${encodeURIComponent(id)}`);
  if (mine !== state.view) return;
  const stepJob = (entry: HistoryEntry) =>
    entry.kind === 'step' || entry.kind === 'compensation'
      ? h(
          'a',
          {
            href: `#/jobs?id=${encodeURIComponent(`dwf~${workflow.id}~${entry.kind === 'compensation' ? 'c' : ''}${entry.seq}`)}`,
          },
          entry.task ?? 'job',
        )
      : (entry.task ?? entry.signal ?? '');
  show(
    h(
      'h2',
      {},
      `Workflow ${workflow.id} `,
      h('span', { id: 'workflow-state' }, badge(workflow.status)),
    ),
    h('p', { class: 'muted' }, h('a', { href: '#/workflows' }, '← all workflows')),
    h(
      'dl',
      { class: 'facts' },
      h('dt', {}, 'Name'),
      h('dd', {}, workflow.name),
      h('dt', {}, 'Started'),
      h('dd', {}, time(workflow.createdAt)),
      h('dt', {}, 'Updated'),
      h('dd', {}, time(workflow.updatedAt)),
      workflow.cancelRequested ? h('dt', {}, 'Cancel') : null,
      workflow.cancelRequested ? h('dd', {}, 'requested') : null,
      workflow.current ? h('dt', {}, 'Waiting for') : null,
      workflow.current
        ? h(
            'dd',
            {},
            `${workflow.current.kind} ${workflow.current.task ?? workflow.current.signal ?? ''}`,
          )
        : null,
    ),
    h(
      'div',
      { class: 'toolbar' },
      FINISHED.has(workflow.status) || workflow.cancelRequested
        ? null
        : actionButton(
            'Cancel',
            `Cancel workflow ${workflow.id}? Its completed steps' compensations run.`,
            `workflows/durable/${encodeURIComponent(workflow.id)}/cancel`,
            () => void router.route(),
            true,
          ),
    ),
    FINISHED.has(workflow.status) || state.readOnly ? null : signalForm(workflow),
    h('h3', {}, 'Input'),
    json(workflow.input),
    workflow.status === 'completed' ? h('h3', {}, 'Result') : null,
    workflow.status === 'completed' ? json(workflow.result) : null,
    workflow.error ? h('h3', {}, 'Error') : null,
    workflow.error ? h('pre', {}, `${workflow.error.name}: ${workflow.error.message}`) : null,
    h('h3', {}, 'History'),
    table(
      'workflow-history',
      ['#', 'Kind', 'Task / signal', 'State', 'Started', 'Ended', 'Outcome'],
      workflow.history.map((entry) =>
        h(
          'tr',
          { 'data-seq': String(entry.seq) },
          h('td', { class: 'num' }, entry.seq),
          h('td', {}, entry.kind),
          h('td', {}, stepJob(entry)),
          h('td', {}, badge(entry.state)),
          h('td', {}, time(entry.startedAt)),
          h(
            'td',
            {},
            entry.endedAt ? time(entry.endedAt) : entry.until ? `until ${time(entry.until)}` : '—',
          ),
          h(
            'td',
            { class: 'muted' },
            entry.error
              ? `${entry.error.name}: ${entry.error.message}`
              : entry.result === undefined
                ? ''
                : JSON.stringify(entry.result),
          ),
        ),
      ),
    ),
  );
  if (!FINISHED.has(workflow.status)) {
    // Refreshes every 2 s, but not under an operator typing a signal: that would wipe it.
    const again = () => {
      if (mine !== state.view) return;
      if (typingSignal()) state.timer = window.setTimeout(again, 2000);
      else void durableView(mine, id).catch(failed);
    };
    state.timer = window.setTimeout(again, 2000);
  }
}

function typingSignal(): boolean {
  const form = document.getElementById('signal');
  if (!form) return false;
  const data = form.querySelector<HTMLInputElement>('input[name=data]');
  return form.contains(document.activeElement) || Boolean(data?.value);
}

function table(id: string, heads: string[], rows: HTMLElement[]): HTMLElement {
  return h(
    'table',
    { id },
    h('thead', {}, h('tr', {}, ...heads.map((t) => h('th', {}, t)))),
    h('tbody', {}, ...rows),
  );
}

/**
 * Sends a signal to a running durable workflow, confirmed first: the name is the awaited one
 * when the workflow waits for a signal; the data, if any, is JSON.
 */
function signalForm(workflow: DurableDetail): HTMLElement {
  const waiting = workflow.current?.kind === 'wait' ? workflow.current.signal : undefined;
  return h(
    'form',
    {
      id: 'signal',
      class: 'search',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const form = new FormData(event.target as HTMLFormElement);
        const name = String(form.get('name') ?? '').trim();
        const text = String(form.get('data') ?? '').trim();
        let data: unknown;
        try {
          data = text ? JSON.parse(text) : undefined;
        } catch {
          toast(`the data is not JSON: ${text}`, true);
          return;
        }
        const path = `workflows/durable/${encodeURIComponent(workflow.id)}/signal`;
        if (await act(`Send signal ${name} to workflow ${workflow.id}?`, path, { name, data })) {
          void router.route();
        }
      },
    },
    h('label', {}, 'Signal', h('input', { name: 'name', required: true, value: waiting ?? '' })),
    h('label', {}, 'Data (JSON)', h('input', { name: 'data', placeholder: '"yes"' })),
    h('button', { type: 'submit', 'data-action': 'signal' }, 'Send signal'),
  );
}
