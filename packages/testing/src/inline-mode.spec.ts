import {
  CircuitBreakers,
  DeadLetters,
  InvalidModuleOptionsError,
  InvalidPayloadError,
  InvalidScheduleError,
  InvalidTaskOptionsError,
  TaskFailedError,
  TaskControl,
  TaskProducer,
  TaskTimeoutError,
  UnknownScheduleError,
  UnknownTaskError,
  UnknownCircuitBreakerError,
  Workers,
  InvalidWorkflowError,
  defineWorkflow,
  Workflows,
} from '@conveyor/tasks';
import { ConveyorTestingModule } from './conveyor-testing.module';
import {
  Add,
  Charge,
  Fanout,
  Flaky,
  Log,
  Picky,
  Refuse,
  Slow,
  Stamp,
  type Testbed,
  testbed,
} from './fixtures.spec-helper';

describe('ConveyorTestingModule in inline mode', () => {
  let bed: Testbed;
  const events: string[] = [];

  beforeEach(async () => {
    events.length = 0;
    bed = await testbed({
      hooks: {
        onSuccess: (e) => void events.push(`success ${e.taskName}#${e.attempt}`),
        onFailure: (e) =>
          void events.push(`failure ${e.taskName}#${e.attempt} retry=${e.willRetry}`),
        onDeadLetter: (e) => void events.push(`dead ${e.taskName}#${e.attempt}`),
      },
    });
  });
  afterEach(() => bed.moduleRef.close());

  it('runs the job before enqueue() resolves, and result() gives its value', async () => {
    const handle = await bed.producer.enqueue(Add, { a: 2, b: 3 });

    expect(bed.handlers.calls).toEqual([{ task: 'add', payload: { a: 2, b: 3 }, attempt: 1 }]);
    expect(await handle.state()).toBe('completed');
    await expect(handle.result()).resolves.toBe(5);
    expect(bed.tasks.job(handle)).toMatchObject({ id: '1', queue: 'default', attemptsMade: 1 });
    expect(events).toEqual(['success add#1']);
  });

  it('passes payload and result through JSON, as Redis does', async () => {
    const handle = await bed.producer.enqueue(Stamp, {
      at: '1970-01-02T00:00:00.000Z',
      extra: undefined,
    });

    // A key whose value is undefined does not survive JSON; a Date comes back as a string.
    expect(bed.handlers.calls[0].payload).toEqual({ at: '1970-01-02T00:00:00.000Z' });
    expect(Object.keys(bed.handlers.calls[0].payload as object)).toEqual(['at']);
    await expect(handle.result()).resolves.toEqual({
      at: '1970-01-02T00:00:00.000Z',
      seen: 'undefined',
    });
    await expect(bed.producer.enqueue(Stamp, { at: new Date() as never })).rejects.toThrow(
      /payload\.at is a Date/,
    );
  });

  it('refuses what TaskProducer refuses, with the same errors, before anything runs', async () => {
    await expect(bed.producer.enqueue('nope', {})).rejects.toThrow(UnknownTaskError);
    await expect(
      bed.producer.enqueue(Add, { a: 1, b: 2 }, { delay: 'soon' } as never),
    ).rejects.toThrow(InvalidTaskOptionsError);
    await expect(
      bed.producer.enqueue(Add, { a: 1, b: 2 }, { colour: 'red' } as never),
    ).rejects.toThrow(/colour/);
    await expect(bed.producer.enqueue(Add, { a: 1n } as never)).rejects.toThrow(
      InvalidPayloadError,
    );
    await expect(
      bed.producer.enqueueMany(Add, [{ a: 1, b: 2 }, { a: () => 1 } as never]),
    ).rejects.toThrow(/\[1\]/);
    expect(bed.handlers.calls).toEqual([]);
    expect(bed.tasks.jobs()).toEqual([]);
  });

  it('retries a failing job with the task backoff it would have waited, then completes it', async () => {
    const handle = await bed.producer.enqueue(Flaky, { failures: 2 });

    await expect(handle.result()).resolves.toBe('ok on 3');
    const job = bed.tasks.job(handle)!;
    expect(job.state).toBe('completed');
    expect(job.attemptsMade).toBe(3);
    expect(job.failures).toEqual([
      { attempt: 1, error: { name: 'Error', message: 'failure 1' }, retryInMs: 1000 },
      { attempt: 2, error: { name: 'Error', message: 'failure 2' }, retryInMs: 2000 },
    ]);
    expect(events).toEqual([
      'failure flaky#1 retry=true',
      'failure flaky#2 retry=true',
      'success flaky#3',
    ]);
  });

  it('dead-letters a job whose attempts are spent, and result() rejects with TaskFailedError', async () => {
    const handle = await bed.producer.enqueue(Flaky, { failures: 5 });

    const error: TaskFailedError = await handle.result().catch((e) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error).toMatchObject({ errorName: 'Error', reason: 'failure 3', attemptsMade: 3 });
    expect(await handle.state()).toBe('dead-lettered');
    expect(events.at(-1)).toBe('dead flaky#3');
    const deadLetters = bed.moduleRef.get(DeadLetters);
    expect(await deadLetters.count()).toBe(1);
    expect(await deadLetters.list('default')).toEqual([
      expect.objectContaining({ id: handle.id, taskName: 'flaky', attemptsMade: 3 }),
    ]);
  });

  it('does not retry an UnrecoverableTaskError, nor what retryIf refuses', async () => {
    const refused = await bed.producer.enqueue(Refuse, { why: 'card declined' });
    const picky = await bed.producer.enqueue(Picky, { code: 400 });
    const retried = await bed.producer.enqueue(Picky, { code: 503 });

    await expect(refused.result()).rejects.toMatchObject({
      errorName: 'UnrecoverableTaskError',
      reason: 'card declined',
      attemptsMade: 1,
    });
    await expect(picky.result()).rejects.toMatchObject({ reason: 'HTTP 400', attemptsMade: 1 });
    await expect(retried.result()).rejects.toMatchObject({ reason: 'HTTP 503', attemptsMade: 4 });
  });

  it('stops a handler at its hard time limit with TaskTimeoutError', async () => {
    const handle = await bed.producer.enqueue(Slow, { ms: 1_000 });

    await expect(handle.result()).rejects.toMatchObject({ errorName: TaskTimeoutError.name });
  });

  it('runs an idempotent task once for equal payloads, and keeps the job id', async () => {
    const first = await bed.producer.enqueue(Charge, { orderId: 'o-1' });
    const second = await bed.producer.enqueue(Charge, { orderId: 'o-1' });
    const other = await bed.producer.enqueue(Charge, { orderId: 'o-2' });

    expect(second.id).toBe(first.id);
    expect(other.id).not.toBe(first.id);
    expect(bed.handlers.calls.filter((c) => c.task === 'charge')).toHaveLength(2);
    await expect(second.result()).resolves.toBe('charged o-1');
  });

  it('replays a dead letter with fresh attempts', async () => {
    const handle = await bed.producer.enqueue(Refuse, { why: 'down' });
    const deadLetters = bed.moduleRef.get(DeadLetters);

    await deadLetters.replay('default', handle.id);

    expect(bed.handlers.calls.map((c) => `${c.task}#${c.attempt}`)).toEqual([
      'refuse#1',
      'refuse#1',
    ]);
    await expect(deadLetters.replay('default', 'missing')).rejects.toThrow(/missing/);
  });

  it('runs the jobs a handler enqueues, inside its run', async () => {
    await bed.producer.enqueue(Fanout, { n: 2 });

    expect(bed.tasks.jobs(Log).map((job) => [job.payload, job.state])).toEqual([
      [{ label: 'child 0' }, 'completed'],
      [{ label: 'child 1' }, 'completed'],
    ]);
  });

  it('checks schedules as TaskProducer does, and tick() runs one occurrence', async () => {
    const info = await bed.producer.schedule('nightly-add', Add, {
      cron: '0 3 * * *',
      payload: { a: 40, b: 2 },
    });
    expect(info).toMatchObject({ id: 'nightly-add', taskName: 'add', cron: '0 3 * * *' });
    expect(info.nextRunAt!.getUTCHours()).toBe(3);
    await expect(
      bed.producer.schedule('conveyor.mine', Add, { every: '1m', payload: { a: 1, b: 1 } }),
    ).rejects.toThrow(InvalidScheduleError);
    await expect(
      bed.producer.schedule('x', Add, { every: '1m', payload: { a: 1n } as never }),
    ).rejects.toThrow(InvalidScheduleError);

    const handle = await bed.tasks.tick('nightly-add');
    await expect(handle.result()).resolves.toBe(42);

    await bed.producer.unschedule('nightly-add');
    expect(await bed.producer.schedules()).toEqual([]);
    await expect(bed.producer.unschedule('nightly-add')).rejects.toThrow(UnknownScheduleError);
  });

  it('pauses, resumes and triggers a schedule as TaskProducer does', async () => {
    await bed.producer.schedule('nightly-add', Add, { cron: '0 3 * * *', payload: { a: 1, b: 2 } });
    const paused = await bed.producer.pauseSchedule('nightly-add');
    expect(paused).toMatchObject({ paused: true, nextRunAt: undefined });
    expect(paused.pausedAt).toBeInstanceOf(Date);
    // A paused schedule replaced by schedule() stays paused.
    await bed.producer.schedule('nightly-add', Add, { cron: '0 4 * * *', payload: { a: 2, b: 2 } });
    expect(await bed.producer.schedules()).toEqual([
      expect.objectContaining({ id: 'nightly-add', cron: '0 4 * * *', paused: true }),
    ]);

    const run = await bed.producer.triggerSchedule<number>('nightly-add');
    await expect(run.result()).resolves.toBe(4);

    const resumed = await bed.producer.resumeSchedule('nightly-add');
    expect(resumed).toMatchObject({ paused: false });
    expect(resumed.nextRunAt!.getUTCHours()).toBe(4);
    await expect(bed.producer.pauseSchedule('nope')).rejects.toThrow(UnknownScheduleError);
    await expect(bed.producer.triggerSchedule('nope')).rejects.toThrow(UnknownScheduleError);
  });

  it('runs a task now with run(), and clear() forgets every job', async () => {
    await expect(bed.tasks.run(Add, { a: 1, b: 1 })).resolves.toBe(2);
    await expect(bed.tasks.run(Refuse, { why: 'no' })).rejects.toThrow(TaskFailedError);

    bed.tasks.clear();
    expect(bed.tasks.jobs()).toEqual([]);
    const handle = await bed.producer.enqueue(Add, { a: 0, b: 0 });
    expect(handle.id).toBe('1');
  });
});

