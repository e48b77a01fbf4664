import { Injectable, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { defineTask, ScheduleLockError, Task, TaskProducer, TasksModule } from '@conveyor/tasks';
import { PrivateRedis } from '../support/private-redis';
import { closeRawQueue, deletePrefix, rawQueue, REDIS_URL, uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Nightly = defineTask<Record<string, never>, void>('reconcile.nightly');
const OnA = defineTask<Record<string, never>, void>('reconcile.on-a', { queue: 'qa' });
const OnB = defineTask<Record<string, never>, void>('reconcile.on-b', { queue: 'qb' });

@Injectable()
class ScheduledTasks {
  @Task(Nightly, { schedule: { cron: '0 3 * * *' } })
  nightly(): void {}
}

@Injectable()
class UnscheduledTasks {
  @Task(Nightly)
  nightly(): void {}

  @Task(OnA)
  onA(): void {}

  @Task(OnB)
  onB(): void {}
}

/** Keeps every line Nest logs, to wait on what the app says. */
class CapturingLogger implements LoggerService {
  readonly lines: string[] = [];
  log = (message: unknown) => void this.lines.push(String(message));
  error = (message: unknown) => void this.lines.push(String(message));
  warn = (message: unknown) => void this.lines.push(String(message));
}

const ownedKey = (prefix: string) => `{${prefix}}:conveyor:schedules`;
const lockKey = (prefix: string) => `{${prefix}}:conveyor:schedules:lock`;

describe('schedule reconciliation', () => {
  let redis: Redis;
  const apps: TestApp[] = [];
  beforeEach(() => {
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    await stopAll(...apps);
    apps.length = 0;
    redis.disconnect();
  });

  it('a retry that fails is logged and retried, never an unhandled rejection', async () => {
    const unhandled: unknown[] = [];
    const capture = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', capture);
    const prefix = uniquePrefix();
    const logger = new CapturingLogger();
    const module = await Test.createTestingModule({
      imports: [TasksModule.forRoot({ connection: REDIS_URL, prefix, workers: 'none' })],
      providers: [ScheduledTasks],
    }).compile();
    module.useLogger(logger);
    try {
      // The first attempt fails on a key of the wrong type (a Redis error, so it is retried);
      // the retry then finds the lock held by another process for longer than it waits.
      await redis.set(ownedKey(prefix), 'not a hash');
      await module.init();
      await redis.multi().del(ownedKey(prefix)).set(lockKey(prefix), 'other', 'PX', 120_000).exec();
      await eventually(
        () => unhandled.length > 0 || logger.lines.some((line) => /schedule lock/.test(line)),
        90_000,
        'the retry to give up on the lock',
      );
      expect(unhandled).toEqual([]);
      expect(logger.lines.find((line) => /schedule lock/.test(line))).toMatch(/retrying in/);

      // Once the other process lets go, a later retry puts the schedule in place.
      await redis.del(lockKey(prefix));
      const producer = module.get(TaskProducer);
      await eventually(async () => (await producer.schedules()).length === 1, 30_000, 'schedule');
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', capture);
      await module.close();
      await deletePrefix(prefix);
    }
  }, 120_000);

  it('an app that declares no schedule makes no schedule call to Redis at boot', async () => {
    const prefix = uniquePrefix();
    // A server of its own: ioredis's MONITOR can misread a busy shared server's first lines
    // ("Command queue state error"), and nothing else's commands show here.
    const server = await PrivateRedis.start();
    const watcher = server.client();
    // monitor() opens a connection of its own; both are closed at the end.
    const monitor = await watcher.monitor();
    const seen: string[][] = [];
    monitor.on('monitor', (_time: string, args: string[]) => void seen.push(args));
    try {
      apps.push(await startTasksApp([UnscheduledTasks], { prefix, connection: server.url }));
      // Commands reach MONITOR in the order Redis ran them: once this one shows, every
      // command the boot sent has shown too.
      const sentinel = `${prefix}-booted`;
      await watcher.echo(sentinel);
      await eventually(() => seen.some((args) => args.includes(sentinel)), 10_000, 'sentinel');
      const boot = seen.slice(
        0,
        seen.findIndex((args) => args.includes(sentinel)),
      );
      expect(boot.filter((args) => args.some((arg) => arg.startsWith(ownedKey(prefix))))).toEqual(
        [],
      );
    } finally {
      monitor.disconnect();
      watcher.disconnect();
      await stopAll(...apps.splice(0));
      await server.destroy();
    }
  });

  it('still removes the schedules an earlier version declared, after boot', async () => {
    const v1 = await startTasksApp([ScheduledTasks], { workers: 'none' });
    apps.push(v1);
    expect(await v1.get(TaskProducer).schedules()).toHaveLength(1);
    await v1.close();
    const v2 = await startTasksApp([UnscheduledTasks], { workers: 'none', prefix: v1.prefix });
    apps.push(v2);
    await eventually(
      async () => (await v2.get(TaskProducer).schedules()).length === 0,
      20_000,
      'the stale schedule to go',
    );
  });

  it('runtime schedule() takes the lock: two calls for one id leave one scheduler', async () => {
    const app = await startTasksApp([UnscheduledTasks], { workers: 'none' });
    apps.push(app);
    const producer = app.get(TaskProducer);
    await Promise.all([
      producer.schedule('same-id', OnA, { every: '1h' }),
      producer.schedule('same-id', OnB, { every: '1h' }),
    ]);
    const holders: string[] = [];
    for (const name of ['qa', 'qb']) {
      const queue = rawQueue(app.prefix, name);
      try {
        if (await queue.getJobScheduler('same-id')) holders.push(name);
      } finally {
        await closeRawQueue(queue);
      }
    }
    expect(holders).toHaveLength(1);
    expect((await producer.schedules()).map(({ id, queue }) => ({ id, queue }))).toEqual([
      { id: 'same-id', queue: holders[0] },
    ]);
  });

  it('runtime schedule() waits for the lock, and says so when another process keeps it', async () => {
    const app = await startTasksApp([UnscheduledTasks], { workers: 'none' });
    apps.push(app);
    await redis.set(lockKey(app.prefix), 'other', 'PX', 60_000);
    const error = await app
      .get(TaskProducer)
      .schedule('waits', OnA, { every: '1h' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScheduleLockError);
    expect(error).toMatchObject({ reason: 'timeout' });
    expect(await redis.hexists(ownedKey(app.prefix), 'waits')).toBe(0);
  });
});
