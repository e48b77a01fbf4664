import { Logger } from '@nestjs/common';
import { chain, group, step, TaskProducer, Workflows } from '@conveyor/tasks';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { eventually } from '../support/tasks-app';
import { call, TOKEN } from './dashboard-app';
import { Approve, Explode, Resize, startWorkflowsApp, Sum } from './dashboard-workflows-app';

/** A tree node as the API answers it, reduced to kind, path, task and state. */
interface Shape {
  kind: string;
  path: string;
  task?: string;
  state?: string;
  children?: Shape[];
}

function shape(node: any): Shape {
  return {
    kind: node.kind,
    path: node.path,
    ...(node.step ? { task: node.step.taskName, state: node.step.state } : {}),
    ...(node.children.length ? { children: node.children.map(shape) } : {}),
  };
}

describe('@conveyor/dashboard workflows API', () => {
  let app: HttpTestApp | undefined;

  afterEach(async () => {
    jest.restoreAllMocks();
    const stopping = app;
    app = undefined;
    await stopHttpApps(stopping);
  });

  it('shows a chain, group and chord as a tree with each step state, and lists the recent ones', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    const summed = await producer.workflow(
      chain([group([step(Resize, { n: 1 }), step(Resize, { n: 2 })]), step(Sum)]),
    );
    await expect(summed.result({ timeout: '10s' })).resolves.toBe(30);
    const chorded = await producer.chord(
      [step(Resize, { n: 3 }), step(Resize, { n: 4 })],
      step(Sum),
    );
    await expect(chorded.result({ timeout: '10s' })).resolves.toBe(70);
    const failing = await producer.chain([step(Explode, { why: 'no disk' }), step(Sum)]);
    await expect(failing.result({ timeout: '10s' })).rejects.toThrow(/no disk/);

    const first = await call(app, `workflows/canvas/${summed.id}`);
    expect(first.status).toBe(200);
    expect(first.body.state).toBe('completed');
    expect(shape(first.body.tree)).toEqual({
      kind: 'chain',
      path: '0',
      children: [
        {
          kind: 'group',
          path: '0.0',
          task: 'conveyor.group',
          state: 'completed',
          children: [
            { kind: 'step', path: '0.0.0', task: 'images.resize', state: 'completed' },
            { kind: 'step', path: '0.0.1', task: 'images.resize', state: 'completed' },
          ],
        },
        { kind: 'step', path: '0.1', task: 'images.sum', state: 'completed' },
      ],
    });
    // Each step names its job, for the link to the job page.
    expect(first.body.tree.children[1].step).toMatchObject({
      queue: 'images',
      jobId: `${summed.id}.0.1`,
    });

    const second = await call(app, `workflows/canvas/${chorded.id}`);
    expect(shape(second.body.tree)).toEqual({
      kind: 'chord',
      path: '0',
      children: [
        { kind: 'step', path: '0.0', task: 'images.resize', state: 'completed' },
        { kind: 'step', path: '0.1', task: 'images.resize', state: 'completed' },
        { kind: 'step', path: '0.callback', task: 'images.sum', state: 'completed' },
      ],
    });

    const third = await call(app, `workflows/canvas/${failing.id}`);
    expect(third.body.state).toBe('failed');
    expect(shape(third.body.tree).children).toEqual([
      { kind: 'step', path: '0.0', task: 'images.explode', state: 'dead-lettered' },
      { kind: 'step', path: '0.1', task: 'images.sum', state: 'skipped' },
    ]);

    const list = await call(app, 'workflows/canvas');
    expect(list.status).toBe(200);
    expect(list.body.workflows).toEqual([
      { id: failing.id, startedAt: expect.any(String), state: 'failed', steps: 2 },
      { id: chorded.id, startedAt: expect.any(String), state: 'completed', steps: 3 },
      { id: summed.id, startedAt: expect.any(String), state: 'completed', steps: 4 },
    ]);
    expect((await call(app, 'workflows/canvas?limit=1')).body.workflows).toHaveLength(1);
    expect((await call(app, 'workflows/canvas?limit=0')).status).toBe(400);
  });

  it('draws the group a fan-out adds after a step', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    const handle = await app
      .get(TaskProducer)
      .chain([step(Resize, { n: 1 }), group([step(Resize, { n: 2 }), step(Resize, { n: 3 })])]);
    await expect(handle.result({ timeout: '10s' })).resolves.toEqual([20, 30]);
    const { body } = await call(app, `workflows/canvas/${handle.id}`);
    expect(body.state).toBe('completed');
    expect(shape(body.tree)).toEqual({
      kind: 'chain',
      path: '0',
      children: [
        { kind: 'step', path: '0.0', task: 'images.resize', state: 'completed' },
        {
          kind: 'fan-out',
          path: '0.1',
          task: 'conveyor.fan-out',
          state: 'completed',
          children: [
            {
              kind: 'group',
              path: '0.1.fan',
              task: 'conveyor.group',
              state: 'completed',
              children: [
                { kind: 'step', path: '0.1.fan.0', task: 'images.resize', state: 'completed' },
                { kind: 'step', path: '0.1.fan.1', task: 'images.resize', state: 'completed' },
              ],
            },
          ],
        },
      ],
    });
  });

  it('links a step job to its workflow, canvas or durable', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    const handle = await app.get(TaskProducer).chain([step(Resize, { n: 5 }), step(Sum)]);
    await handle.result({ timeout: '10s' });
    const stepJob = await call(app, `jobs/images/${handle.id}.0.1`);
    expect(stepJob.body.workflow).toEqual({ kind: 'canvas', id: handle.id, at: '0.1' });

    const run = await app.get(Workflows).start(Approve, { orderId: 'o-1' }, { id: 'approve-o-1' });
    const history = (await eventually(
      async () => {
        const info = await run.get();
        return info.history.find((entry) => entry.kind === 'step' && entry.state === 'ok')
          ? info.history
          : undefined;
      },
      10_000,
      'the durable step',
    ))!;
    const jobs = await call(
      app,
      `jobs?id=${encodeURIComponent(`dwf~approve-o-1~${history[0].seq}`)}`,
    );
    expect(jobs.body.jobs).toEqual([expect.objectContaining({ queue: 'images' })]);
    const durableStep = await call(app, `jobs/images/${encodeURIComponent(jobs.body.jobs[0].id)}`);
    expect(durableStep.body.workflow).toEqual({
      kind: 'durable',
      id: 'approve-o-1',
      at: String(history[0].seq),
    });

    // A job outside any workflow has no link.
    const alone = await app.get(TaskProducer).enqueue(Resize, { n: 6 });
    await alone.result({ timeout: '10s' });
    expect((await call(app, `jobs/images/${alone.id}`)).body.workflow).toBeUndefined();
  });

  it('lists durable workflows, shows one with its history, and cancels it', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    const workflows = app.get(Workflows);
    await workflows.start(Approve, { orderId: 'o-2' }, { id: 'approve-o-2' });
    await eventually(
      async () => (await workflows.get('approve-o-2')).current?.kind === 'wait',
      10_000,
      'the wait for approval',
    );

    const list = await call(app, 'workflows/durable');
    expect(list.status).toBe(200);
    expect(list.body.workflows).toEqual([
      {
        id: 'approve-o-2',
        name: 'order.approve',
        status: 'running',
        createdAt: expect.any(String),
      },
    ]);
    expect((await call(app, 'workflows/durable?status=completed')).body.workflows).toEqual([]);
    expect(await call(app, 'workflows/durable?status=sleeping')).toMatchObject({
      status: 400,
      body: { error: 'InvalidWorkflowError' },
    });

    const detail = await call(app, 'workflows/durable/approve-o-2');
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({
      id: 'approve-o-2',
      status: 'running',
      input: { orderId: 'o-2' },
      cancelRequested: false,
      current: { kind: 'wait', signal: 'approval', state: 'waiting' },
    });
    expect(detail.body.history.map((e: any) => [e.kind, e.task ?? e.signal, e.state])).toEqual([
      ['step', 'images.resize', 'ok'],
      ['wait', 'approval', 'waiting'],
    ]);
    expect(detail.body.history[0].result).toBe(10);

    const logged = jest.spyOn(Logger.prototype, 'log');
    const cancelled = await call(app, 'workflows/durable/approve-o-2/cancel', {
      method: 'POST',
      headers: { 'x-conveyor-user': 'ops-bob' },
    });
    expect(cancelled).toEqual({ status: 200, body: { outcome: 'requested' } });
    expect(logged).toHaveBeenCalledWith(
      'dashboard: cancel workflow {"workflow":"approve-o-2"} by ops-bob',
    );
    await eventually(
      async () => (await call(app!, 'workflows/durable/approve-o-2')).body.status === 'cancelled',
      10_000,
      'the cancelled workflow',
    );
    const again = await call(app, 'workflows/durable/approve-o-2/cancel', { method: 'POST' });
    expect(again.body).toEqual({ outcome: 'ended' });
  });

  it('sends a signal to a waiting durable workflow, which then completes', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    const workflows = app.get(Workflows);
    const handle = await workflows.start(Approve, { orderId: 'o-4' }, { id: 'approve-o-4' });
    await eventually(
      async () => (await workflows.get('approve-o-4')).current?.kind === 'wait',
      10_000,
      'the wait for approval',
    );
    const logged = jest.spyOn(Logger.prototype, 'log');
    const sent = await call(app, 'workflows/durable/approve-o-4/signal', {
      method: 'POST',
      body: { name: 'approval', data: { by: 'ops-bob' } },
      headers: { 'x-conveyor-user': 'ops-bob' },
    });
    expect(sent).toEqual({ status: 200, body: { outcome: 'delivered' } });
    expect(logged).toHaveBeenCalledWith(
      'dashboard: signal workflow {"workflow":"approve-o-4","signal":"approval"} by ops-bob',
    );
    await expect(handle.result({ timeout: '10s' })).resolves.toBe('o-4 approved by ops-bob');
    // To an ended workflow the signal is dropped, and the answer says so.
    const late = await call(app, 'workflows/durable/approve-o-4/signal', {
      method: 'POST',
      body: { name: 'approval' },
    });
    expect(late.body).toEqual({ outcome: 'ended' });
    expect(
      await call(app, 'workflows/durable/approve-o-4/signal', { method: 'POST', body: {} }),
    ).toMatchObject({ status: 400, body: { message: expect.stringContaining('give the signal') } });
    expect(
      await call(app, 'workflows/durable/approve-o-4/signal', {
        method: 'POST',
        body: { name: 'not a name!' },
      }),
    ).toMatchObject({ status: 400, body: { error: 'InvalidWorkflowError' } });
    expect(
      (await call(app, 'workflows/durable/nope/signal', { method: 'POST', body: { name: 'x' } }))
        .status,
    ).toBe(404);
  });

  it('answers 404 for unknown workflows, and 403 to cancel in read-only mode', async () => {
    app = await startWorkflowsApp({ token: TOKEN, readOnly: true });
    await app.get(Workflows).start(Approve, { orderId: 'o-3' }, { id: 'approve-o-3' });
    const refused = await call(app, 'workflows/durable/approve-o-3/cancel', { method: 'POST' });
    expect(refused.status).toBe(403);
    expect((await app.get(Workflows).get('approve-o-3')).cancelRequested).toBe(false);
    const signal = await call(app, 'workflows/durable/approve-o-3/signal', {
      method: 'POST',
      body: { name: 'approval', data: { by: 'mallory' } },
    });
    expect(signal.status).toBe(403);
    // Reading stays open.
    expect((await call(app, 'workflows/durable/approve-o-3')).status).toBe(200);

    expect(await call(app, 'workflows/durable/no-such-workflow')).toMatchObject({
      status: 404,
      body: { error: 'UnknownWorkflowError' },
    });
    const unknownCanvas = await call(
      app,
      'workflows/canvas/wf-00000000-0000-4000-8000-000000000000',
    );
    expect(unknownCanvas).toMatchObject({
      status: 404,
      body: { message: expect.stringContaining('no workflow') },
    });
    expect((await call(app, 'workflows/canvas/not-a-workflow-id')).status).toBe(404);
    expect((await call(app, 'workflows/canvas', { token: null })).status).toBe(401);
  });
});
