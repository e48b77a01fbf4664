import { backoffDelay } from './backoff';

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
