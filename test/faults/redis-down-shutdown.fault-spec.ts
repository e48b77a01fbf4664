import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Injectable } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Task, TaskProducer } from '@conveyor/tasks';
import { startChild } from '../support/child-process';
import { startSampleApp } from '../support/sample-app';
import { uniquePrefix } from '../support/redis';
import { startTasksApp } from '../support/tasks-app';
import { Held } from '../support/children/held-task';
import { faultRig, report, until } from './ledger';

// Short locks, so that the job a dead worker left active is found stalled soon after restart.
const QUEUE = { lockDuration: 2_000, stalledInterval: 1_000 };
const SHUTDOWN_TIMEOUT_MS = 2_000;
// The sample app's own shutdownTimeout ('10s', sample-app/src/app.module.ts).
const SAMPLE_SHUTDOWN_TIMEOUT_MS = 10_000;
// The requirement itself (issue 17): the process exits within shutdownTimeout + 5 s, whatever
// Redis does. Measured from the SIGTERM to the child's exit event.
const boundOf = (shutdownTimeoutMs: number) => shutdownTimeoutMs + 5_000;

/** SIGTERMs `child` and waits for its exit up to `boundMs`; the time it took, or undefined. */
async function terminate(child: ChildProcess, boundMs: number): Promise<number | undefined> {
  const sent = Date.now();
  const exited = once(child, 'exit').then(() => Date.now() - sent);
  child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), boundMs);
  });
  try {
    return await Promise.race([exited, bound]);
  } finally {
    clearTimeout(timer);
  }
}

/** A job's state, read straight from a Redis (a raw BullMQ queue, closed after). */
async function stateOn(redisUrl: string, prefix: string, queue: string, jobId: string) {
  const raw = new Queue(queue, { connection: { url: redisUrl }, prefix: `{${prefix}}` });
  try {
    return await raw.getJobState(jobId);
  } finally {
    await raw.close();
  }
}

@Injectable()
class HeldDone {
  @Task(Held)
  hold({ n }: { n: number }): number {
    return n;
  }
}

describe('fault 8: SIGTERM while Redis is unreachable', () => {
  const rig = faultRig();

  it('a tasks-only app with a job in flight exits in time, and the job survives', async () => {
    const prefix = uniquePrefix();
    const api = rig.own(
      await startTasksApp([], {
        connection: rig.redis.url,
        prefix,
        workers: 'none',
        queues: { default: QUEUE },
      }),
    );
    const worker = startChild('held-worker.ts', {
      REDIS_URL: rig.redis.url,
      CONVEYOR_PREFIX: prefix,
      QUEUE_OPTIONS: JSON.stringify(QUEUE),
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
    });
    rig.workers.push(worker);
    await worker.waitFor(/READY/, 60_000);
    const handle = await api.get(TaskProducer).enqueue(Held, { n: 7 });
    await worker.waitFor(new RegExp(`STARTED ${handle.id}`));

    await rig.redis.stop('SIGKILL');
    const exitMs = await terminate(worker.process, boundOf(SHUTDOWN_TIMEOUT_MS));
    await rig.redis.start();

    // Nothing lost: the job is still in the restarted Redis (active, its lock expiring, or
    // handed back), and an app started against it runs it.
    const left = await stateOn(rig.redis.url, prefix, 'default', handle.id);
    const drainer = rig.own(
      await startTasksApp([HeldDone], {
        connection: rig.redis.url,
        prefix,
        queues: { default: QUEUE },
      }),
    );
    await until(async () => (await handle.state()) === 'completed', 60_000, 'the job to run');
    await drainer.close();
    report({
      scenario: 'SIGTERM with Redis down (tasks-only app)',
      items: 1,
      faults: 1,
      ran: 1,
      lost: 0,
      runs: 1,
      duplicatesAbsorbed: 0,
      exitMs: exitMs ?? -1,
      stateAfterRestart: left,
    });
    expect(exitMs).toBeDefined();
    expect(['active', 'waiting']).toContain(left);
  });

  it('the sample app with a send in flight exits in time, and the send survives', async () => {
    // The mail provider takes a minute: the confirmation is in flight when Redis dies.
    const app = await startSampleApp({
      database: 'pglite',
      env: { REDIS_URL: rig.redis.url, MAIL_LATENCY_MS: '60000' },
    });
    try {
      const created = await app.request('POST', '/orders', {
        customerEmail: 'ada@example.com',
        items: [{ sku: 'A-1', quantity: 1 }],
        amountCents: 100,
      });
      expect(created.status).toBe(201);
      const confirmation = (created.body.jobs as Array<{ task: string; jobId: string }>).find(
        (job) => job.task === 'email.send-confirmation',
      )!;
      await until(
        async () =>
          (await stateOn(rig.redis.url, app.prefix, 'email', confirmation.jobId)) === 'active',
        30_000,
        'the confirmation to be in flight',
      );

      await rig.redis.stop('SIGKILL');
      const exitMs = await terminate(app.process, boundOf(SAMPLE_SHUTDOWN_TIMEOUT_MS));
      await rig.redis.start();

      // Nothing lost: the send is still in Redis, active with its lock expiring (or handed
      // back); the first test shows such a job run by the next worker.
      const left = await stateOn(rig.redis.url, app.prefix, 'email', confirmation.jobId);
      report({
        scenario: 'SIGTERM with Redis down (sample app, PGlite)',
        items: 1,
        faults: 1,
        ran: 0,
        lost: left === 'unknown' ? 1 : 0,
        runs: 0,
        duplicatesAbsorbed: 0,
        exitMs: exitMs ?? -1,
        stateAfterRestart: left,
      });
      expect(exitMs).toBeDefined();
      expect(['active', 'waiting']).toContain(left);
    } finally {
      app.process.kill('SIGKILL');
      await app.stop();
    }
  });
});
