import { Module } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  chain,
  group,
  isStepFailure,
  InvalidPayloadError,
  InvalidWorkflowError,
  step,
  TaskCancelledError,
  TaskControl,
  TaskFailedError,
  TaskProducer,
  TasksModule,
} from '@conveyor/tasks';
import { ConveyorTestingModule } from './conveyor-testing.module';
import { createTaskContext } from './create-task-context';
import {
  Add,
  Boom,
  Double,
  Fanout,
  Flaky,
  Handlers,
  Log,
  Nested,
  Sum,
  type Testbed,
  testbed,
} from './fixtures.spec-helper';
import { TestTasks } from './test-tasks';

describe('ConveyorTestingModule in manual mode', () => {
  let bed: Testbed;

  beforeEach(async () => {
    bed = await testbed({ mode: 'manual' });
  });
  afterEach(() => bed.moduleRef.close());

  it('holds jobs until drain(), then runs them in the order a worker takes them', async () => {
    const plain = await bed.producer.enqueue(Add, { a: 1, b: 0 });
    await bed.producer.enqueue(Add, { a: 2, b: 0 }, { priority: 5 });
    await bed.producer.enqueue(Add, { a: 3, b: 0 }, { delay: '1h' });
    await bed.producer.enqueue(Add, { a: 4, b: 0 }, { priority: 1 });
    await bed.producer.enqueue(Add, { a: 5, b: 0 });

    expect(bed.handlers.calls).toEqual([]);
    expect(await plain.state()).toBe('waiting');
    expect(bed.tasks.jobs(Add).map((job) => job.state)).toEqual([
      'waiting',
      'waiting',
      'delayed',
      'waiting',
      'waiting',
    ]);

    const report = await bed.tasks.drain();

    expect(bed.handlers.calls.map((c) => (c.payload as { a: number }).a)).toEqual([1, 5, 4, 2, 3]);
    expect(report).toEqual({ ran: 5, completed: 5, deadLettered: 0, cancelled: 0 });
    await expect(plain.result()).resolves.toBe(1);
  });

  it('leaves delayed jobs with delayed: false, and drains the jobs that jobs enqueue', async () => {
    await bed.producer.enqueue(Add, { a: 1, b: 1 }, { delay: '10m' });
    await bed.producer.enqueue(Fanout, { n: 3 });

    const report = await bed.tasks.drain({ delayed: false });

    expect(report.ran).toBe(4);
    expect(bed.tasks.jobs(Log)).toHaveLength(3);
    expect(bed.tasks.jobs(Add)[0].state).toBe('delayed');
  });

  it('cancels a waiting job: it never runs, and result() rejects with TaskCancelledError', async () => {
    const handle = await bed.producer.enqueue(Add, { a: 1, b: 1 });

    await expect(handle.cancel('changed my mind')).resolves.toBe('removed');
    await bed.tasks.drain();

    expect(bed.handlers.calls).toEqual([]);
    await expect(handle.result()).rejects.toThrow(TaskCancelledError);
    await expect(handle.result()).rejects.toMatchObject({ reason: 'changed my mind' });
    await expect(bed.producer.cancel('404')).resolves.toBe('not-found');
  });

  it('settles result() only once the hooks of the run have finished, as a worker does', async () => {
    const seen: string[] = [];
    const hooked = await testbed({
      mode: 'manual',
      hooks: {
        onSuccess: async (e) => {
          await new Promise((resolve) => setTimeout(resolve, 5));
          seen.push(`success ${e.jobId}`);
        },
      },
    });
    try {
      const handle = await hooked.producer.enqueue(Add, { a: 1, b: 2 });
      const result = handle.result().then((value) => {
        seen.push(`result ${value}`);
        return value;
      });
      await hooked.tasks.drain();
      await expect(result).resolves.toBe(3);
      expect(seen).toEqual([`success ${handle.id}`, 'result 3']);
    } finally {
      await hooked.moduleRef.close();
    }
  });

  it('ends cancelled a job cancelled between two attempts: the retry never runs', async () => {
    // The hook needs the producer the testbed makes: it reads it when it runs.
    const late: { producer?: TaskProducer } = {};
    const cancelling = await testbed({
      mode: 'manual',
      hooks: { onFailure: (e) => void late.producer?.cancel(e.jobId, 'stop retrying') },
    });
    const producer = (late.producer = cancelling.producer);
    try {
      const handle = await producer.enqueue(Flaky, { failures: 2 });
      await cancelling.tasks.drain();

      expect(cancelling.handlers.calls.map((c) => c.attempt)).toEqual([1]);
      expect(await handle.state()).toBe('cancelled');
      await expect(handle.result()).rejects.toMatchObject({ reason: 'stop retrying' });
    } finally {
      await cancelling.moduleRef.close();
    }
  });

  it('gives up waiting for a result at the timeout, with TaskResultError', async () => {
    const handle = await bed.producer.enqueue(Add, { a: 1, b: 1 });

    await expect(handle.result({ timeout: '20ms' })).rejects.toMatchObject({
      name: 'TaskResultError',
      reason: 'timeout',
    });
  });

  it("leaves a paused queue's jobs out of drain() until resume", async () => {
    const control = bed.moduleRef.get(TaskControl);
    await control.pause('default');
    await bed.producer.enqueue(Add, { a: 1, b: 1 });

    expect(await bed.tasks.drain()).toMatchObject({ ran: 0 });
    await control.resume('default');
    expect(await bed.tasks.drain()).toMatchObject({ ran: 1, completed: 1 });
  });

  it('stops a drain that never ends', async () => {
    await bed.producer.enqueue(Fanout, { n: 5 });

    await expect(bed.tasks.drain({ maxJobs: 3 })).rejects.toThrow(/ran 3 jobs/);
  });
});

