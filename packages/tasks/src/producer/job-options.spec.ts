import { resolveTaskOptions } from '../options/task-options';
import { buildJobOptions, idempotentJobId } from './job-options';

describe('buildJobOptions', () => {
  const task = resolveTaskOptions('t', [{ attempts: 3, priority: 2, resultTtl: '10m' }]);

  it('carries the task options into BullMQ job options', () => {
    expect(buildJobOptions('t', task, undefined)).toEqual({
      attempts: 3,
      priority: 2,
      removeOnComplete: { age: 600 },
      backoff: { type: 'conveyor', delay: 1000 },
    });
  });

  it("stores only what differs from BullMQ's defaults", () => {
    const defaults = resolveTaskOptions('d', []);
    expect(buildJobOptions('d', defaults, undefined)).toEqual({
      removeOnComplete: { age: 86_400 },
    });
    const kept = resolveTaskOptions('k', [{ removeOnFail: { count: 10 } }]);
    expect(buildJobOptions('k', kept, undefined).removeOnFail).toEqual({ count: 10 });
  });

  it('lets the call override the task, and turns runAt into a delay', () => {
    const runAt = new Date(Date.now() + 60_000);
    const options = buildJobOptions('t', task, { attempts: 1, priority: 0, runAt });
    expect(options.attempts).toBe(1);
    expect(options.priority).toBeUndefined();
    expect(options.backoff).toBeUndefined();
    expect(options.delay).toBeGreaterThan(59_000);
    expect(options.delay).toBeLessThanOrEqual(60_000);
  });

  it('derives a stable, Redis-safe job id from an idempotency key', () => {
    const id = buildJobOptions('t', task, { idempotencyKey: 'order:1' }).jobId;
    expect(id).toBe(idempotentJobId('t', 'order:1'));
    expect(id).toMatch(/^t~[\w-]{32}$/);
    expect(idempotentJobId('t', 'order:2')).not.toBe(id);
    expect(idempotentJobId('u', 'order:1')).not.toBe(id);
  });

  it('refuses one id for a whole bulk', () => {
    expect(() => buildJobOptions('t', task, { jobId: 'x' }, true)).toThrow(
      /enqueue those jobs one by one/,
    );
  });
});
