import { Logger, type LoggerService } from '@nestjs/common';
import type { Job } from 'bullmq';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import type { ResolvedTaskOptions } from '../options/task-options';
import type { RegisteredTask } from '../tasks.registry';
import type { TaskHooksRunner } from '../worker/task-hooks-runner';
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

  beforeEach(() => {
    lines = [];
    const record = (line: unknown) => void lines.push(line as Record<string, unknown>);
    Logger.overrideLogger({ log: record, warn: record, error: record });
  });
  afterEach(() => Logger.overrideLogger(appLogger as LoggerService));

  it("logs a failed attempt's run, duration and retry delay, and retries after that delay", async () => {
    const outcome = new RunOutcome(hooks as unknown as TaskHooksRunner, new TaskInstrumentation());
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
    const outcome = new RunOutcome(hooks as unknown as TaskHooksRunner, new TaskInstrumentation());
    await outcome.failed(new Error('no rows'), task, failingJob(2), 'token', false);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ attempt: 3, willRetry: false });
    expect(lines[0].msg).toMatch(/attempt 3\/3 failed, dead-lettered/);
    expect(lines[0]).not.toHaveProperty('retryInMs');
  });
});