describe('workflows in the testing module', () => {
  let bed: Testbed;

  beforeEach(async () => {
    bed = await testbed();
  });
  afterEach(() => bed.moduleRef.close());

  it('feeds each chain step the result of the one before', async () => {
    const handle = await bed.producer.chain([
      step(Add, { a: 2, b: 3 }),
      step(Double),
      step(Double),
    ]);

    await expect(handle.result()).resolves.toBe(20);
    expect(bed.handlers.calls.map((c) => [c.task, c.payload])).toEqual([
      ['add', { a: 2, b: 3 }],
      ['double', 5],
      ['double', 10],
    ]);
    const steps = await handle.steps();
    expect(steps.map((s) => [s.path, s.state, s.result])).toEqual([
      ['0.0', 'completed', 5],
      ['0.1', 'completed', 10],
      ['0.2', 'completed', 20],
    ]);
  });

  it('gives a group every member result in order, and a following group the step result', async () => {
    const grouped = await bed.producer.group([step(Double, 1), step(Double, 2)]);
    await expect(grouped.result()).resolves.toEqual([2, 4]);

    const fanned = await bed.producer.chain([
      step(Add, { a: 1, b: 2 }),
      group([step(Double), step(Double)]),
    ]);
    await expect(fanned.result()).resolves.toEqual([6, 6]);
  });

  it('fails a chain at its failing step; later steps fail without running', async () => {
    const handle = await bed.producer.chain([step(Double, 1), step(Boom), step(Double)]);

    const error: TaskFailedError = await handle.result().catch((e) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error).toMatchObject({ taskName: 'boom', reason: 'boom 2' });
    expect(bed.handlers.calls.map((c) => c.task)).toEqual(['double', 'boom']);
    expect((await handle.steps()).map((s) => s.state)).toEqual([
      'completed',
      'dead-lettered',
      'skipped',
    ]);
  });

  it("gives a chord's callback a StepFailure for a failed member with onMemberFailure: 'continue'", async () => {
    const handle = await bed.producer.chord(
      [step(Double, 1), step(Boom, 7), step(Double, 3)],
      step(Sum),
      {
        onMemberFailure: 'continue',
      },
    );

    await expect(handle.result()).resolves.toBe(8);
    const input = bed.handlers.calls.find((c) => c.task === 'sum')!.payload as unknown[];
    expect(input[0]).toBe(2);
    expect(isStepFailure(input[1])).toBe(true);
    expect(input[1]).toMatchObject({ taskName: 'boom', message: 'boom 7' });

    const failing = await bed.producer.chord([step(Boom, 1)], step(Sum));
    await expect(failing.result()).rejects.toMatchObject({ taskName: 'boom' });
  });

  it('runs partial steps, empty groups, immutable callbacks, onError steps and failFast groups', async () => {
    const partial = await bed.producer.chain([
      step(Add, { a: 2, b: 2 }),
      step(Add, { b: 8 }, { previousAs: 'a' }),
    ]);
    await expect(partial.result()).resolves.toBe(12);
    await expect((await bed.producer.group([])).result()).resolves.toEqual([]);
    await expect((await bed.producer.chord([], step(Sum))).result()).resolves.toBe(0);
    const immutable = await bed.producer.chord([step(Double, 1)], step(Log, { label: 'done' }));
    await expect(immutable.result()).resolves.toBe('done');

    const failing = await bed.producer.workflow(
      chain([step(Double, 1), step(Boom)], { onError: step(Log, { label: 'alert' }) }),
    );
    await expect(failing.result()).rejects.toMatchObject({ taskName: 'boom' });
    expect(bed.tasks.jobs(Log).map((j) => j.result)).toContain('alert');

    const fast = await bed.producer.workflow(
      group([step(Boom, 1), step(Double, 2)], { failFast: true }),
    );
    await expect(fast.result()).rejects.toMatchObject({ taskName: 'boom' });
    expect((await fast.steps()).map((s) => s.state)).toEqual([
      'dead-lettered',
      'cancelled',
      'skipped',
    ]);
    await expect(bed.producer.workflowHandle(fast.id)).resolves.toBe(fast);
  });

  it('refuses a workflow the planner refuses, before any step runs', async () => {
    await expect(bed.producer.chain([step(Double)])).rejects.toThrow(InvalidWorkflowError);
    await expect(
      bed.producer.chain([step(Double, 1), step(Add, { a: 1n, b: 2 } as never)]),
    ).rejects.toThrow(InvalidPayloadError);
    expect(bed.handlers.calls).toEqual([]);
    expect(bed.tasks.jobs()).toEqual([]);
  });

  it('runs a workflow at drain() in manual mode', async () => {
    const manual = await testbed({ mode: 'manual' });
    try {
      const handle = await manual.producer.workflow(chain([step(Double, 4), step(Double)]));
      expect(manual.handlers.calls).toEqual([]);
      expect((await handle.steps()).map((s) => s.state)).toEqual(['waiting', 'waiting-children']);

      expect(await manual.tasks.drain()).toMatchObject({ ran: 2, completed: 2 });
      await expect(handle.result()).resolves.toBe(16);
    } finally {
      await manual.moduleRef.close();
    }
  });
});

