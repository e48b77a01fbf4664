import { RetryTaskError } from '../errors/retry-task.error';
import { backoffDelay, retryDelayOf } from './backoff';

describe('backoffDelay', () => {
  const noJitter = () => 0;

  it('doubles an exponential delay after each failed attempt', () => {
    const backoff = { type: 'exponential' as const, delayMs: 1000, jitter: 0 };
    expect([1, 2, 3, 4].map((n) => backoffDelay(backoff, n, noJitter))).toEqual([
      1000, 2000, 4000, 8000,
    ]);
  });

  it('keeps a fixed delay fixed', () => {
    const backoff = { type: 'fixed' as const, delayMs: 250, jitter: 0 };
    expect([1, 5, 9].map((n) => backoffDelay(backoff, n))).toEqual([250, 250, 250]);
  });

  it('caps each delay at max', () => {
    const backoff = { type: 'exponential' as const, delayMs: 1000, maxMs: 5000, jitter: 0 };
    expect(backoffDelay(backoff, 10)).toBe(5000);
    expect(backoffDelay({ ...backoff, maxMs: undefined }, 2000)).toBe(2 ** 31 - 1);
  });

  it('shortens a delay by up to the jitter fraction', () => {
    const backoff = { type: 'fixed' as const, delayMs: 1000, jitter: 0.2 };
    expect(backoffDelay(backoff, 1, () => 0)).toBe(1000);
    expect(backoffDelay(backoff, 1, () => 0.5)).toBe(900);
    expect(backoffDelay(backoff, 1, () => 0.999999)).toBe(800);
  });
});

describe('retryDelayOf', () => {
  const backoff = { type: 'fixed' as const, delayMs: 500, jitter: 0 };
  class RateLimited extends Error {}
  let errors: unknown[];
  const logger = { error: (line: unknown) => void errors.push(line) };
  beforeEach(() => (errors = []));

  it("takes a RetryTaskError's delay over the backoff, whatever the function says", () => {
    const task = { name: 'pay', options: { backoff, backoffFn: () => '1h' } };
    const error = new RetryTaskError({ delay: '30s' });
    expect(retryDelayOf(task, 1, error, logger)).toBe(30_000);
    expect(retryDelayOf(task, 1, new RetryTaskError(), logger)).toBe(3_600_000);
    expect(errors).toEqual([]);
  });

  it('asks a backoff function with the attempt and the error, per error type', () => {
    const backoffFn = (attempt: number, error: Error) =>
      error instanceof RateLimited ? '1m' : attempt * 100;
    const task = { name: 'pay', options: { backoff, backoffFn } };
    expect(retryDelayOf(task, 3, new RateLimited('slow down'), logger)).toBe(60_000);
    expect(retryDelayOf(task, 3, new Error('timeout'), logger)).toBe(300);
  });

  it('falls back to the backoff policy, with a logged error, when the function gives a bad delay', () => {
    const bad = [() => 'soon', () => -5, () => Number.NaN, () => ({}) as never];
    for (const backoffFn of bad) {
      expect(
        retryDelayOf({ name: 'pay', options: { backoff, backoffFn } }, 2, new Error('x'), logger),
      ).toBe(500);
    }
    const throwing = () => {
      throw new Error('policy bug');
    };
    expect(
      retryDelayOf(
        { name: 'pay', options: { backoff, backoffFn: throwing } },
        2,
        new Error('x'),
        logger,
      ),
    ).toBe(500);
    expect(errors).toHaveLength(5);
    expect(errors[0]).toContain(
      "the backoff function of task pay gave a bad delay: it must be milliseconds or a duration like '500ms'",
    );
    expect(JSON.stringify(errors[4])).toContain(
      'the backoff function of task pay threw (policy bug)',
    );
  });

  it("falls back when a RetryTaskError's delay is not a duration", () => {
    const task = { name: 'pay', options: { backoff } };
    expect(retryDelayOf(task, 1, new RetryTaskError({ delay: 'later' }), logger)).toBe(500);
    expect(JSON.stringify(errors[0])).toContain(
      'the RetryTaskError delay of task pay gave a bad delay',
    );
  });

  it('caps a delay at what BullMQ can hold', () => {
    const task = { name: 'pay', options: { backoff } };
    expect(retryDelayOf(task, 1, new RetryTaskError({ delay: '400d' }), logger)).toBe(2 ** 31 - 1);
  });
});
