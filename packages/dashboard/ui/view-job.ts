// One job: payload, result, attempts with errors, timeline, logs, actions.
import {
  JobDetail,
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
} from './core.js';

export async function jobView(mine: number, queue: string, id: string): Promise<void> {
  if (!state.queues.length) await loadOverview();
  const job = await api<JobDetail>(`jobs/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`);
  if (mine !== state.view) return;
  const path = `jobs/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`;
  const again = () => void router.route();
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
      job.workflow ? h('dt', {}, 'Workflow') : null,
      job.workflow
        ? h(
            'dd',
            {},
            h(
              'a',
              {
                id: 'job-workflow',
                href: `#/workflows/${job.workflow.kind}/${encodeURIComponent(job.workflow.id)}`,
              },
              job.workflow.id,
            ),
            h('span', { class: 'muted' }, ` (${job.workflow.kind}, step ${job.workflow.at})`),
          )
        : null,
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
    state.timer = window.setTimeout(() => {
      if (mine === state.view) void jobView(mine, queue, id).catch(failed);
    }, 1000);
  }
}
