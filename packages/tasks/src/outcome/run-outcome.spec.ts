import { randomUUID } from 'node:crypto';
import { Logger, type LoggerService } from '@nestjs/common';
import { Redis } from 'ioredis';
import { DelayedError, type Job } from 'bullmq';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import type { ResolvedTaskOptions } from '../options/task-options';
import { RetryTaskError } from '../errors/retry-task.error';
import type { RedisConnections } from '../redis/redis-connections';
import type { RegisteredTask } from '../tasks.registry';
import type { TaskHooksRunner } from '../worker/task-hooks-runner';
import type { WorkflowFailures } from '../workflows/workflow-failures';
import { RunOutcome } from './run-outcome';

const appLogger = (Logger as unknown as { staticInstanceRef?: LoggerService }).staticInstanceRef;

function failingJob(attemptsMade: number): Job {
  return {
    id: '12',
    name: 'report.build',
    queueName: 'reports',
    attemptsMade,
    opts: { attempts: 3 },
    processedOn: Date.now() - 40,
  } as Job;
}

describe('RunOutcome', () => {
  const task = {
    name: 'report.build',
    options: {
      backoff: { type: 'exponential', delayMs: 1_000, jitter: 0.5 },
    } as ResolvedTaskOptions,
    handler: () => undefined,
    owner: 'Reports.build',
  } as RegisteredTask;
  const hooks = { wants: () => false, deadLetter: async () => undefined };
  let lines: Record<string, unknown>[];
  // The uncounted-retry counter lives in the job's hash: a real Redis, under a prefix of
  // this test's own (`jobKey`), with the job's hash in place as BullMQ would have it.
  const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `{run-outcome-${randomUUID().slice(0, 8)}}`;
  const redis = { workerClient: client } as unknown as RedisConnections;
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length) await client.del(...keys);
    await client.quit();
  });
  const newOutcome = (h: object = hooks) =>
    new RunOutcome(
      h as unknown as TaskHooksRunner,
      new TaskInstrumentation(),
      redis,
      // Not a workflow step: nothing to set off.
      { stepFailed: async () => undefined } as unknown as WorkflowFailures,
    );

  beforeEach(() => {
    lines = [];
    const record = (line: unknown) => void lines.push(line as Record<string, unknown>);
    Logger.overrideLogger({ log: record, warn: record, error: record });
  });
  afterEach(() => Logger.overrideLogger(appLogger as LoggerService));

  it("logs a failed attempt's run, duration and retry delay, and retries after that delay", async () => {
    const outcome = newOutcome();
    const job = failingJob(1);
    await outcome.failed(new TypeError('no rows'), task, job, 'token', false);

    expect(lines).toEqual([
      expect.objectContaining({
        msg: 'job 12 attempt 2/3 failed, will retry: TypeError: no rows',
        task: 'report.build',
        queue: 'reports',
        jobId: '12',
        attempt: 2,
        maxAttempts: 3,
        willRetry: true,
        error: { name: 'TypeError', message: 'no rows' },
      }),
    ]);
    const { durationMs, retryInMs } = lines[0] as { durationMs: number; retryInMs: number };
    expect(durationMs).toBeGreaterThanOrEqual(40);
    // Exponential from 1 s after the second attempt, less up to half of it in jitter.
    expect(retryInMs).toBeGreaterThanOrEqual(1_000);
    expect(retryInMs).toBeLessThanOrEqual(2_000);
    // BullMQ's backoff strategy asks once: it gets the delay the line announced.
    expect(outcome.retryDelay(task, job, 2)).toBe(retryInMs);
  });

  it('logs a last failure as dead-lettered, with no retry delay', async () => {
    const outcome = newOutcome();
    await outcome.failed(new Error('no rows'), task, failingJob(2), 'token', false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ attempt: 3, willRetry: false });
    expect(lines[0].msg).toMatch(/attempt 3\/3 failed, dead-lettered/);
    expect(lines[0]).not.toHaveProperty('retryInMs');
  });

  describe('RetryTaskError', () => {
    const picky = {
      ...task,
      options: { ...task.options, retryIf: () => false, maxUncountedRetries: 2 },
    } as RegisteredTask;
    const events: Record<string, unknown>[] = [];
    const hooked = {
      wants: () => true,
      failure: async (_: unknown, event: Record<string, unknown>) => void events.push(event),
      deadLetter: async () => undefined,
    };
    beforeEach(() => (events.length = 0));

    function retryingJob(attemptsMade: number) {
      const delays: number[] = [];
      // A queue key of its own for each job, so counters never carry over between tests.
      const queueQualifiedName = `${prefix}:reports-${randomUUID().slice(0, 8)}`;
      void client.hset(`${queueQualifiedName}:12`, 'name', 'report.build');
      const job = {
        ...failingJob(attemptsMade),
        queueQualifiedName,
        moveToDelayed: async (at: number) => void delays.push(at - Date.now()),
      } as unknown as Job;
      return { job, delays };
    }

    it('retries after its delay even when retryIf refuses, and tells the hook when', async () => {
      const outcome = newOutcome(hooked);
      const { job } = retryingJob(0);
      const error = new RetryTaskError({ delay: '30s', cause: new Error('HTTP 429') });
      const handedToBull = await outcome.failed(error, picky, job, 'token', false);

      expect(handedToBull).toBe(error);
      expect(lines[0]).toMatchObject({ willRetry: true, retryInMs: 30_000, attempt: 1 });
      expect(lines[0].msg).toBe(
        'job 12 attempt 1/3 failed, will retry: RetryTaskError: retry requested: HTTP 429',
      );
      expect(events[0]).toMatchObject({ willRetry: true, retryInMs: 30_000, error });
      expect(outcome.retryDelay(picky, job, 1)).toBe(30_000);
    });

    it('dead-letters after the last attempt like any failure', async () => {
      const outcome = newOutcome(hooked);
      const { job } = retryingJob(2);
      const handedToBull = await outcome.failed(
        new RetryTaskError({ delay: '30s' }),
        picky,
        job,
        'token',
        false,
      );
      expect(handedToBull).toBeInstanceOf(RetryTaskError);
      expect(lines[0]).toMatchObject({ willRetry: false });
      expect(events[0]).toMatchObject({ willRetry: false });
      expect(events[0]).not.toHaveProperty('retryInMs');
    });

    it('moves an uncounted retry to the delayed set, up to maxUncountedRetries, then counts it', async () => {
      const outcome = newOutcome(hooked);
      const { job, delays } = retryingJob(0);
      const ask = () =>
        outcome.failed(
          new RetryTaskError({ delay: '1m', countAttempt: false }),
          picky,
          job,
          'token',
          false,
        );

      // BullMQ's marker for "moved elsewhere": it spends no attempt.
      await expect(ask()).resolves.toBeInstanceOf(DelayedError);
      await expect(ask()).resolves.toBeInstanceOf(DelayedError);
      expect(delays).toHaveLength(2);
      delays.forEach((delay) => expect(delay).toBeGreaterThan(59_000));
      expect(lines[0]).toMatchObject({
        msg: 'job 12 attempt 1/3 asked for a retry, not counted (1/2): retry requested',
        willRetry: true,
        retryInMs: 60_000,
        countAttempt: false,
        uncountedRetries: 1,
      });
      expect(events[1]).toMatchObject({ willRetry: true, retryInMs: 60_000, attempt: 1 });

      // The third is past the bound: it goes the way of a counted failure, and says so.
      const third = await ask();
      expect(third).toBeInstanceOf(RetryTaskError);
      expect(delays).toHaveLength(2);
      expect(lines[2].msg).toMatch(
        /attempt 1\/3 failed, will retry: RetryTaskError: retry requested \(counted: the job has used its 2 uncounted retries, maxUncountedRetries\)$/,
      );
      expect(outcome.retryDelay(picky, job, 1)).toBe(60_000);
    });

    it('counts every retry when maxUncountedRetries is 0', async () => {
      const outcome = newOutcome();
      const { job, delays } = retryingJob(0);
      const strict = { ...picky, options: { ...picky.options, maxUncountedRetries: 0 } };
      const result = await outcome.failed(
        new RetryTaskError({ countAttempt: false }),
        strict as RegisteredTask,
        job,
        'token',
        false,
      );
      expect(result).toBeInstanceOf(RetryTaskError);
      expect(delays).toEqual([]);
    });

    it('counts the retry of a job whose hash is gone, and writes no stray hash', async () => {
      const outcome = newOutcome();
      const { job, delays } = retryingJob(0);
      const key = `${job.queueQualifiedName}:${job.id}`;
      await client.del(key); // removed meanwhile, say by a cancel

      const result = await outcome.failed(
        new RetryTaskError({ countAttempt: false }),
        picky,
        job,
        'token',
        false,
      );

      expect(result).toBeInstanceOf(RetryTaskError);
      expect(delays).toEqual([]);
      expect(await client.exists(key)).toBe(0);
    });
  });
});
