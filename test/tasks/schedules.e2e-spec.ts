import { Injectable } from '@nestjs/common';
import { CronExpressionParser } from 'cron-parser';
import {
  defineTask,
  InvalidScheduleError,
  Task,
  type TaskContext,
  TaskProducer,
  UnknownScheduleError,
} from '@conveyor/tasks';
import { closeRawQueue, countKeys, deletePrefix, rawQueue, uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Nightly = defineTask<Record<string, never>, void>('report.nightly');
const Hourly = defineTask<Record<string, never>, void>('cache.hourly');
const Weekly = defineTask<Record<string, never>, void>('digest.weekly');
const Tick = defineTask<{ source: string }, void>('clock.tick');

@Injectable()
class TasksV1 {
  @Task(Nightly, { schedule: { cron: '0 3 * * *' } })
  nightly(): void {}

  @Task(Hourly, { schedule: { every: '1h' } })
  hourly(): void {}
}

@Injectable()
class TasksV2 {
  // Changed: another hour, another time zone.
  @Task(Nightly, { schedule: { cron: '30 4 * * *', tz: 'Europe/Paris' } })
  nightly(): void {}

  // Still handled, no longer scheduled.
  @Task(Hourly)
  hourly(): void {}

  // New.
  @Task(Weekly, { schedule: { cron: '0 8 * * 1', tz: 'America/New_York' } })
  weekly(): void {}
}

@Injectable()
class TickTasks {
  readonly runs: string[] = [];

  @Task(Tick, { schedule: { every: '1s', payload: { source: 'declared' } } })
  tick(_: { source: string }, ctx: TaskContext): void {
    this.runs.push(ctx.jobId);
  }
}

/**
 * The next run times a schedule computed at some moment from `since` to now may hold: the one
 * after `since` and the one after now (they differ only if a boundary passed in between).
 */
function nextCron(cron: string, tz: string, since: number): number[] {
  const next = (from: number) =>
    CronExpressionParser.parse(cron, { tz, currentDate: new Date(from) })
      .next()
      .getTime();
  return [next(since), next(Date.now())];
}

describe('schedules', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await stopAll(...apps);
    apps.length = 0;
  });

  it('reconciles schedules when a new version of the app deploys', async () => {
    const since = Date.now();
    const v1 = await startTasksApp([TasksV1], { workers: 'none' });
    apps.push(v1);
    const first = await v1.get(TaskProducer).schedules();
    expect(
      first.map(({ id, source, cron, tz, everyMs }) => ({ id, source, cron, tz, everyMs })),
    ).toEqual([
      {
        id: 'conveyor.cache.hourly',
        source: 'declared',
        cron: undefined,
        tz: undefined,
        everyMs: 3_600_000,
      },
      {
        id: 'conveyor.report.nightly',
        source: 'declared',
        cron: '0 3 * * *',
        tz: 'UTC',
        everyMs: undefined,
      },
    ]);
    expect(nextCron('0 3 * * *', 'UTC', since)).toContain(first[1].nextRunAt?.getTime());
    await v1.close();

    const v2 = await startTasksApp([TasksV2], { workers: 'none', prefix: v1.prefix });
    apps.push(v2);
    const second = await v2.get(TaskProducer).schedules();
    expect(second.map(({ id, cron, tz }) => ({ id, cron, tz }))).toEqual([
      { id: 'conveyor.digest.weekly', cron: '0 8 * * 1', tz: 'America/New_York' },
      { id: 'conveyor.report.nightly', cron: '30 4 * * *', tz: 'Europe/Paris' },
    ]);
    expect(nextCron('0 8 * * 1', 'America/New_York', since)).toContain(
      second[0].nextRunAt?.getTime(),
    );
    expect(nextCron('30 4 * * *', 'Europe/Paris', since)).toContain(second[1].nextRunAt?.getTime());

    // BullMQ itself holds exactly these schedulers, each with one pending job.
    const queue = rawQueue(v2.prefix, 'default');
    try {
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers.map((s) => s.key).sort()).toEqual([
        'conveyor.digest.weekly',
        'conveyor.report.nightly',
      ]);
      const delayed = await queue.getDelayed();
      expect(delayed.map((job) => job.name).sort()).toEqual(['digest.weekly', 'report.nightly']);
    } finally {
      await closeRawQueue(queue);
    }
  });

  it('makes one scheduler when two processes boot at once', async () => {
    const since = Date.now();
    const prefix = uniquePrefix();
    apps.push(
      ...(await Promise.all([
        startTasksApp([TasksV1], { workers: 'none', prefix }),
        startTasksApp([TasksV1], { workers: 'none', prefix }),
      ])),
    );
    const queue = rawQueue(prefix, 'default');
    try {
      expect(await queue.getJobSchedulersCount()).toBe(2);
      const nightly = await queue.getJobScheduler('conveyor.report.nightly');
      expect(nextCron('0 3 * * *', 'UTC', since)).toContain(Number(nightly?.next));
      // One pending job per scheduler (an `every` schedule's first job is due at once).
      const pending = await queue.getJobs(['waiting', 'delayed', 'prioritized']);
      expect(pending.map((job) => job.name).sort()).toEqual(['cache.hourly', 'report.nightly']);
    } finally {
      await closeRawQueue(queue);
    }
  });

  it('runs each tick once across two worker processes', async () => {
    const prefix = uniquePrefix();
    apps.push(
      await startTasksApp([TickTasks], { prefix }),
      await startTasksApp([TickTasks], { prefix }),
    );
    const [a, b] = apps.map((app) => app.get(TickTasks));
    await eventually(() => a.runs.length + b.runs.length >= 3, 20_000, 'three ticks');
    await Promise.all(apps.map((app) => app.close()));
    // A scheduled job's id names its tick: no tick may have run twice.
    const runs = [...a.runs, ...b.runs];
    expect(new Set(runs).size).toBe(runs.length);
  });

  it.each([
    ['an invalid cron expression', { cron: '0 25 * * *' }, /not a valid cron expression/],
    ['an unknown time zone', { cron: '0 3 * * *', tz: 'Europe/Atlantis' }, /not a time zone/],
  ])('fails startup on %s, writing nothing', async (_, schedule, message) => {
    const Bad = defineTask('bad.schedule');
    @Injectable()
    class BadTasks {
      @Task(Bad, { schedule })
      run(): void {}
    }
    const prefix = uniquePrefix();
    try {
      const error = await startTasksApp([BadTasks], { prefix }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidScheduleError);
      expect((error as Error).message).toMatch(/task "bad.schedule"/);
      expect((error as Error).message).toMatch(message);
      expect(await countKeys(prefix)).toBe(0);
    } finally {
      await deletePrefix(prefix);
    }
  });

  it('adds and removes schedules at run time, and keeps them across deploys', async () => {
    const since = Date.now();
    const app = await startTasksApp([TasksV1], { workers: 'none' });
    apps.push(app);
    const producer = app.get(TaskProducer);
    const added = await producer.schedule('tick-eu', Tick, {
      cron: '*/10 * * * *',
      tz: 'Europe/Berlin',
      payload: { source: 'runtime' },
    });
    expect(added).toMatchObject({ id: 'tick-eu', taskName: 'clock.tick', source: 'runtime' });
    expect(nextCron('*/10 * * * *', 'Europe/Berlin', since)).toContain(added.nextRunAt?.getTime());

    await expect(producer.schedule('conveyor.sneaky', Tick, { every: '1m' })).rejects.toThrow(
      InvalidScheduleError,
    );
    await expect(producer.unschedule('conveyor.report.nightly')).rejects.toThrow(
      UnknownScheduleError,
    );

    // A redeploy reconciles declared schedules only.
    await app.close();
    const again = await startTasksApp([TasksV1], { workers: 'none', prefix: app.prefix });
    apps.push(again);
    const ids = (await again.get(TaskProducer).schedules()).map((s) => s.id);
    expect(ids).toEqual(['conveyor.cache.hourly', 'conveyor.report.nightly', 'tick-eu']);

    await again.get(TaskProducer).unschedule('tick-eu');
    expect((await again.get(TaskProducer).schedules()).map((s) => s.id)).not.toContain('tick-eu');
    await expect(again.get(TaskProducer).unschedule('tick-eu')).rejects.toThrow(
      UnknownScheduleError,
    );
  });
});
