import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  DeadLetters,
  defineTask,
  InvalidModuleOptionsError,
  InvalidTaskOptionsError,
  Task,
  TaskProducer,
  TasksModule,
  TaskStats,
} from '@conveyor/tasks';
import { RESOLVED_TASKS_OPTIONS, type ResolvedModuleOptions } from '@conveyor/tasks/internal';
import { Redis } from 'ioredis';
import { REDIS_URL, uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Work = defineTask<{ n: number; sleepMs?: number; decline?: boolean }, number>('stats.work', {
  queue: 'stats',
});
const Other = defineTask<{ n: number }, number>('stats.other', { queue: 'stats' });

@Injectable()
class StatsTasks {
  @Task(Work)
  async work({ n, sleepMs, decline }: { n: number; sleepMs?: number; decline?: boolean }) {
    if (sleepMs) await new Promise((resolve) => setTimeout(resolve, sleepMs));
    if (decline) throw new RangeError(`card declined for order ${n}`);
    return n;
  }

  @Task(Other)
  other({ n }: { n: number }): number {
    if (n < 0) throw new TypeError(`negative: "${n}"`);
    return n;
  }
}

describe('TaskStats: the run history workers keep in Redis', () => {
  let apps: TestApp[] = [];
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    await stopAll(...apps);
    apps = [];
  });
  afterAll(() => redis.quit());

  const statsKey = (app: TestApp) => {
    const options = app.get<ResolvedModuleOptions>(RESOLVED_TASKS_OPTIONS as never);
    return `${options.keys.queueKey('stats')}cv:stats`;
  };

  it('adds the runs of two worker processes into one history per queue and per task', async () => {
    const prefix = uniquePrefix();
    const options = { prefix, stats: { interval: '1s' } } as const;
    apps = [await startTasksApp([StatsTasks], options), await startTasksApp([StatsTasks], options)];
    const producer = apps[0].get(TaskProducer);
    const handles = [
      ...(await producer.enqueueMany(
        Work,
        Array.from({ length: 20 }, (_, n) => ({ n })),
      )),
      ...(await producer.enqueueMany(
        Work,
        Array.from({ length: 5 }, (_, n) => ({ n: 100 + n, sleepMs: 200 })),
      )),
    ];
    const declined = await producer.enqueueMany(
      Work,
      [41, 42, 43].map((n) => ({ n, decline: true })),
    );
    await producer.enqueue(Other, { n: -1 });
    await Promise.all(handles.map((handle) => handle.result({ timeout: 20_000 })));
    const deadLetters = apps[0].get(DeadLetters);
    await eventually(async () => (await deadLetters.count('stats')) === 4, 20_000, 'dead letters');

    const stats = apps[1].get(TaskStats);
    const work = (await eventually(
      async () => {
        const detail = await stats.task('stats.work');
        return detail.completed === 25 && detail.deadLettered === 3 ? detail : undefined;
      },
      20_000,
      'the history of stats.work',
    ))!;
    expect(work).toMatchObject({ task: 'stats.work', queue: 'stats', failed: 3 });
    expect(work.successRate).toBeCloseTo(25 / 28);
    expect(work.minutes).toHaveLength(60);
    expect(work.minutes.reduce((sum, m) => sum + m.completed, 0)).toBe(25);
    // Five of 28 runs slept 200 ms: the 95th percentile is one of them (buckets within 9%).
    expect(work.p95Ms).toBeGreaterThanOrEqual(180);
    expect(work.p99Ms).toBeGreaterThanOrEqual(work.p50Ms!);
    // The three declines are one failure group, whatever the order number.
    expect(work.failures).toEqual([
      expect.objectContaining({
        signature: 'RangeError: card declined for order <n>',
        count: 3,
        name: 'RangeError',
      }),
    ]);
    expect(declined.map((handle) => handle.id)).toContain(work.failures[0].lastJobId);
    expect(work.failures[0].message).toMatch(/^card declined for order 4[123]$/);

    const other = await eventually(
      async () => (await stats.tasks('stats')).find((task) => task.task === 'stats.other'),
      20_000,
      'stats.other in the task list',
    );
    expect(other).toMatchObject({ failed: 1, deadLettered: 1, completed: 0, successRate: 0 });
    expect((await stats.tasks('stats')).map((task) => task.task)).toEqual([
      'stats.work',
      'stats.other',
    ]);
    const [queue] = await stats.queues(['stats'], { window: '5m' });
    expect(queue).toMatchObject({ queue: 'stats', completed: 25, failed: 4, deadLettered: 4 });
    expect(queue.minutes).toHaveLength(5);
    expect(queue.avgRunMs).toBeGreaterThan(0);
  });

  it('forgets minutes older than the retention when it next writes', async () => {
    const app = await startTasksApp([StatsTasks], { stats: { interval: '1s', retention: '5m' } });
    apps = [app];
    const key = statsKey(app);
    const [seconds] = await redis.time();
    const minute = Math.floor(Number(seconds) / 60);
    const taskKey = `${key}:t:stats.work`;
    // Figures from an hour ago, as an earlier process would have left them.
    await redis.hset(key, `${minute - 60}:c`, 7, '_t', 0);
    await redis.hset(taskKey, `${minute - 60}:c`, 7, `${minute - 60}:h:3`, 7, '_t', 0);
    await app.get(TaskProducer).enqueue(Work, { n: 1 });
    await eventually(
      async () =>
        Number(await redis.hget(key, `${minute}:c`)) >= 1 ||
        Number(await redis.hget(key, `${minute + 1}:c`)) >= 1,
      20_000,
      'the run written',
    );
    expect(await redis.hexists(key, `${minute - 60}:c`)).toBe(0);
    expect(await redis.hexists(taskKey, `${minute - 60}:c`)).toBe(0);
    expect(await redis.hexists(taskKey, `${minute - 60}:h:3`)).toBe(0);
    // Every key expires too, so a queue nobody runs any more leaves nothing behind.
    expect(await redis.ttl(key)).toBeGreaterThan(0);
    expect(await redis.ttl(taskKey)).toBeGreaterThan(0);
  });

  it('keeps no history with stats: false', async () => {
    const app = await startTasksApp([StatsTasks], { stats: false });
    apps = [app];
    await (await app.get(TaskProducer).enqueue(Work, { n: 1 })).result({ timeout: 10_000 });
    await app.close();
    expect(await redis.exists(statsKey(app))).toBe(0);
  });

  it('writes what is left when the app shuts down', async () => {
    // An interval longer than the test: only the shutdown's write can put the run there.
    const app = await startTasksApp([StatsTasks], { stats: { interval: '1m' } });
    apps = [app];
    await (await app.get(TaskProducer).enqueue(Work, { n: 1 })).result({ timeout: 10_000 });
    const key = statsKey(app);
    expect(await redis.exists(key)).toBe(0);
    await app.close();
    const fields = await redis.hgetall(key);
    expect(Object.entries(fields).filter(([f]) => f.endsWith(':c'))).toEqual([
      [expect.stringMatching(/^\d+:c$/), '1'],
    ]);
  });

  it('names what is wrong in its options and arguments', async () => {
    const app = await startTasksApp([StatsTasks], {});
    apps = [app];
    const stats = app.get(TaskStats);
    await expect(stats.task('stats.work', { window: '30s' })).rejects.toThrow(
      /window must be whole minutes from 1m to 24h, got '30s'/,
    );
    await expect(stats.queues(['nope'])).rejects.toThrow(InvalidTaskOptionsError);
    await expect(stats.task('elsewhere.task')).rejects.toThrow(/give its queue/);
    await expect(stats.task('')).rejects.toThrow(/task must be a task name/);
    for (const [stats, message] of [
      [{ interval: '10ms' }, /stats.interval must be from 1s to 1m/],
      [{ retention: '90s' }, /stats.retention must be whole minutes from 5m to 6h/],
      [{ every: '1s' }, /stats/],
      ['on', /stats must be an object/],
    ] as const) {
      await expect(
        Test.createTestingModule({
          imports: [TasksModule.forRoot({ connection: REDIS_URL, stats: stats as never })],
        }).compile(),
      ).rejects.toThrow(
        expect.objectContaining({
          name: InvalidModuleOptionsError.name,
          message: expect.stringMatching(message),
        }),
      );
    }
  });
});
