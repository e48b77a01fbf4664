import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  defineTask,
  Task,
  type TaskContext,
  TaskLockLostError,
  TaskProducer,
} from '@conveyor/tasks';
import { REDIS_URL } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Long = defineTask<Record<string, never>, string>('lock-lost.long', { queue: 'locks' });

@Injectable()
class LongTasks {
  startedJobId?: string;
  reason?: unknown;

  @Task(Long)
  async long(_: unknown, ctx: TaskContext): Promise<string> {
    this.startedJobId = ctx.jobId;
    await new Promise<void>((resolve) => {
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      setTimeout(resolve, 8_000).unref();
    });
    this.reason ??= ctx.signal.reason;
    return 'stopped';
  }
}

describe('a lost lock', () => {
  let app: TestApp;
  let redis: Redis;
  beforeEach(async () => {
    redis = new Redis(REDIS_URL);
    app = await startTasksApp([LongTasks], {
      // Renewed every 250 ms: a lock taken away is noticed within half a second.
      queues: { locks: { lockDuration: 1_000, stalledInterval: 30_000 } },
    });
  });
  afterEach(async () => {
    await stopAll(app);
    redis.disconnect();
  });

  it("aborts the handler's signal with TaskLockLostError when the lock cannot be renewed", async () => {
    const handle = await app.get(TaskProducer).enqueue(Long, {});
    const tasks = app.get(LongTasks);
    await eventually(() => tasks.startedJobId === handle.id, 5_000, 'the handler to start');

    // What another worker taking the job over (or the lock expiring) looks like to this one.
    const lockKey = `{${app.prefix}}:locks:${handle.id}:lock`;
    expect(await redis.del(lockKey)).toBe(1);

    await eventually(() => tasks.reason !== undefined, 5_000, 'the signal to abort');
    expect(tasks.reason).toBeInstanceOf(TaskLockLostError);
    expect(tasks.reason).toMatchObject({ jobId: handle.id, queue: 'locks' });
  });
});