describe('TaskControl in the testing module', () => {
  let bed: Testbed;

  beforeEach(async () => {
    bed = await testbed({ queues: { default: { concurrency: 4 } } });
  });
  afterEach(() => bed.moduleRef.close());

  it("holds a paused queue's jobs, runs them at resume, and checks queues as on Redis", async () => {
    const control = bed.moduleRef.get(TaskControl);
    await control.pause('default');
    const held = await bed.producer.enqueue(Add, { a: 1, b: 1 });

    expect(await held.state()).toBe('waiting');
    expect(await control.isPaused('default')).toBe(true);
    expect(bed.handlers.calls).toEqual([]);

    await control.resume('default');
    await expect(held.result()).resolves.toBe(2);
    await expect(control.pause('defualt')).rejects.toThrow(/did you mean 'default'/);
    await expect(control.setConcurrency('default', 0)).rejects.toThrow(InvalidTaskOptionsError);
  });

  it("holds a paused task's jobs while the rest of its queue runs, and runs them at resumeTask", async () => {
    const control = bed.moduleRef.get(TaskControl);
    await control.pauseTask(Add);
    const held = await bed.producer.enqueue(Add, { a: 2, b: 2 });
    const other = await bed.producer.enqueue(Log, { label: 'runs' });

    expect(await held.state()).toBe('waiting');
    await expect(other.result()).resolves.toBe('runs');
    expect(await control.isTaskPaused('add')).toBe(true);
    expect((await control.limits())[0].tasks).toContainEqual(
      expect.objectContaining({ task: 'add', paused: true }),
    );

    await control.resumeTask('add');
    await expect(held.result()).resolves.toBe(4);
    await expect(control.pauseTask('ad')).rejects.toThrow(/did you mean 'add'/);
  });

  it('holds the jobs of a circuit breaker opened by hand until it is closed', async () => {
    const breakers = bed.moduleRef.get(CircuitBreakers);
    await breakers.open('payments');
    const held = await bed.producer.enqueue(Charge, { orderId: 'o-1' });
    expect(await held.state()).toBe('waiting');
    await expect(breakers.state('payments')).resolves.toMatchObject({
      state: 'open',
      tasks: ['charge'],
      manual: true,
    });

    await breakers.close('payments');
    expect(await held.state()).toBe('completed');
    await expect(breakers.list()).resolves.toEqual([
      expect.objectContaining({ name: 'payments', state: 'closed' }),
    ]);
    await expect(breakers.open('smtp')).rejects.toBeInstanceOf(UnknownCircuitBreakerError);
  });

  it('lists concurrency overrides beside the declared values', async () => {
    const control = bed.moduleRef.get(TaskControl);
    await control.setConcurrency('default', 9);

    expect(await control.limits()).toEqual([
      {
        queue: 'default',
        paused: false,
        concurrency: 9,
        declared: { concurrency: 4 },
        overrides: { concurrency: 9 },
        tasks: expect.any(Array),
      },
    ]);
    await control.resetConcurrency('default');
    expect((await control.limits())[0].concurrency).toBe(4);
  });

  it('provides Workers with no worker processes, checking arguments as on Redis', async () => {
    const workers = bed.moduleRef.get(Workers);
    await bed.producer.enqueue(Add, { a: 1, b: 1 });
    expect(await workers.list()).toEqual([]);
    expect(await workers.active()).toEqual([]);
    await expect(workers.ping('10ms')).resolves.toEqual([]);
    await expect(workers.ping('0ms')).rejects.toThrow(InvalidTaskOptionsError);
  });
});

