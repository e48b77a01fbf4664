import type { indicatorCheck as IndicatorCheckFn } from './indicator-check';

// The helper reads what @nestjs/terminus exports when it loads: 12 (installed here) has no
// HealthCheckError; 10 and 11 do, and only count an indicator as down when it throws one.
function load(terminus: Record<string, unknown>): typeof IndicatorCheckFn {
  let loaded!: typeof IndicatorCheckFn;
  jest.isolateModules(() => {
    jest.doMock('@nestjs/terminus', () => terminus);
    // The module itself, fresh in this isolated registry, loading the mocked terminus.
    loaded = jest.requireActual<{ indicatorCheck: typeof IndicatorCheckFn }>(
      './indicator-check',
    ).indicatorCheck;
  });
  return loaded;
}

describe('indicatorCheck', () => {
  afterEach(() => jest.dontMock('@nestjs/terminus'));

  it('returns up and down results on @nestjs/terminus 12', () => {
    const check = load(jest.requireActual('@nestjs/terminus'))('redis');
    expect(check.up({ pingMs: 1 })).toEqual({ redis: { status: 'up', pingMs: 1 } });
    expect(check.down({ message: 'gone' })).toEqual({
      redis: { status: 'down', message: 'gone' },
    });
  });

  it("throws terminus's HealthCheckError with the down result on 10 and 11", () => {
    class HealthCheckError extends Error {
      constructor(
        message: string,
        readonly causes: unknown,
      ) {
        super(message);
      }
    }
    const check = load({ HealthCheckError })('queues');
    expect(check.up()).toEqual({ queues: { status: 'up' } });
    let thrown: unknown;
    try {
      check.down({ queues: { mail: { waiting: 9 } } });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(HealthCheckError);
    expect((thrown as HealthCheckError).causes).toEqual({
      queues: { status: 'down', queues: { mail: { waiting: 9 } } },
    });
  });
});