describe('using the testing module in place of TasksModule', () => {
  it("replaces an app module's TasksModule with overrideModule()", async () => {
    const tasks = TasksModule.forRoot({ connection: 'redis://127.0.0.1:1' });
    @Module({ imports: [tasks], providers: [Handlers, Nested] })
    class AppModule {}

    const moduleRef = await Test.createTestingModule({ imports: [AppModule] })
      .overrideModule(tasks)
      .useModule(ConveyorTestingModule.forRoot())
      .compile();
    moduleRef.useLogger(false);
    await moduleRef.init();
    try {
      const handle = await moduleRef.get(TaskProducer).enqueue(Add, { a: 20, b: 22 });
      await expect(handle.result()).resolves.toBe(42);
      expect(moduleRef.get(TestTasks).jobs()).toHaveLength(1);
    } finally {
      await moduleRef.close();
    }
  });
});

describe('createTaskContext', () => {
  it('gives a handler called directly the attempt, signal and progress it asks for', async () => {
    const controller = new AbortController();
    const progress: unknown[] = [];
    const ctx = createTaskContext({
      attempt: 2,
      maxAttempts: 3,
      signal: controller.signal,
      onProgress: (value) => progress.push(value),
    });

    expect(ctx.attempt).toBe(2);
    expect(ctx.maxAttempts).toBe(3);
    controller.abort(new Error('stop'));
    expect(ctx.signal.aborted).toBe(true);
    await ctx.progress(50);
    expect(progress).toEqual([50]);
    expect(() => createTaskContext({ attempt: 0 })).toThrow(/attempt/);
  });
});
