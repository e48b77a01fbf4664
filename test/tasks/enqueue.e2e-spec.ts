import { TaskProducer } from '@conveyor/tasks';
import { TasksRegistry } from '@conveyor/tasks/internal';
import { closeRawQueue, rawQueue } from '../support/redis';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { Add, Greet, MathTasks, Shout, TextTasks } from './fixtures';

describe('enqueue and results', () => {
  let app: TestApp;
  let producer: TaskProducer;

  beforeEach(async () => {
    app = await startTasksApp([MathTasks, TextTasks]);
    producer = app.get(TaskProducer);
  });
  afterEach(() => stopAll(app));

  it('discovers every @Task() method on the app providers at bootstrap', () => {
    expect(app.get(TasksRegistry).names().sort()).toEqual(['greet', 'math.add', 'text.shout']);
  });

  it('runs a typed task and resolves its result', async () => {
    const handle = await producer.enqueue(Add, { a: 2, b: 3 });
    await expect(handle.result({ timeout: '10s' })).resolves.toBe(5);
    await expect(handle.state()).resolves.toBe('completed');
    expect(app.get(MathTasks).seen).toEqual([
      { payload: { a: 2, b: 3 }, attempt: 1, jobId: handle.id },
    ]);
  });

  it('routes a task to the queue its definition names', async () => {
    const handle = await producer.enqueue(Greet, { name: 'Ada' });
    expect(handle.queue).toBe('email');
    await expect(handle.result()).resolves.toBe('hello, Ada');
  });

  it('enqueues by task name as well as by reference', async () => {
    const handle = await producer.enqueue<number>('math.add', { a: 1, b: 1 });
    await expect(handle.result()).resolves.toBe(2);
  });

  it('hands the handler the schema output (defaults applied)', async () => {
    const handle = await producer.enqueue(Shout, { text: 'hey' });
    await expect(handle.result()).resolves.toBe('HEY');
  });

  it('adds many jobs in one call and returns a handle for each', async () => {
    const payloads = Array.from({ length: 50 }, (_, i) => ({ a: i, b: i }));
    const handles = await producer.enqueueMany(Add, payloads);
    expect(new Set(handles.map((h) => h.id)).size).toBe(50);
    const results = await Promise.all(handles.map((h) => h.result({ timeout: '10s' })));
    expect(results).toEqual(payloads.map((p) => p.a + p.b));
  });

  it('returns the first job for a repeated idempotency key instead of adding another', async () => {
    const first = await producer.enqueue(
      Add,
      { a: 1, b: 2 },
      { idempotencyKey: 'order-1', delay: '1h' },
    );
    const second = await producer.enqueue(
      Add,
      { a: 1, b: 2 },
      { idempotencyKey: 'order-1', delay: '1h' },
    );
    expect(second.id).toBe(first.id);
    const queue = rawQueue(app.prefix, 'default');
    try {
      expect(await queue.getDelayedCount()).toBe(1);
    } finally {
      await closeRawQueue(queue);
    }
  });

  it('keeps a delayed job delayed, with its custom job id', async () => {
    const handle = await producer.enqueue(
      Add,
      { a: 1, b: 2 },
      { delay: '1h', jobId: 'invoice-42' },
    );
    expect(handle.id).toBe('invoice-42');
    await expect(handle.state()).resolves.toBe('delayed');
    // Due an hour after it was enqueued, as Redis holds it: a short result() timeout alone
    // would also pass for a job due in a few seconds.
    const queue = rawQueue(app.prefix, 'default');
    try {
      expect((await queue.getJob('invoice-42'))?.delay).toBe(3_600_000);
    } finally {
      await closeRawQueue(queue);
    }
    await expect(handle.result({ timeout: 200 })).rejects.toMatchObject({
      name: 'TaskResultError',
      reason: 'timeout',
    });
  });

  it('re-attaches to a job by id', async () => {
    const handle = await producer.enqueue(Add, { a: 20, b: 22 });
    await expect(producer.handle(Add, handle.id).result()).resolves.toBe(42);
  });

  it('reports a job that does not exist', async () => {
    await expect(producer.handle(Add, 'no-such-job').result()).rejects.toMatchObject({
      name: 'TaskResultError',
      reason: 'not-found',
    });
  });
});
