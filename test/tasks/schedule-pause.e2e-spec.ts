import { Injectable } from '@nestjs/common';
import { Redis } from 'ioredis';
import {
  defineTask,
  step,
  Task,
  type TaskContext,
  TaskProducer,
  UnknownScheduleError,
} from '@conveyor/tasks';
import { closeRawQueue, rawQueue, REDIS_URL, uniquePrefix } from '../support/redis';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Report = defineTask<{ kind: string }, string>('report.build');
const Tick = defineTask<{ source: string }, void>('clock.tick', { attempts: 3 });

@Injectable()
class ReportsV1 {
  readonly runs: Array<{ kind: string; jobId: string }> = [];

  @Task(Report, { schedule: { cron: '0 3 * * *', payload: { kind: 'sales' } } })
  build({ kind }: { kind: string }, ctx: TaskContext): string {
    this.runs.push({ kind, jobId: ctx.jobId });
    return kind;
  }

  @Task(Tick)
  tick(): void {}
}

@Injectable()
class ReportsV2 {
  // A deploy changes the hour and the payload of the (paused) schedule.
  @Task(Report, {
    schedule: { cron: '30 4 * * *', tz: 'Europe/Paris', payload: { kind: 'stock' } },
  })
  build({ kind }: { kind: string }): string {
    return kind;
  }

  @Task(Tick)
  tick(): void {}
}

const NIGHTLY = 'conveyor.report.build';

describe('schedule pause, resume and trigger', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await stopAll(...apps);
    apps.length = 0;
  });

  async function schedulerIds(prefix: string): Promise<string[]> {
    const queue = rawQueue(prefix, 'default');
    try {
      return (await queue.getJobSchedulers()).map((s) => s.key).sort();
    } finally {
      await closeRawQueue(queue);
    }
  }

  it('a paused declared schedule stays paused across restarts and deploys, then resumes as last declared', async () => {
    const v1 = await startTasksApp([ReportsV1], { workers: 'none' });
    apps.push(v1);
    const producer = v1.get(TaskProducer);
    expect(await schedulerIds(v1.prefix)).toEqual([NIGHTLY]);

    const paused = await producer.pauseSchedule(NIGHTLY);
    expect(paused).toMatchObject({ id: NIGHTLY, paused: true, cron: '0 3 * * *', tz: 'UTC' });
    expect(paused.nextRunAt).toBeUndefined();
    expect(paused.pausedAt).toBeInstanceOf(Date);
    // No BullMQ scheduler while paused, nor its next job: no tick can make one, in any process.
    expect(await schedulerIds(v1.prefix)).toEqual([]);
    const pending = rawQueue(v1.prefix, 'default');
    try {
      expect(await pending.getJobs(['waiting', 'delayed', 'prioritized'])).toEqual([]);
    } finally {
      await closeRawQueue(pending);
    }
    // Pausing again changes nothing.
    expect(await producer.pauseSchedule(NIGHTLY)).toMatchObject({
      paused: true,
      pausedAt: paused.pausedAt,
    });

    // A restart of the same version: the reconciliation leaves it paused.
    await v1.close();
    const again = await startTasksApp([ReportsV1], { workers: 'none', prefix: v1.prefix });
    apps.push(again);
    expect(await schedulerIds(v1.prefix)).toEqual([]);
    expect(await again.get(TaskProducer).schedules()).toEqual([
      expect.objectContaining({ id: NIGHTLY, paused: true, cron: '0 3 * * *' }),
    ]);

    // A deploy that changes the schedule updates it, still paused.
    await again.close();
    const v2 = await startTasksApp([ReportsV2], { workers: 'none', prefix: v1.prefix });
    apps.push(v2);
    expect(await schedulerIds(v1.prefix)).toEqual([]);
    expect(await v2.get(TaskProducer).schedules()).toEqual([
      expect.objectContaining({
        id: NIGHTLY,
        paused: true,
        cron: '30 4 * * *',
        tz: 'Europe/Paris',
      }),
    ]);

    const resumed = await v2.get(TaskProducer).resumeSchedule(NIGHTLY);
    expect(resumed).toMatchObject({ paused: false, cron: '30 4 * * *', tz: 'Europe/Paris' });
    expect(resumed.pausedAt).toBeUndefined();
    expect(resumed.nextRunAt).toBeInstanceOf(Date);
    const queue = rawQueue(v1.prefix, 'default');
    try {
      const scheduler = await queue.getJobScheduler(NIGHTLY);
      expect(scheduler).toMatchObject({ pattern: '30 4 * * *', tz: 'Europe/Paris' });
      expect(scheduler?.template?.data).toEqual({ kind: 'stock' });
    } finally {
      await closeRawQueue(queue);
    }
    // Resuming a running schedule changes nothing.
    expect(await v2.get(TaskProducer).resumeSchedule(NIGHTLY)).toMatchObject({ paused: false });
    expect(await schedulerIds(v1.prefix)).toEqual([NIGHTLY]);
  });

  it('triggers one run now with the schedule payload, paused or not, leaving the schedule as it was', async () => {
    const app = await startTasksApp([ReportsV1]);
    apps.push(app);
    const producer = app.get(TaskProducer);
    const before = (await producer.schedules())[0];

    const handle = await producer.triggerSchedule<string>(NIGHTLY);
    expect(await handle.result({ timeout: '10s' })).toBe('sales');
    expect((await producer.schedules())[0]).toEqual(before);

    await producer.pauseSchedule(NIGHTLY);
    const whilePaused = await producer.triggerSchedule<string>(NIGHTLY);
    expect(await whilePaused.result({ timeout: '10s' })).toBe('sales');
    expect((await producer.schedules())[0]).toMatchObject({ paused: true });

    const runs = app.get(ReportsV1).runs;
    expect(runs.map((run) => run.kind)).toEqual(['sales', 'sales']);
    expect(runs.map((run) => run.jobId)).toEqual([handle.id, whilePaused.id]);
  });

  it('triggers a run from a process without the task (a dashboard-only app), with the schedule payload', async () => {
    const worker = await startTasksApp([ReportsV1]);
    apps.push(worker);
    // Same prefix, no handler of report.build: it cannot validate or route the task itself.
    const console = await startTasksApp([], { prefix: worker.prefix, workers: 'none' });
    apps.push(console);
    const producer = console.get(TaskProducer);
    const handle = await producer.triggerSchedule<string>(NIGHTLY);
    expect(handle).toMatchObject({ taskName: 'report.build', queue: 'default' });
    expect(await handle.result({ timeout: '10s' })).toBe('sales');
    expect(worker.get(ReportsV1).runs).toEqual([{ kind: 'sales', jobId: handle.id }]);
    // Paused, from there too: the kept template is what runs.
    await producer.pauseSchedule(NIGHTLY);
    const whilePaused = await producer.triggerSchedule<string>(NIGHTLY);
    expect(await whilePaused.result({ timeout: '10s' })).toBe('sales');
    expect(worker.get(ReportsV1).runs.map((run) => run.jobId)).toEqual([handle.id, whilePaused.id]);
  });

  it('pauses, resumes and removes a schedule added at run time', async () => {
    const app = await startTasksApp([ReportsV1]);
    apps.push(app);
    const producer = app.get(TaskProducer);
    const queue = rawQueue(app.prefix, 'default');
    try {
      await producer.schedule('tick-fast', Tick, { every: '1h', payload: { source: 'runtime' } });
      const options = (await queue.getJobScheduler('tick-fast'))?.template?.opts;
      expect(options).toMatchObject({ attempts: 3 });
      await producer.pauseSchedule('tick-fast');
      // Replacing a paused schedule keeps it paused, with its new timing.
      const replaced = await producer.schedule('tick-fast', Tick, {
        every: '2h',
        payload: { source: 'replaced' },
      });
      expect(replaced).toMatchObject({ paused: true, everyMs: 7_200_000 });
      expect(await queue.getJobScheduler('tick-fast')).toBeUndefined();

      const resumed = await producer.resumeSchedule('tick-fast');
      expect(resumed).toMatchObject({ paused: false, everyMs: 7_200_000 });
      expect((await queue.getJobScheduler('tick-fast'))?.template?.data).toEqual({
        source: 'replaced',
      });
      // The task's job options come back with it.
      expect((await queue.getJobScheduler('tick-fast'))?.template?.opts).toEqual(options);

      await producer.pauseSchedule('tick-fast');
      await producer.unschedule('tick-fast');
      expect((await producer.schedules()).map((s) => s.id)).toEqual([NIGHTLY]);
      const redis = new Redis(REDIS_URL);
      try {
        expect(await redis.hkeys(`{${app.prefix}}:conveyor:schedules:paused`)).toEqual([]);
      } finally {
        redis.disconnect();
      }
      expect((await queue.getJobSchedulers()).map((s) => s.key)).toEqual([NIGHTLY]);
    } finally {
      await closeRawQueue(queue);
    }
  });

  it.each(['pauseSchedule', 'resumeSchedule', 'triggerSchedule'] as const)(
    '%s throws UnknownScheduleError for an id no schedule has',
    async (method) => {
      const app = await startTasksApp([ReportsV1], { workers: 'none' });
      apps.push(app);
      const error = await app
        .get(TaskProducer)
        [method]('no-such-schedule')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnknownScheduleError);
      expect((error as UnknownScheduleError).scheduleId).toBe('no-such-schedule');
    },
  );
});

