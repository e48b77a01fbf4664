import { InvalidHealthOptionsError } from './errors/invalid-health-options.error';
import { resolveHealthOptions } from './health.options';

describe('resolveHealthOptions', () => {
  it('applies defaults, and a queue’s own thresholds over the shared ones', () => {
    const options = resolveHealthOptions({
      thresholds: { waiting: 50, queues: { reports: { oldestWaitingAge: '1h' } } },
      timeout: '250ms',
    });
    expect(options.timeoutMs).toBe(250);
    expect(options.outboxLagMs).toBe(60_000);
    expect(options.thresholdsOf('email')).toEqual({ waiting: 50, oldestWaitingAgeMs: 300_000 });
    expect(options.thresholdsOf('reports')).toEqual({ waiting: 50, oldestWaitingAgeMs: 3_600_000 });
  });

  it('rejects an unknown key, naming it', () => {
    expect(() => resolveHealthOptions({ thresholds: { outboxLagg: '1m' } as never })).toThrow(
      InvalidHealthOptionsError,
    );
    expect(() => resolveHealthOptions({ thresholds: { outboxLagg: '1m' } as never })).toThrow(
      /outboxLagg/,
    );
  });

  it('rejects a bad threshold value', () => {
    expect(() => resolveHealthOptions({ thresholds: { waiting: -1 } })).toThrow(/waiting/);
    expect(() => resolveHealthOptions({ timeout: 'soon' as never })).toThrow(/timeout/);
  });

  it('requires workers for handled queues by default; takes false or a list of queues', () => {
    expect(resolveHealthOptions({}).requireWorkers).toBe(true);
    expect(resolveHealthOptions({ requireWorkers: false }).requireWorkers).toBe(false);
    expect(resolveHealthOptions({ requireWorkers: ['email'] }).requireWorkers).toEqual(
      new Set(['email']),
    );
  });

  it.each([['yes'], [['email', 3]], [null]])('rejects requireWorkers %p, naming it', (value) => {
    const call = () => resolveHealthOptions({ requireWorkers: value as never });
    expect(call).toThrow(InvalidHealthOptionsError);
    expect(call).toThrow(/requireWorkers must be true, false or a list of queue names/);
  });
});
