import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  compensateWith,
  DeadLetters,
  defineTask,
  Task,
  UnrecoverableTaskError,
  defineWorkflow,
  InvalidModuleOptionsError,
  InvalidWorkflowError,
  TasksModule,
  UnknownWorkflowError,
  WorkflowFailedError,
  Workflows,
} from '@conveyor/tasks';
import { Test } from '@nestjs/testing';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { REDIS_URL } from '../support/redis';
import {
  closeLedger,
  DurableTasks,
  Record as RecordStep,
  Scripted,
  type ScriptItem,
} from '../support/children/durable-tasks';

describe('durable workflows', () => {
  let app: TestApp;
  let workflows: Workflows;
  let redis: Redis;
  let ledger: string;

  beforeAll(async () => {
    app = await startTasksApp([DurableTasks], { workflows: [Scripted, Flaky, Parallel, Across] });
    workflows = app.get(Workflows);
    redis = new Redis(REDIS_URL);
    ledger = `{${app.prefix}}:ledger`;
  });

  afterAll(async () => {
    await stopAll(app);
    redis.disconnect();
    closeLedger();
  });

  const start = (script: ScriptItem[], id?: string) =>
    workflows.start(Scripted, { ledger, script }, id === undefined ? {} : { id });
  const runs = async (what: string) => Number((await redis.hget(ledger, what)) ?? 0);

  it('runs its steps in order and journals each result', async () => {
    const run = await start([{ step: 'a1' }, { step: 'b1' }]);
    await expect(run.result({ timeout: '10s' })).resolves.toEqual(['do:a1', 'do:b1']);
    const info = await workflows.get(run.id);
    expect(info.status).toBe('completed');
    expect(info.history.map((e) => [e.kind, e.task, e.state, e.result])).toEqual([
      ['step', 'durable.record', 'ok', 'do:a1'],
      ['step', 'durable.record', 'ok', 'do:b1'],
    ]);
    expect(info.history.every((e) => e.endedAt && e.endedAt >= e.startedAt)).toBe(true);
    expect(info.current).toBeUndefined();
  });

  it('compensates completed steps in reverse order when a later step fails for good', async () => {
    const run = await start([
      { step: 'a2', undo: true },
      { step: 'b2' },
      { step: 'c2', undo: true },
      { step: 'd2', fail: true, undo: true },
    ]);
    await expect(run.result({ timeout: '10s' })).rejects.toMatchObject({
      name: 'WorkflowFailedError',
      status: 'compensated',
      errorName: 'TaskFailedError',
    });
    const order = await redis.lrange(`${ledger}:order`, 0, -1);
    const mine = order.filter((label) => /[a-d]2$/.test(label));
    // d2 failed: only the completed steps with a compensation are undone, newest first.
    expect(mine).toEqual(['do:a2', 'do:b2', 'do:c2', 'do:d2', 'undo:c2', 'undo:a2']);
    const info = await workflows.get(run.id);
    expect(info.status).toBe('compensated');
    expect(info.error).toMatchObject({ name: 'TaskFailedError', message: 'd2 fails' });
    const compensations = info.history.filter((e) => e.kind === 'compensation');
    expect(compensations.map((e) => [e.seq, e.task, e.state])).toEqual([
      [2, 'durable.undo', 'ok'],
      [0, 'durable.undo', 'ok'],
    ]);
  });

  it('ends failed, and says which compensation failed, when a compensation fails for good', async () => {
    const run = await start([
      { step: 'a3', undo: true, undoFail: true },
      { step: 'b3', fail: true },
    ]);
    await expect(run.result({ timeout: '10s' })).rejects.toMatchObject({ status: 'failed' });
    const info = await workflows.get(run.id);
    expect(info.compensationError).toMatchObject({ message: 'a3 fails' });
    expect(info.error).toMatchObject({ message: 'b3 fails' });
    // The failed compensation is dead-lettered like any task's job, under its step's id.
    const letters = await app.get(DeadLetters).list('default');
    expect(letters.map((letter) => letter.id)).toContain(`dwf~${run.id}~c0`);
  });

  it('delivers a signal sent while it waits, and one sent before it waits', async () => {
    const run = await start([{ waitFor: 'approval' }, { waitFor: 'go' }]);
    await expect(workflows.signal(run.id, 'go', { early: true })).resolves.toBe('kept');
    await eventually(async () => (await workflows.get(run.id)).current?.kind === 'wait');
    expect((await workflows.get(run.id)).current).toMatchObject({
      signal: 'approval',
      state: 'waiting',
    });
    await expect(workflows.signal(run.id, 'approval', { by: 'ana' })).resolves.toBe('delivered');
    await expect(run.result({ timeout: '10s' })).resolves.toEqual([{ by: 'ana' }, { early: true }]);
    await expect(workflows.signal(run.id, 'approval', 1)).resolves.toBe('ended');
  });

  it('throws a WorkflowTimeoutError the workflow can catch when no signal comes in time', async () => {
    const run = await start([{ waitFor: 'approval', timeout: '200ms', orElse: 'no answer' }]);
    await expect(run.result({ timeout: '10s' })).resolves.toEqual(['no answer']);
    const info = await workflows.get(run.id);
    expect(info.history).toMatchObject([{ kind: 'wait', signal: 'approval', state: 'timedout' }]);
    // Too late: the wait has ended as timed out, and so has the workflow.
    await expect(workflows.signal(run.id, 'approval')).resolves.toBe('ended');
  });

  it('compensates when a timeout is not caught', async () => {
    const run = await start([
      { step: 'a4', undo: true },
      { waitFor: 'approval', timeout: '200ms' },
    ]);
    await expect(run.result({ timeout: '10s' })).rejects.toMatchObject({
      status: 'compensated',
      errorName: 'WorkflowTimeoutError',
    });
    expect(await runs('undo:a4')).toBe(1);
  });

  it('sleeps without a worker and goes on after', async () => {
    const run = await start([{ step: 'a5' }, { sleep: '200ms' }, { step: 'b5' }]);
    await expect(run.result({ timeout: '10s' })).resolves.toEqual(['do:a5', 'slept', 'do:b5']);
    const sleep = (await workflows.get(run.id)).history[1];
    expect(sleep).toMatchObject({ kind: 'sleep', state: 'ok' });
    expect(sleep.until!.getTime()).toBeGreaterThan(sleep.startedAt.getTime());
  });

  it('cancels a waiting workflow: compensations run and it ends cancelled', async () => {
    const run = await start([
      { step: 'a6', undo: true },
      { step: 'b6', undo: true },
      { waitFor: 'never' },
    ]);
    await eventually(async () => (await workflows.get(run.id)).current?.kind === 'wait');
    await expect(workflows.cancel(run.id, 'customer left')).resolves.toBe('requested');
    await expect(run.result({ timeout: '10s' })).rejects.toMatchObject({
      status: 'cancelled',
      reason: 'customer left',
    });
    const order = (await redis.lrange(`${ledger}:order`, 0, -1)).filter((l) => l.endsWith('6'));
    expect(order).toEqual(['do:a6', 'do:b6', 'undo:b6', 'undo:a6']);
    await expect(workflows.cancel(run.id)).resolves.toBe('ended');
  });

  it('cancels the step that is running, then compensates the ones before it', async () => {
    const run = await start([
      { step: 'a9', undo: true },
      { step: 'b9', hang: true, undo: true },
    ]);
    await eventually(async () => (await runs('do:b9')) === 1);
    await expect(workflows.cancel(run.id, 'stop')).resolves.toBe('requested');
    await expect(run.result({ timeout: '10s' })).rejects.toMatchObject({ status: 'cancelled' });
    const order = (await redis.lrange(`${ledger}:order`, 0, -1)).filter((l) => l.endsWith('9'));
    // b9 never finished: only a9 is undone.
    expect(order).toEqual(['do:a9', 'do:b9', 'undo:a9']);
    expect((await workflows.get(run.id)).history[1]).toMatchObject({
      task: 'durable.record',
      state: 'failed',
      error: { name: 'TaskCancelledError', message: expect.stringMatching(/was cancelled: stop$/) },
    });
  });

  it('starts once per id: a second start is a no-op that returns the same workflow', async () => {
    const script: ScriptItem[] = [{ step: 'a7' }];
    const first = await start(script, 'order-7');
    const second = await start(script, 'order-7');
    expect([first.created, second.created]).toEqual([true, false]);
    await expect(second.result({ timeout: '10s' })).resolves.toEqual(['do:a7']);
    const third = await start(script, 'order-7');
    expect(third.created).toBe(false);
    await expect(third.result()).resolves.toEqual(['do:a7']);
    expect(await runs('do:a7')).toBe(1);
    await expect(workflows.start(Flaky, {}, { id: 'order-7' })).rejects.toThrow(
      /belongs to a workflow 'durable.scripted'/,
    );
  });

  it('fails without compensating when the code no longer matches its journal', async () => {
    flakyAsks = 'record';
    const run = await workflows.start(Flaky, {});
    await workflows.signal(run.id, 'go');
    await eventually(async () => (await workflows.get(run.id)).current?.signal === 'next');
    // The code changes under the running workflow: its second call is now a sleep.
    flakyAsks = 'sleep';
    await workflows.signal(run.id, 'next');
    await expect(run.result({ timeout: '10s' })).rejects.toMatchObject({
      status: 'failed',
      errorName: 'WorkflowNonDeterminismError',
      reason: expect.stringMatching(
        /step #1 was waitFor\('next'\) when it first ran, and is now sleep/,
      ),
    });
  });

  it('lists workflows by status', async () => {
    const run = await start([{ waitFor: 'never' }]);
    await eventually(async () => (await workflows.get(run.id)).current !== undefined);
    await expect(run.result({ timeout: '50ms' })).rejects.toThrow(
      /did not end within 50 ms; it goes on/,
    );
    const running = await workflows.list({ status: 'running' });
    expect(running.map((w) => w.id)).toContain(run.id);
    expect((await workflows.list({ status: 'completed' })).map((w) => w.id)).toContain('order-7');
    await workflows.cancel(run.id);
    await expect(run.result({ timeout: '10s' })).rejects.toBeInstanceOf(WorkflowFailedError);
    expect((await workflows.list({ status: 'cancelled' })).map((w) => w.id)).toContain(run.id);
  });

  it('lists the newest workflows with a limit, from the start-time index', async () => {
    const runs: Array<Awaited<ReturnType<typeof start>>> = [];
    for (let i = 0; i < 4; i++) runs.push(await start([{ waitFor: 'never' }]));
    const newest = await workflows.list({ limit: 2 });
    // The newest two, still oldest first, as list() without a limit orders them.
    expect(newest.map((w) => w.id)).toEqual([runs[2].id, runs[3].id]);
    await workflows.cancel(runs[3].id);
    await eventually(async () => (await workflows.get(runs[3].id)).status === 'cancelled');
    const running = await workflows.list({ status: 'running', limit: 2 });
    expect(running.map((w) => w.id)).toEqual([runs[1].id, runs[2].id]);
    await expect(workflows.list({ limit: 0 })).rejects.toThrow(
      /limit must be an integer from 1 to 1000, got number 0/,
    );
    for (const run of runs.slice(0, 3)) await workflows.cancel(run.id);
  });

  it('rejects bad input with typed errors that name it', async () => {
    await expect(workflows.get('no-such')).rejects.toBeInstanceOf(UnknownWorkflowError);
    await expect(workflows.signal('no-such', 'go')).rejects.toBeInstanceOf(UnknownWorkflowError);
    await expect(workflows.start(Scripted, { ledger, script: [] }, { id: 'a:b' })).rejects.toThrow(
      /workflow id .* got 'a:b'/,
    );
    await expect(
      workflows.start(Scripted, { ledger, script: [] }, { idd: 'x' } as never),
    ).rejects.toThrow(/unknown option idd \(did you mean 'id'\?\)/);
    await expect(workflows.signal('order-7', 'bad name')).rejects.toBeInstanceOf(
      InvalidWorkflowError,
    );
    await expect(workflows.list({ status: 'done' as never })).rejects.toThrow(
      /status must be one of/,
    );
    await expect(
      workflows.start(Scripted, { ledger, script: [], when: new Date() } as never),
    ).rejects.toThrow(/not JSON-safe/);
    expect(() => defineWorkflow('bad name', async () => 1)).toThrow(InvalidWorkflowError);
    await expect(
      Test.createTestingModule({
        imports: [TasksModule.forRoot({ connection: REDIS_URL, workflows: [Scripted, Scripted] })],
      }).compile(),
    ).rejects.toBeInstanceOf(InvalidModuleOptionsError);
  });

  it('runs steps and compensations whose handlers live in another app, on their queue', async () => {
    const other = await startTasksApp([RemoteTasks], { prefix: app.prefix });
    try {
      await expect(
        (await workflows.start(Across, { ledger, fail: false })).result({ timeout: '10s' }),
      ).resolves.toBe('remote:r2');
      const failing = await workflows.start(Across, { ledger, fail: true });
      await expect(failing.result({ timeout: '10s' })).rejects.toMatchObject({
        status: 'compensated',
      });
      const order = (await redis.lrange(`${ledger}:order`, 0, -1)).filter((l) =>
        l.startsWith('remote:'),
      );
      expect(order).toEqual(['remote:r1', 'remote:r2', 'remote:r1', 'remote:r2', 'remote:undo-r1']);
    } finally {
      await other.close();
    }
  });

  it('compensates through the code’s TaskRefs in a process that never ran the workflow', async () => {
    // Its own prefix: the main app must not take these runs.
    const first = await startTasksApp([], { workflows: [AcrossWait] });
    const handlers = await startTasksApp([RemoteTasks], { prefix: first.prefix });
    let fresh: TestApp | undefined;
    try {
      const own = `{${first.prefix}}:ledger`;
      const run = await first.get(Workflows).start(AcrossWait, { ledger: own });
      await eventually(async () => (await run.get()).current?.kind === 'wait');
      await first.close();
      // A new process: it knows Remote only through the refs the workflow's code passes.
      fresh = await startTasksApp([], { prefix: first.prefix, workflows: [AcrossWait] });
      await fresh.get(Workflows).cancel(run.id);
      await expect(fresh.get(Workflows).result(run.id, { timeout: '10s' })).rejects.toMatchObject({
        status: 'cancelled',
      });
      expect(await redis.lrange(`${own}:order`, 0, -1)).toEqual(['remote:w1', 'remote:undo-w1']);
    } finally {
      await stopAll(fresh, handlers, first);
    }
  });

  it('runs steps begun together in parallel, each journaled once', async () => {
    const run = await workflows.start(Parallel, { ledger });
    await expect(run.result({ timeout: '10s' })).resolves.toEqual(['do:p1', 'do:p2']);
    const info = await workflows.get(run.id);
    expect(info.history.map((e) => [e.seq, e.state])).toEqual([
      [0, 'ok'],
      [1, 'ok'],
    ]);
    expect([await runs('do:p1'), await runs('do:p2')]).toEqual([1, 1]);
  });
});