describe('recent workflows', () => {
  const apps: TestApp[] = [];
  afterEach(async () => {
    await stopAll(...apps);
    apps.length = 0;
  });

  it('lists the workflows started by any process, newest first, up to the limit', async () => {
    const prefix = uniquePrefix();
    const a = await startTasksApp([ReportsV1], { prefix, workers: 'none' });
    const b = await startTasksApp([ReportsV1], { prefix, workers: 'none' });
    apps.push(a, b);
    // Workflows started in one millisecond share a score: start each in a later one.
    const nextMs = () => new Promise((resolve) => setTimeout(resolve, 2));
    const first = await a.get(TaskProducer).chain([step(Tick, { source: 'a' })]);
    await nextMs();
    const second = await b.get(TaskProducer).group([step(Tick, { source: 'b' })]);
    await nextMs();
    const third = await a.get(TaskProducer).chain([step(Tick, { source: 'c' })]);

    const recent = await b.get(TaskProducer).recentWorkflows();
    expect(recent.map((w) => w.id)).toEqual([third.id, second.id, first.id]);
    expect(recent[0].startedAt).toBeInstanceOf(Date);
    expect((await a.get(TaskProducer).recentWorkflows(2)).map((w) => w.id)).toEqual([
      third.id,
      second.id,
    ]);
    expect(() => a.get(TaskProducer).recentWorkflows(0)).toThrow(/limit from 1 to 1000/);
  });
});
