import { Injectable, Logger } from '@nestjs/common';
import { defineTask, Task, TaskProducer } from '@conveyor/tasks';
import { RESOLVED_TASKS_OPTIONS, type ResolvedModuleOptions } from '@conveyor/tasks/internal';
import { Redis } from 'ioredis';
import { REDIS_URL } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Ship = defineTask<{ orderId: number; customer: { id: string } }, void>('search.ship', {
  queue: 'search',
  searchable: ['orderId', 'customer.id'],
});
const Plain = defineTask<{ orderId: number }, void>('search.plain', { queue: 'search' });

@Injectable()
class NoRuns {
  // Declared so the producer knows the tasks; workers are off, so the jobs wait.
  @Task(Ship)
  ship(): void {}

  @Task(Plain)
  plain(): void {}
}

describe('the search index the producer keeps for searchable fields', () => {
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

  const indexKey = (app: TestApp) =>
    `${app.get<ResolvedModuleOptions>(RESOLVED_TASKS_OPTIONS as never).keys.queueKey('search')}cv:idx`;

  it('indexes each enqueued job under its searchable values, newest first, and nothing else', async () => {
    const app = await startTasksApp([NoRuns], { workers: 'none' });
    apps = [app];
    const producer = app.get(TaskProducer);
    const one = await producer.enqueue(Ship, { orderId: 42, customer: { id: 'c-1' } });
    const many = await producer.enqueueMany(Ship, [
      { orderId: 42, customer: { id: 'c-2' } },
      { orderId: 43, customer: { id: 'c-1' } },
    ]);
    await producer.enqueue(Plain, { orderId: 42 });
    const base = indexKey(app);
    // The enqueue resolves once the job is in Redis; its index write follows.
    await eventually(
      async () => (await redis.zcard(`${base}:orderId=43`)) === 1,
      5_000,
      'the index writes',
    );
    expect(await redis.zrevrange(`${base}:orderId=42`, 0, -1)).toEqual([many[0].id, one.id]);
    // Scores are Redis time in µs, kept whole.
    const [, score] = await redis.zrange(`${base}:orderId=42`, 0, 0, 'WITHSCORES');
    expect(score).toMatch(/^\d{16}$/);
    expect((await redis.zrange(`${base}:customer.id=c-1`, 0, -1)).sort()).toEqual(
      [one.id, many[1].id].sort(),
    );
    expect(await redis.zrange(`${base}:orderId=43`, 0, -1)).toEqual([many[1].id]);
    expect(Object.keys(await redis.hgetall(base)).sort()).toEqual(['customer.id', 'orderId']);
    // Bounded in time: every index key expires.
    expect(await redis.ttl(`${base}:orderId=42`)).toBeGreaterThan(6 * 24 * 3600);
    expect(await redis.ttl(base)).toBeGreaterThan(0);
  });

  it('keeps the newest 1,000 jobs of a value', async () => {
    const app = await startTasksApp([NoRuns], { workers: 'none' });
    apps = [app];
    const handles = await app.get(TaskProducer).enqueueMany(
      Ship,
      Array.from({ length: 1_010 }, () => ({ orderId: 7, customer: { id: 'c' } })),
    );
    const key = `${indexKey(app)}:orderId=7`;
    await eventually(async () => (await redis.zcard(key)) === 1_000, 5_000, 'the index write');
    const kept = await redis.zrevrange(key, 0, -1);
    expect(kept).toHaveLength(1_000);
    expect(kept[0]).toBe(handles[1_009].id);
    expect(kept).not.toContain(handles[0].id);
  });

  it('adds the job even when the index cannot be written, and says so', async () => {
    const app = await startTasksApp([NoRuns], { workers: 'none' });
    apps = [app];
    // An index key of the wrong type: the index's script fails, BullMQ's add does not.
    await redis.set(indexKey(app), 'not a hash');
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const handle = await app.get(TaskProducer).enqueue(Ship, { orderId: 5, customer: { id: 'c' } });
    expect(await handle.state()).toBe('waiting');
    await eventually(() => warn.mock.calls.length > 0, 5_000, 'the warning');
    expect(warn.mock.calls.map((call) => call[0])).toContainEqual(
      expect.stringMatching(
        /1 job\(s\) of search\.ship added, but not to the search index of queue search: WRONGTYPE/,
      ),
    );
    warn.mockRestore();
  });
});
