import {
  chain,
  chord,
  group,
  InvalidWorkflowError,
  isStepFailure,
  step,
  TaskProducer,
} from '@conveyor/tasks';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { Add, Boom, Echo, Square, Start, Tally, WorkflowTasks } from './workflow-fixtures';

/** The canvas items Celery's own canvas tests check, beyond chain/group/chord themselves. */
describe('workflows: partial steps, empty groups, immutable callbacks, error callbacks', () => {
  let app: TestApp;
  let other: TestApp | undefined;
  let producer: TaskProducer;
  let tasks: WorkflowTasks;

  beforeEach(async () => {
    app = await startTasksApp([WorkflowTasks], { queues: { default: { concurrency: 8 } } });
    producer = app.get(TaskProducer);
    tasks = app.get(WorkflowTasks);
  });
  afterEach(async () => {
    await stopAll(app, other);
    other = undefined;
  });

  it('runs a partial step with its own payload and the previous result (add.s(8))', async () => {
    const handle = await producer.chain([
      step(Add, { a: 2, b: 2 }),
      step(Add, { b: 8 }, { previousAs: 'a' }),
      step(Add, { a: 100 }, { previousAs: 'b' }),
    ]);
    await expect(handle.result({ timeout: '20s' })).resolves.toBe(112);
    expect(tasks.ran(Add.name).map((r) => r.payload)).toEqual([
      { a: 2, b: 2 },
      { b: 8, a: 4 },
      { a: 100, b: 12 },
    ]);
  });

  it('gives [] for an empty group and calls a chord callback with [] for no members', async () => {
    await expect((await producer.group([])).result({ timeout: '20s' })).resolves.toEqual([]);
    const tally = await producer.chord([], step(Tally));
    await expect(tally.result({ timeout: '20s' })).resolves.toEqual({ sum: 0, failed: [] });
    // An empty group after a step in a chain: the fan-out adds nothing and returns [].
    const fanned = await producer.chain([step(Start, { n: 1 }), group([])]);
    await expect(fanned.result({ timeout: '20s' })).resolves.toEqual([]);
  });

  it('runs a chord callback with its own payload after the members (immutable), or with both', async () => {
    const immutable = await producer.chord(
      [step(Square, { i: 2 }), step(Square, { i: 3 })],
      step(Echo, { fixed: true }),
    );
    await expect(immutable.result({ timeout: '20s' })).resolves.toEqual({ got: { fixed: true } });
    expect(tasks.ran(Square.name)).toHaveLength(2);

    const partial = await producer.chord(
      [step(Square, { i: 2 }), step(Square, { i: 3 })],
      step('wf.echo', { label: 'squares' }, { previousAs: 'results' }),
    );
    await expect(partial.result({ timeout: '20s' })).resolves.toEqual({
      got: { label: 'squares', results: [4, 9] },
    });
  });

  it('runs onError steps when a step, a chain or a group fails for good, with the failure', async () => {
    // On the failing step itself, without a payload: it receives the StepFailure.
    const own = await producer.chain([
      step(Start, { n: 1 }),
      step(Boom, undefined, { onError: step(Echo) }),
    ]);
    await expect(own.result({ timeout: '20s' })).rejects.toThrow('cannot handle 1');
    const failure = await eventually(
      () => tasks.ran(Echo.name)[0]?.payload as { got?: unknown } | undefined,
      10_000,
      'the step’s onError to run',
    );
    expect(isStepFailure(failure)).toBe(true);
    expect(failure).toMatchObject({ taskName: 'wf.boom', message: 'cannot handle 1' });

    // On a chain, with a payload of its own.
    const whole = await producer.workflow(
      chain([step(Start, { n: 2 }), step(Boom), step(Add, { b: 1 }, { previousAs: 'a' })], {
        onError: step(Echo, { alert: 'chain failed' }),
      }),
    );
    await expect(whole.result({ timeout: '20s' })).rejects.toThrow('cannot handle 2');
    await eventually(
      () => tasks.ran(Echo.name).some((r) => (r.payload as { alert?: string }).alert),
      10_000,
      'the chain’s onError to run',
    );

    // On a group whose two members fail: once for the group, with the first failure.
    const members = await producer.workflow(
      group([step(Square, { i: 1, fail: true }), step(Square, { i: 2, fail: true })], {
        onError: step(Echo),
      }),
    );
    await expect(members.result({ timeout: '20s' })).rejects.toThrow(/refused/);
    // Both failures are recorded once their onError adds are done (the runner awaits them).
    await eventually(
      async () =>
        (await members.steps()).filter(
          (s) => s.state === 'dead-lettered' && s.taskName === Square.name,
        ).length === 2,
      10_000,
      'both members to fail for good',
    );
    const refused = () =>
      tasks
        .ran(Echo.name)
        .filter((r) => /refused/.test(String((r.payload as { message?: string }).message)));
    await eventually(() => refused().length > 0, 10_000, 'the group’s onError to run');
    // One job id for the group's onError: the second failure's add found it and added nothing.
    expect(refused()).toHaveLength(1);
  });

  it("does not run a chord's onError for a member it takes in its stride under 'continue'", async () => {
    const handle = await producer.workflow(
      chord([step(Square, { i: 1, fail: true }), step(Square, { i: 2 })], step(Tally), {
        onMemberFailure: 'continue',
        onError: step(Echo, { alert: 'chord failed' }),
      }),
    );
    await expect(handle.result({ timeout: '20s' })).resolves.toEqual({ sum: 4, failed: [0] });
    expect(tasks.ran(Echo.name)).toEqual([]);
  });

  it('cancels the other members of a failFast group when one fails for good', async () => {
    const handle = await producer.workflow(
      group(
        [
          step(Square, { i: 1, sleepMs: 200, fail: true }),
          step(Square, { i: 2, sleepMs: 60_000 }),
          step(Square, { i: 3, sleepMs: 60_000 }),
        ],
        { failFast: true },
      ),
    );
    await expect(handle.result({ timeout: '20s' })).rejects.toThrow(/member 1 refused/);
    const states = await eventually(
      async () => {
        const steps = (await handle.steps()).filter((s) => s.taskName === Square.name);
        return steps.filter((s) => s.state === 'cancelled').length === 2 ? steps : undefined;
      },
      10_000,
      'the other members to be cancelled',
    );
    expect(states!.map((s) => s.state)).toEqual(['dead-lettered', 'cancelled', 'cancelled']);
  });

  it('takes a workflow handle again by id in another process', async () => {
    const handle = await producer.chord(
      [step(Square, { i: 4 }), step(Square, { i: 5 })],
      step(Tally),
    );
    other = await startTasksApp([], { prefix: app.prefix, workers: 'none' });
    const again = await other.get(TaskProducer).workflowHandle<{ sum: number }>(handle.id);
    await expect(again.result({ timeout: '20s' })).resolves.toEqual({ sum: 41, failed: [] });
    expect((await again.steps()).map((s) => s.state)).toEqual([
      'completed',
      'completed',
      'completed',
    ]);
    await expect(
      other.get(TaskProducer).workflowHandle('wf-00000000-0000-0000-0000-000000000000'),
    ).rejects.toThrow(/no workflow 'wf-00000000-0000-0000-0000-000000000000' is known/);
    await expect(other.get(TaskProducer).workflowHandle('42')).rejects.toBeInstanceOf(
      InvalidWorkflowError,
    );
  });
});
