import { Logger } from '@nestjs/common';
import { TaskProducer } from '@conveyor/tasks';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { closeRawQueue, rawQueue } from '../support/redis';
import { eventually } from '../support/tasks-app';
import { call, TOKEN } from './dashboard-app';
import {
  Digest,
  DIGEST_SCHEDULE,
  startWorkflowsApp,
  WorkflowTestTasks,
} from './dashboard-workflows-app';

describe('@conveyor/dashboard schedules API', () => {
  let app: HttpTestApp | undefined;

  afterEach(async () => {
    jest.restoreAllMocks();
    const stopping = app;
    app = undefined;
    await stopHttpApps(stopping);
  });

  async function schedulerOf(id: string) {
    const queue = rawQueue(app!.prefix, 'digests');
    try {
      return await queue.getJobScheduler(id);
    } finally {
      await closeRawQueue(queue);
    }
  }

  it('lists declared and run-time schedules with timing, source, next run and paused', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    await app.get(TaskProducer).schedule('digest-hourly', Digest, {
      every: '1h',
      payload: { kind: 'hourly' },
    });
    const { status, body } = await call(app, 'schedules');
    expect(status).toBe(200);
    expect(body.schedules).toEqual([
      {
        id: DIGEST_SCHEDULE,
        taskName: 'digest.build',
        queue: 'digests',
        source: 'declared',
        cron: '0 6 * * *',
        tz: 'Europe/Paris',
        nextRunAt: expect.any(String),
        paused: false,
      },
      {
        id: 'digest-hourly',
        taskName: 'digest.build',
        queue: 'digests',
        source: 'runtime',
        everyMs: 3_600_000,
        nextRunAt: expect.any(String),
        paused: false,
      },
    ]);
    // The next run is the scheduler's own.
    expect(new Date(body.schedules[0].nextRunAt).getTime()).toBe(
      Number((await schedulerOf(DIGEST_SCHEDULE))?.next),
    );
  });

  it('pauses and resumes a schedule, logging who did it', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    const logged = jest.spyOn(Logger.prototype, 'log');
    const paused = await call(app, `schedules/${DIGEST_SCHEDULE}/pause`, {
      method: 'POST',
      headers: { 'x-conveyor-user': 'ops-bob' },
    });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ id: DIGEST_SCHEDULE, paused: true, cron: '0 6 * * *' });
    expect(paused.body.nextRunAt).toBeUndefined();
    expect(logged).toHaveBeenCalledWith(
      `dashboard: pause schedule {"schedule":"${DIGEST_SCHEDULE}"} by ops-bob`,
    );
    expect(await schedulerOf(DIGEST_SCHEDULE)).toBeUndefined();
    expect((await call(app, 'schedules')).body.schedules[0]).toMatchObject({
      paused: true,
      pausedAt: paused.body.pausedAt,
    });

    const resumed = await call(app, `schedules/${DIGEST_SCHEDULE}/resume`, { method: 'POST' });
    expect(resumed.status).toBe(200);
    expect(resumed.body).toMatchObject({ paused: false, nextRunAt: expect.any(String) });
    expect(await schedulerOf(DIGEST_SCHEDULE)).toMatchObject({ pattern: '0 6 * * *' });
  });

  it('triggers one run now with the schedule payload, leaving the schedule as it was', async () => {
    app = await startWorkflowsApp({ token: TOKEN });
    const before = (await call(app, 'schedules')).body.schedules[0];
    const triggered = await call(app, `schedules/${DIGEST_SCHEDULE}/trigger`, { method: 'POST' });
    expect(triggered.status).toBe(200);
    expect(triggered.body).toEqual({
      schedule: DIGEST_SCHEDULE,
      jobId: expect.any(String),
      queue: 'digests',
      task: 'digest.build',
    });
    const job = await eventually(
      async () => {
        const answer = await call(app!, `jobs/digests/${triggered.body.jobId}`);
        return answer.body?.state === 'completed' ? answer.body : undefined;
      },
      10_000,
      'the triggered run',
    );
    expect(job).toMatchObject({ payload: { kind: 'daily' }, result: 'digest daily' });
    expect(app.get(WorkflowTestTasks).digests).toEqual([
      { kind: 'daily', jobId: triggered.body.jobId },
    ]);
    expect((await call(app, 'schedules')).body.schedules[0]).toEqual(before);
  });

  it('answers 404 for an unknown schedule, and 403 to every action in read-only mode', async () => {
    app = await startWorkflowsApp({ token: TOKEN, readOnly: true });
    expect((await call(app, 'schedules')).status).toBe(200);
    for (const action of ['pause', 'resume', 'trigger']) {
      const refused = await call(app, `schedules/${DIGEST_SCHEDULE}/${action}`, { method: 'POST' });
      expect({ action, status: refused.status }).toEqual({ action, status: 403 });
    }
    expect(await schedulerOf(DIGEST_SCHEDULE)).toBeDefined();
    // The refused trigger added no job: the queue holds only the scheduler's next run.
    const queue = rawQueue(app.prefix, 'digests');
    try {
      const counts = await queue.getJobCounts('wait', 'active', 'completed', 'failed', 'delayed');
      expect(counts).toEqual({ wait: 0, active: 0, completed: 0, failed: 0, delayed: 1 });
    } finally {
      await closeRawQueue(queue);
    }
    expect(app.get(WorkflowTestTasks).digests).toEqual([]);
    await app.close();

    app = await startWorkflowsApp({ token: TOKEN });
    for (const action of ['pause', 'resume', 'trigger']) {
      const unknown = await call(app, `schedules/no-such-schedule/${action}`, { method: 'POST' });
      expect(unknown).toMatchObject({
        status: 404,
        body: {
          error: 'UnknownScheduleError',
          message: expect.stringContaining('no-such-schedule'),
        },
      });
    }
  });
});