describe('ConveyorTestingModule options', () => {
  it("checks TasksModule's options and its own", () => {
    expect(() => ConveyorTestingModule.forRoot({ mode: 'eager' as never })).toThrow(
      InvalidModuleOptionsError,
    );
    expect(() => ConveyorTestingModule.forRoot({ defaults: { atempts: 3 } as never })).toThrow(
      /atempts/,
    );
  });

  it('applies the module defaults and queue declarations to every task', async () => {
    const bed = await testbed({
      defaults: { attempts: 2, backoff: { type: 'fixed', delay: '5s' } },
      queues: { default: {} },
    });
    try {
      const handle = await bed.producer.enqueue(Refuse.name, { why: 'x' });
      await expect(handle.result()).rejects.toMatchObject({ attemptsMade: 1 });
      const flaky = await bed.producer.enqueue(Add, { a: 1, b: 1 });
      expect(bed.tasks.job(flaky)?.attempts).toBe(2);
    } finally {
      await bed.moduleRef.close();
    }
  });

  it('provides TaskProducer to every module, and opens no connection', async () => {
    const bed = await testbed();
    try {
      expect(bed.moduleRef.get(TaskProducer, { strict: false })).toBe(bed.producer);
    } finally {
      await bed.moduleRef.close();
    }
  });

  it('provides Workflows, whose calls say durable workflows need a real Redis', async () => {
    const bed = await testbed();
    try {
      const workflows = bed.moduleRef.get(Workflows, { strict: false });
      const Noop = defineWorkflow('noop', () => Promise.resolve(1));
      expect(() => workflows.start(Noop, undefined)).toThrow(InvalidWorkflowError);
      await expect(workflows.get('wf-1')).rejects.toThrow(/real Redis/);
    } finally {
      await bed.moduleRef.close();
    }
  });
});
