import { InvalidTaskOptionsError } from '../errors';
import { checkTaskOptions, resolveTaskOptions } from './task-options';

const fail = (problem: string): never => {
  throw new InvalidTaskOptionsError('t', problem);
};

describe('task option `on` (outbox event subscriptions)', () => {
  it('resolves one event name or a list to a list without duplicates', () => {
    expect(resolveTaskOptions('t', [{ on: 'order.created' }]).on).toEqual(['order.created']);
    expect(resolveTaskOptions('t', [{ on: ['a', 'b', 'a'] }]).on).toEqual(['a', 'b']);
    expect(resolveTaskOptions('t', [{}]).on).toEqual([]);
  });

  it('rejects event names that could not be part of a job id', () => {
    expect(() => checkTaskOptions({ on: 'order:created' }, '', fail)).toThrow(/on must be/);
    expect(() => checkTaskOptions({ on: [] }, '', fail)).toThrow(/at least one event/);
    expect(() => checkTaskOptions({ on: 42 }, '', fail)).toThrow(/got number 42/);
  });

  it('is not accepted as a module-wide default', () => {
    expect(() => checkTaskOptions({ on: 'x' }, 'defaults', fail, false)).toThrow(
      /unknown option defaults.on/,
    );
  });
});

describe('run limit options as a whole (defaults, definition and handler merged)', () => {
  const byTenant = (payload: unknown) => (payload as { tenant: string }).tenant;

  it('rejects a concurrencyKey that limits nothing, naming it', () => {
    expect(() => resolveTaskOptions('t', [{ concurrencyKey: byTenant }])).toThrow(
      InvalidTaskOptionsError,
    );
    expect(() => resolveTaskOptions('t', [{ concurrencyKey: byTenant }])).toThrow(
      /concurrencyKey limits nothing alone: give maxConcurrent or rateLimit/,
    );
  });

  it('rejects singleton or lock from one layer with maxConcurrent or concurrencyKey from another', () => {
    expect(() => resolveTaskOptions('t', [{ singleton: true }, { maxConcurrent: 2 }])).toThrow(
      /Invalid options for task "t": singleton already means one run at a time; drop maxConcurrent/,
    );
    expect(() =>
      resolveTaskOptions('t', [{ lock: byTenant }, { concurrencyKey: byTenant, maxConcurrent: 2 }]),
    ).toThrow(/lock already means one run at a time; drop concurrencyKey/);
    expect(() => resolveTaskOptions('t', [{ singleton: true }, { lock: byTenant }])).toThrow(
      /give either singleton or lock, not both/,
    );
  });

  it('resolves the combinations that do limit something', () => {
    const singleton = resolveTaskOptions('t', [{ singleton: true }]);
    expect(singleton.maxConcurrent).toBe(1);
    expect(singleton.limitKey).toBeUndefined();
    expect(resolveTaskOptions('t', [{ lock: byTenant }])).toMatchObject({
      maxConcurrent: 1,
      limitKey: byTenant,
    });
    expect(
      resolveTaskOptions('t', [{ concurrencyKey: byTenant, rateLimit: { max: 5, per: '1s' } }]),
    ).toMatchObject({ limitKey: byTenant, rateLimit: { max: 5, perMs: 1000 } });
  });
});

describe('rate limits written as Celery does', () => {
  it("reads '10/s', '100/m' and '1000/h' as the object form", () => {
    expect(resolveTaskOptions('t', [{ rateLimit: '10/s' }]).rateLimit).toEqual({
      max: 10,
      perMs: 1_000,
    });
    expect(resolveTaskOptions('t', [{ rateLimit: '100/m' }]).rateLimit).toEqual(
      resolveTaskOptions('t', [{ rateLimit: { max: 100, per: '1m' } }]).rateLimit,
    );
    expect(resolveTaskOptions('t', [{ rateLimit: ' 1000 / h ' }]).rateLimit).toEqual({
      max: 1000,
      perMs: 3_600_000,
    });
  });

  it('rejects other strings with the option and the accepted forms', () => {
    for (const bad of ['10/d', '10 per s', '/s', '0/s', '1.5/s', '10/']) {
      expect(() => checkTaskOptions({ rateLimit: bad }, '', fail)).toThrow(InvalidTaskOptionsError);
    }
    expect(() => checkTaskOptions({ rateLimit: '10/d' }, '', fail)).toThrow(
      `Invalid options for task "t": rateLimit must be { max, per } or a rate like '10/s', '100/m', '1000/h'; got '10/d'`,
    );
    expect(() => checkTaskOptions({ rateLimit: '0/s' }, '', fail)).toThrow(
      /rateLimit \(the count in '0\/s'\) must be an integer from 1/,
    );
    expect(() => checkTaskOptions({ rateLimit: 10 }, 'defaults', fail)).toThrow(
      /defaults\.rateLimit must be \{ max, per \} or a rate like '10\/s'.*got number 10/,
    );
  });
});

describe('backoff functions and uncounted retries', () => {
  const byError = (attempt: number, error: Error) =>
    error.name === 'RateLimited' ? '1m' : attempt;

  it('accepts a function as backoff, keeping the nearest policy object as its fallback', () => {
    expect(() => checkTaskOptions({ backoff: byError }, '', fail)).not.toThrow();
    const own = resolveTaskOptions('t', [
      { backoff: { type: 'fixed', delay: '2s' } },
      { backoff: byError },
    ]);
    expect(own.backoffFn).toBe(byError);
    expect(own.backoff).toEqual({ type: 'fixed', delayMs: 2_000, maxMs: undefined, jitter: 0 });
    const builtIn = resolveTaskOptions('t', [{ backoff: byError }]);
    expect(builtIn.backoff).toMatchObject({ type: 'exponential', delayMs: 1_000, jitter: 0.2 });
    // A later policy object replaces an earlier function.
    expect(
      resolveTaskOptions('t', [{ backoff: byError }, { backoff: { type: 'fixed', delay: 5 } }])
        .backoffFn,
    ).toBeUndefined();
  });

  it('rejects a backoff that is neither a policy nor a function', () => {
    expect(() => checkTaskOptions({ backoff: '5s' }, '', fail)).toThrow(
      /backoff must be \{ type, delay, max\?, jitter\? \} or a function \(attempt, error\) => duration, got '5s'/,
    );
  });

  it('bounds uncounted retries at 25 unless told, and checks the bound', () => {
    expect(resolveTaskOptions('t', [{}]).maxUncountedRetries).toBe(25);
    expect(resolveTaskOptions('t', [{ maxUncountedRetries: 0 }]).maxUncountedRetries).toBe(0);
    expect(() => checkTaskOptions({ maxUncountedRetries: -1 }, 'defaults', fail, false)).toThrow(
      /defaults\.maxUncountedRetries must be an integer from 0/,
    );
    expect(() => checkTaskOptions({ maxUncountedRetrys: 3 }, '', fail)).toThrow(
      /did you mean 'maxUncountedRetries'/,
    );
  });
});
