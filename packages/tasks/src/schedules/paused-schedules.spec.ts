import { pausedFromScheduler } from './paused-schedules';

describe('pausedFromScheduler', () => {
  it('keeps a cron scheduler with its zone, payload and job options', () => {
    const paused = pausedFromScheduler(
      {
        key: 'conveyor.report.build',
        name: 'report.build',
        pattern: '0 3 * * *',
        tz: 'Europe/Paris',
        next: 1_800_000_000_000,
        template: { data: { kind: 'sales' }, opts: { attempts: 3 } },
      },
      42,
    );
    expect(paused).toEqual({
      pausedAt: 42,
      repeat: { pattern: '0 3 * * *', tz: 'Europe/Paris', every: undefined },
      template: { name: 'report.build', data: { kind: 'sales' }, opts: { attempts: 3 } },
    });
  });

  it('keeps an interval as a number, without a zone', () => {
    const paused = pausedFromScheduler(
      { key: 'tick', name: 'clock.tick', every: '60000' as unknown as number, tz: 'UTC' },
      1,
    );
    expect(paused.repeat).toEqual({ pattern: undefined, tz: undefined, every: 60_000 });
    expect(paused.template).toEqual({ name: 'clock.tick', data: undefined, opts: {} });
  });
});
