import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMainThread } from 'node:worker_threads';
import {
  type TaskFailureEvent,
  type TaskRef,
  TaskProducer,
  type TasksModuleOptions,
  type TaskThreadsOptions,
} from '@conveyor/tasks';
import { TaskThreads } from '@conveyor/tasks/internal';
import { uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import {
  FollowUp,
  PREFIX_VARIABLE,
  Produce,
  ProducingTasks,
} from './thread-fixtures/producing.module';
import {
  Crash,
  Forever,
  Greeter,
  Grow,
  Hasty,
  OneAtATime,
  Polite,
  Spin,
  ThreadTasks,
  WhereAmI,
} from './thread-fixtures/thread-tasks.module';

// The threads boot the fixture module from its TypeScript source, through the SWC require
// hook the test children use (a built app points `path` at its compiled .js instead).
const THREADS: TaskThreadsOptions = {
  module: {
    path: require.resolve('./thread-fixtures/thread-tasks.module'),
    export: 'ThreadTasksModule',
  },
  size: 1,
  execArgv: ['-r', require.resolve('../support/children/register.js')],
};

describe('isolated handlers (worker threads)', () => {
  let app: TestApp | undefined;
  afterEach(() => stopAll(app));

  const start = (
    threads: Partial<TaskThreadsOptions> = {},
    options: Partial<TasksModuleOptions> = {},
  ) =>
    startTasksApp([Greeter, ThreadTasks], { threads: { ...THREADS, ...threads }, ...options }).then(
      (started) => (app = started),
    );
  const run = async <P, R>(task: TaskRef<P, R>, payload: P) => {
    const handle = await app!.get(TaskProducer).enqueue(task, payload);
    return { handle, result: handle.result({ timeout: '20s' }) };
  };

  it('runs a handler in a thread that booted its module once, with its providers injected', async () => {
    await start();
    const first = await (await run(WhereAmI, {})).result;
    const second = await (await run(WhereAmI, {})).result;
    expect(isMainThread).toBe(true);
    expect(first).toMatchObject({ greeting: 'hello from the thread', boots: 1 });
    expect(first.threadId).toBeGreaterThan(0);
    // The same thread, the same module instance: booted per thread, not per job.
    expect(second).toEqual(first);
  });

  it('forwards progress from the thread to the job', async () => {
    await start();
    const { handle, result } = await run(WhereAmI, {});
    await result;
    expect((await handle.info())?.progress).toBe(50);
  });

  it('aborts the signal of a handler in a thread at the soft limit', async () => {
    await start();
    const handle = await app!.get(TaskProducer).enqueue(Polite, {});
    await expect(handle.result({ timeout: '20s' })).resolves.toBe('TaskTimeoutError (soft)');
  });

  it('terminates a CPU-bound handler at its hard limit, and the next job runs on a new thread', async () => {
    await start();
    const before = await (await run(WhereAmI, {})).result;
    const spin = await app!.get(TaskProducer).enqueue(Spin, {});
    await expect(spin.result({ timeout: '20s' })).rejects.toMatchObject({
      errorName: 'TaskTimeoutError',
      message: 'Task "thread.spin" passed its hard time limit of 300 ms',
    });
    // The pool has one thread: had the spinning one survived, nothing else could run.
    const after = await (await run(WhereAmI, {})).result;
    expect(after.threadId).not.toBe(before.threadId);
    expect(after.boots).toBe(1);
  });

  it("gives a singleton's slot back as soon as its thread is terminated at the hard limit", async () => {
    // Two threads and two slots of the queue: only the singleton keeps the second job waiting.
    await start({ size: 2 }, { queues: { default: { concurrency: 2 } } });
    const producer = app!.get(TaskProducer);
    // Both threads booted first: a limit counts a cold thread's boot, which is not under test.
    const warm = await Promise.all([run(WhereAmI, {}), run(WhereAmI, {})]);
    await Promise.all(warm.map((w) => w.result));
    const spinning = await producer.enqueue(OneAtATime, { spin: true });
    const next = await producer.enqueue(OneAtATime, { spin: false });
    await expect(spinning.result({ timeout: '20s' })).rejects.toMatchObject({
      errorName: 'TaskTimeoutError',
    });
    // Inline, the slot would stay held while the abandoned handler spins: forever.
    await expect(next.result({ timeout: '20s' })).resolves.toBeGreaterThan(0);
    const [first, second] = [await spinning.info(), await next.info()];
    expect(second!.startedAt!.getTime()).toBeGreaterThanOrEqual(first!.finishedAt!.getTime());
  });

  it('stops a job whose hard limit passes while its thread still boots, and the process lives on', async () => {
    await start();
    const hasty = await app!.get(TaskProducer).enqueue(Hasty, {});
    await expect(hasty.result({ timeout: '20s' })).rejects.toMatchObject({
      errorName: 'TaskTimeoutError',
    });
    // Terminating a thread in the middle of loading Nest (an ES module) aborts the process
    // on Node 20; the pool waits until the thread has loaded. This test would not finish.
    expect((await (await run(WhereAmI, {})).result).boots).toBe(1);
  });

  it('replaces a thread after maxTasksPerThread jobs', async () => {
    await start({ maxTasksPerThread: 2 });
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) ids.push((await (await run(WhereAmI, {})).result).threadId);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).not.toBe(ids[1]);
  });

  it('replaces a thread after a job leaves its heap above maxMemoryPerThread', async () => {
    await start({ maxMemoryPerThread: 160 });
    const small = await (await run(Grow, { mib: 1 })).result;
    const same = await (await run(Grow, { mib: 1 })).result;
    const grown = await (await run(Grow, { mib: 192 })).result;
    const next = await (await run(Grow, { mib: 1 })).result;
    expect(same).toBe(small);
    expect(grown).toBe(small);
    expect(next).not.toBe(grown);
  });

  it('fails only the attempt of a thread that crashes, and retries it on a new thread', async () => {
    const failures: TaskFailureEvent[] = [];
    await start({}, { hooks: { onFailure: (event) => void failures.push(event) } });
    const crashed = await run(Crash, {});
    const threadId = await crashed.result;
    expect(threadId).toBeGreaterThan(0);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ taskName: 'thread.crash', willRetry: true });
    expect(failures[0].error).toMatchObject({
      name: 'TaskThreadError',
      message: 'Task "thread.crash": its worker thread crashed: the thread blew up',
    });
  });

  it("lets a thread's module import TasksModule to enqueue, without consuming a queue there", async () => {
    const prefix = uniquePrefix();
    // A thread's environment is a copy of the process's, which Jest's sandbox does not
    // reach: the thread sets the prefix for itself, from a file it requires first.
    const dir = mkdtempSync(join(tmpdir(), 'conveyor-threads-'));
    const setPrefix = join(dir, 'set-prefix.js');
    writeFileSync(setPrefix, `process.env.${PREFIX_VARIABLE} = ${JSON.stringify(prefix)};\n`);
    try {
      app = await startTasksApp([ProducingTasks], {
        prefix,
        threads: {
          ...THREADS,
          module: {
            path: require.resolve('./thread-fixtures/producing.module'),
            export: 'ProducingThreadModule',
          },
          execArgv: [...THREADS.execArgv!, '-r', setPrefix],
        },
      });
      const producer = app.get(TaskProducer);
      for (let i = 0; i < 3; i++) {
        const id = await (await producer.enqueue(Produce, {})).result({ timeout: '20s' });
        // Enqueued from the thread; run by the app's worker in the main thread, never by a
        // worker the thread's TasksModule would have started.
        const followUp = await producer.handle(FollowUp, id).result({ timeout: '20s' });
        expect(followUp.from).toBeGreaterThan(0);
        expect(followUp.ranIn).toBe(0);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails the attempt with TaskThreadError when the thread cannot boot its module', async () => {
    await start({ module: { ...THREADS.module, export: 'NoSuchModule' } });
    const { result } = await run(WhereAmI, {});
    await expect(result).rejects.toMatchObject({
      errorName: 'TaskThreadError',
      message: expect.stringContaining('its worker thread could not boot NoSuchModule ('),
    });
  });

  it('shuts down while a handler spins in a thread: the job goes back to its queue, the thread ends', async () => {
    await start({}, { shutdownTimeout: 200 });
    const handle = await app!.get(TaskProducer).enqueue(Forever, {});
    await eventually(async () => (await handle.state()) === 'active', 10_000, 'the job to start');
    const threads = app!.get(TaskThreads);
    expect(threads.threadCount).toBe(1);
    await app!.close();
    expect(threads.threadCount).toBe(0);
    const reader = await startTasksApp([], { prefix: app!.prefix, workers: 'none' });
    try {
      await expect(reader.get(TaskProducer).handle(Forever, handle.id).state()).resolves.toBe(
        'waiting',
      );
    } finally {
      await reader.close();
    }
  });
});
