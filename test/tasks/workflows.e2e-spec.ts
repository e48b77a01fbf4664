import {
  chain,
  DeadLetters,
  chord,
  group,
  InvalidPayloadError,
  InvalidWorkflowError,
  step,
  TaskFailedError,
  TaskProducer,
  UnknownTaskError,
  type WorkflowHandle,
} from '@conveyor/tasks';
import { TasksRegistry } from '@conveyor/tasks/internal';
import { countJobs } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import {
  Add,
  Boom,
  Double,
  Echo,
  Noop,
  Inc,
  Square,
  Start,
  SumDeep,
  Tally,
  WorkflowTasks,
} from './workflow-fixtures';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Waits until the chain's SumDeep step is skipped: a state it never leaves by itself. */
async function sumDeepSettled(handle: WorkflowHandle<unknown>): Promise<void> {
  await eventually(
    async () =>
      (await handle.steps()).find((s) => s.taskName === SumDeep.name)?.state === 'skipped',
    10_000,
    'the step after the failed group to be skipped',
  );
}

describe('workflows', () => {
  let app: TestApp;
  let producer: TaskProducer;
  let tasks: WorkflowTasks;

  beforeEach(async () => {
    app = await startTasksApp([WorkflowTasks], { queues: { default: { concurrency: 8 } } });
    producer = app.get(TaskProducer);
    tasks = app.get(WorkflowTasks);
  });
  afterEach(() => stopAll(app));

  it('runs a chain, feeding each step the result of the one before', async () => {
    const handle = await producer.chain([step(Start, { n: 3 }), step(Double), step(Inc)]);
    await expect(handle.result({ timeout: '20s' })).resolves.toBe(7);
    expect(tasks.runs.map(({ task, payload }) => [task, payload])).toEqual([
      ['wf.start', { n: 3 }],
      ['wf.double', 3],
      ['wf.inc', 6],
    ]);
    const steps = await handle.steps();
    expect(steps.map(({ taskName, state, result }) => [taskName, state, result])).toEqual([
      ['wf.start', 'completed', 3],
      ['wf.double', 'completed', 6],
      ['wf.inc', 'completed', 7],
    ]);
  });

  it('stops a chain at a failing step: the handle rejects with its error, later steps never run', async () => {
    const handle = await producer.chain([step(Start, { n: 1 }), step(Boom), step(Inc)]);
    const error = await handle.result({ timeout: '20s' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TaskFailedError);
    expect(error).toMatchObject({
      taskName: 'wf.boom',
      errorName: 'RangeError',
      message: 'cannot handle 1',
      attemptsMade: 2,
    });
    expect(tasks.ran('wf.boom')).toHaveLength(2);
    // The step that never ran is skipped, not a dead letter: only Boom's failure is one.
    const steps = await eventually(
      async () => {
        const all = await handle.steps();
        return all[2].state === 'skipped' ? all : undefined;
      },
      10_000,
      'the step after the failure to be skipped',
    );
    expect(steps!.map(({ taskName, state }) => [taskName, state])).toEqual([
      ['wf.start', 'completed'],
      ['wf.boom', 'dead-lettered'],
      ['wf.inc', 'skipped'],
    ]);
    expect(steps![2].error).toMatch(/^child .*wf-.*\.0\.1 failed$/);
    expect(tasks.ran('wf.inc')).toEqual([]);
    const letters = await app.get(DeadLetters).list('default');
    expect(letters.map((l) => l.taskName)).toEqual(['wf.boom']);
    await expect(app.get(DeadLetters).count('default')).resolves.toBe(1);
  });

  it('gives null to a step after one that returns nothing', async () => {
    const handle = await producer.chain([
      group([step(Noop, {}), step(Start, { n: 1 })]),
      step(Echo),
      step(Noop, {}),
      step(Echo),
    ]);
    await expect(handle.result({ timeout: '20s' })).resolves.toEqual({ got: null });
    expect(tasks.ran('wf.echo').map((run) => run.payload)).toEqual([[null, 1], null]);
  });

  it('runs a group of 100 in parallel and returns the results in order', async () => {
    const handle = await producer.group(range(100).map((i) => step(Square, { i })));
    await expect(handle.result({ timeout: '20s' })).resolves.toEqual(range(100).map((i) => i * i));
    expect(tasks.ran('wf.square')).toHaveLength(100);
  });

  it('runs a chord callback once, with the results of 50 members in order', async () => {
    const handle = await producer.chord(
      range(50).map((i) => step(Square, { i })),
      step(Tally),
    );
    await expect(handle.result({ timeout: '20s' })).resolves.toEqual({
      sum: range(50).reduce((sum, i) => sum + i * i, 0),
      failed: [],
    });
    expect(tasks.ran('wf.tally')).toHaveLength(1);
    expect(tasks.ran('wf.tally')[0].payload).toEqual(range(50).map((i) => i * i));
  });

  it("fails a chord whose member fails under onMemberFailure 'fail': the callback never runs", async () => {
    const handle = await producer.chord(
      range(50).map((i) => step(Square, { i, fail: i === 13 })),
      step(Tally),
      { onMemberFailure: 'fail' },
    );
    await expect(handle.result({ timeout: '20s' })).rejects.toMatchObject({
      name: 'TaskFailedError',
      taskName: 'wf.square',
      message: 'member 13 refused',
    });
    // Members already running finish; the callback never runs: it is skipped.
    await eventually(
      async () =>
        (await handle.steps()).find((s) => s.taskName === 'wf.tally')?.state === 'skipped',
      10_000,
      'the callback to be skipped',
    );
    expect(tasks.ran('wf.tally')).toEqual([]);
  });

  it("runs the callback with an error marker in a failed member's slot under 'continue'", async () => {
    const handle = await producer.chord(
      range(50).map((i) => step(Square, { i, fail: i === 13 || i === 40 })),
      step(Tally),
      { onMemberFailure: 'continue' },
    );
    await expect(handle.result({ timeout: '20s' })).resolves.toEqual({
      sum: range(50).reduce((sum, i) => (i === 13 || i === 40 ? sum : sum + i * i), 0),
      failed: [13, 40],
    });
    const [callback] = tasks.ran('wf.tally');
    expect((callback.payload as unknown[])[13]).toEqual({
      conveyorStepFailure: true,
      taskName: 'wf.square',
      jobId: expect.stringContaining(handle.id),
      message: 'member 13 refused',
    });
    expect(tasks.ran('wf.tally')).toHaveLength(1);
  });

  it('nests: a chain starting with a chord whose members are a chain and a group', async () => {
    const handle = await producer.chain([
      chord(
        [
          chain([step(Start, { n: 1 }), step(Double)]),
          group([step(Start, { n: 2 }), step(Start, { n: 3 })]),
        ],
        step(SumDeep),
      ),
      step(Double),
    ]);
    await expect(handle.result({ timeout: '20s' })).resolves.toBe(14);
    expect(tasks.ran('wf.sum-deep')[0].payload).toEqual([2, [2, 3]]);
    const steps = await handle.steps();
    expect(steps.every((s) => s.state === 'completed')).toBe(true);
    expect(steps.map((s) => s.kind)).toContain('collector');
  });

  it('fans a step out to a group and a chord later in the chain', async () => {
    const handle = await producer.chain([
      step(Start, { n: 5 }),
      group([step(Double), chain([step(Inc), step(Double)])]),
      step(SumDeep),
      chord([step(Double), step(Inc)], step(SumDeep)),
    ]);
    // 5 → [10, 12] → 22 → [44, 23] → 67
    await expect(handle.result({ timeout: '20s' })).resolves.toBe(67);
    const steps = await handle.steps();
    expect(steps.filter((s) => s.kind === 'fan-out')).toHaveLength(2);
    expect(steps.every((s) => s.state === 'completed')).toBe(true);
    expect(tasks.ran('wf.sum-deep').map((run) => run.payload)).toEqual([
      [10, 12],
      [44, 23],
    ]);
  });

  it('stops a fanned-out chain at a failing member, with that member as the error', async () => {
    const handle = await producer.chain([
      step(Start, { n: 5 }),
      group([step(Double), step(Boom)]),
      step(SumDeep),
    ]);
    await expect(handle.result({ timeout: '20s' })).rejects.toMatchObject({
      name: 'TaskFailedError',
      taskName: 'wf.boom',
      message: 'cannot handle 5',
    });
    // The step after the group has failed for good, so it can no longer run: only now is
    // "it never ran" a fact rather than a snapshot.
    await sumDeepSettled(handle);
    expect(tasks.ran('wf.sum-deep')).toEqual([]);
  });

  it('stops a fanned-out chain whose member fails at once', async () => {
    const handle = await producer.chain([
      step(Start, { n: 5 }),
      group([step(Square, { i: 1, fail: true }), step(Double)]),
      step(SumDeep),
    ]);
    await expect(handle.result({ timeout: '20s' })).rejects.toMatchObject({
      name: 'TaskFailedError',
      taskName: 'wf.square',
      message: 'member 1 refused',
    });
    // The step after the group has failed for good, so it can no longer run: only now is
    // "it never ran" a fact rather than a snapshot.
    await sumDeepSettled(handle);
    expect(tasks.ran('wf.sum-deep')).toEqual([]);
  });

  it('validates every step before enqueueing anything', async () => {
    const queues = [...app.get(TasksRegistry).handledQueues(), 'conveyor.workflows'];
    const before = await countJobs(app.prefix, queues);
    await expect(
      producer.chain([step(Start, { n: 1 }), step('no.such.task'), step(Inc)]),
    ).rejects.toThrow(UnknownTaskError);
    await expect(
      producer.group([step(Start, { n: 1 }), step(Start, { n: 2n } as never)]),
    ).rejects.toThrow(InvalidPayloadError);
    await expect(producer.chain([step(Double)])).rejects.toThrow(InvalidWorkflowError);
    expect(() => step(Inc, 1, { previousAs: 'a' } as never)).toThrow(
      /step\(wf.inc\): previousAs needs a payload object/,
    );
    await expect(producer.chain([step(Add, { b: 1 }, { previousAs: 'a' })])).rejects.toThrow(
      /has previousAs but no step before it/,
    );
    expect(() =>
      chord([step(Start, { n: 1 })], step(Tally), { onMemberFailur: 'fail' } as never),
    ).toThrow(/did you mean 'onMemberFailure'/);
    expect(await countJobs(app.prefix, queues)).toBe(before);
    expect(tasks.runs).toEqual([]);
  });
});
