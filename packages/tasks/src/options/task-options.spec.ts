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