/** A task whose handler lives in another app, on a queue its definition names. */
const Remote = defineTask<{ ledger: string; label: string; fail?: boolean }, string>(
  'durable.remote',
  { queue: 'remote' },
);

@Injectable()
class RemoteTasks {
  @Task(Remote)
  async remote({ ledger, label, fail }: { ledger: string; label: string; fail?: boolean }) {
    const redis = new Redis(REDIS_URL);
    try {
      await redis.rpush(`${ledger}:order`, `remote:${label}`);
    } finally {
      redis.disconnect();
    }
    if (fail) throw new UnrecoverableTaskError(`${label} fails`);
    return `remote:${label}`;
  }
}

/** Steps and a compensation run by another app's workers, through the code's TaskRefs. */
const Across = defineWorkflow<{ ledger: string; fail: boolean }, string>(
  'durable.across',
  async (ctx, { ledger, fail }) => {
    await ctx.step(
      Remote,
      { ledger, label: 'r1' },
      { compensate: compensateWith(Remote, { ledger, label: 'undo-r1' }) },
    );
    return ctx.step(Remote, { ledger, label: 'r2', fail });
  },
);

/** A step handled in another app, then a wait: to cancel from a process that never ran it. */
const AcrossWait = defineWorkflow<{ ledger: string }, void>(
  'durable.across-wait',
  async (ctx, { ledger }) => {
    await ctx.step(
      Remote,
      { ledger, label: 'w1' },
      { compensate: compensateWith(Remote, { ledger, label: 'undo-w1' }) },
    );
    await ctx.waitFor('go');
  },
);

/** Two steps begun in the same tick: both jobs are added by the same run. */
const Parallel = defineWorkflow<{ ledger: string }, string[]>(
  'durable.parallel',
  (ctx, { ledger }) =>
    Promise.all([
      ctx.step(RecordStep, { ledger, label: 'p1' }),
      ctx.step(RecordStep, { ledger, label: 'p2' }),
    ]),
);

let flakyAsks: 'record' | 'sleep' = 'record';
/** A workflow whose second call depends on outside state: the non-determinism the journal catches. */
const Flaky = defineWorkflow<Record<string, never>, void>('durable.flaky', async (ctx) => {
  await ctx.waitFor('go');
  if (flakyAsks === 'record') await ctx.waitFor('next');
  else await ctx.sleep('1s');
});
