// Workers: the live worker processes (their heartbeats in Redis) and the totals per queue.
import { age, api, count, failed, h, loadOverview, show, state, time } from './core.js';

interface WorkerQueue {
  name: string;
  concurrency: number;
  running: number;
  finished: number;
  averageRunMs: number;
}
interface Worker {
  id: string;
  host: string;
  pid: number;
  version: string;
  startedAt: string;
  lastSeenAt: string;
  stopping: boolean;
  queues: WorkerQueue[];
  running: Array<{ task: string; jobId: string; queue: string; startedAt: string }>;
}
interface QueueWorkers {
  queue: string;
  workers: number;
  stopping: number;
  concurrency: number;
  running: number;
}

const SHOWN_JOBS = 3;

export async function workersView(mine: number): Promise<void> {
  if (!state.queues.length) await loadOverview();
  const [{ workers }, { queues }] = await Promise.all([
    api<{ workers: Worker[] }>('workers'),
    api<{ queues: QueueWorkers[] }>('workers?by=queue'),
  ]);
  if (mine !== state.view) return;
  const now = Date.now();
  const queueRows = queues.map((q) =>
    h(
      'tr',
      { 'data-queue': q.queue },
      h('td', {}, h('strong', {}, q.queue)),
      h(
        'td',
        { class: 'num' },
        q.workers
          ? q.workers.toLocaleString('en')
          : h('span', { class: 'badge dead-lettered' }, 'none'),
      ),
      count(q.concurrency),
      count(q.running),
      h('td', { class: 'num' }, q.stopping ? q.stopping.toLocaleString('en') : '—'),
    ),
  );
  const workerRows = workers.map((w) =>
    h(
      'tr',
      { 'data-worker': w.id },
      h(
        'td',
        {},
        h('strong', {}, w.host),
        ' ',
        w.stopping ? h('span', { class: 'badge paused' }, 'stopping') : null,
      ),
      h('td', { class: 'num' }, String(w.pid)),
      h('td', {}, w.version),
      h(
        'td',
        { class: 'worker-queues' },
        ...w.queues.map((q) =>
          h(
            'div',
            { 'data-queue': q.name },
            h('strong', {}, q.name),
            ` ${q.running}/${q.concurrency} running`,
            h(
              'span',
              { class: 'muted' },
              q.finished
                ? ` · ${q.finished} done in the last minute, ${Math.round(q.averageRunMs)} ms avg`
                : '',
            ),
          ),
        ),
      ),
      h(
        'td',
        {},
        w.running.length
          ? h(
              'div',
              {},
              // The oldest few: the page refreshes, so nothing here is kept open or scrolled.
              ...w.running.slice(0, SHOWN_JOBS).map((r) =>
                h(
                  'div',
                  { 'data-job': r.jobId },
                  h(
                    'a',
                    {
                      href: `#/job/${encodeURIComponent(r.queue)}/${encodeURIComponent(r.jobId)}`,
                    },
                    r.jobId,
                  ),
                  ` ${r.task}`,
                  h(
                    'span',
                    { class: 'muted' },
                    ` for ${age(Math.max(1000, now - Date.parse(r.startedAt)))}`,
                  ),
                ),
              ),
              w.running.length > SHOWN_JOBS
                ? h('div', { class: 'muted' }, `and ${w.running.length - SHOWN_JOBS} more`)
                : null,
            )
          : h('span', { class: 'muted' }, 'idle'),
      ),
      h('td', { class: 'muted' }, time(w.startedAt)),
      h('td', { class: 'num', title: time(w.lastSeenAt) }, `${ago(now, w.lastSeenAt)} ago`),
    ),
  );
  show(
    h('h2', {}, 'Workers'),
    h(
      'table',
      { id: 'worker-queues' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Queue', 'Live workers', 'Concurrency', 'Running', 'Stopping'].map((t, i) =>
            h('th', { class: i > 0 ? 'num' : '' }, t),
          ),
        ),
      ),
      h('tbody', {}, ...queueRows),
    ),
    h('h3', {}, `Processes `, h('span', { class: 'badge' }, String(workers.length))),
    workers.length
      ? h(
          'table',
          { id: 'workers' },
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...[
                'Host',
                'PID',
                'Version',
                'Queues',
                'Running jobs',
                'Started',
                'Last heartbeat',
              ].map((t, i) => h('th', { class: i === 1 || i === 6 ? 'num' : '' }, t)),
            ),
          ),
          h('tbody', {}, ...workerRows),
        )
      : h('p', { id: 'workers-none' }, 'No live worker process: no job of any queue runs now.'),
  );
  state.timer = window.setTimeout(() => {
    if (mine === state.view) void workersView(mine).catch(failed);
  }, 2000);
}

/** A heartbeat's age; a second at least, as heartbeats come every few seconds. */
function ago(now: number, at: string): string {
  return age(Math.max(1000, now - Date.parse(at)));
}
