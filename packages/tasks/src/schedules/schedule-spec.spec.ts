import { InvalidScheduleError } from '../errors';
import { resolveSchedule } from './schedule-spec';

describe('resolveSchedule', () => {
  it('turns a cron schedule into a BullMQ pattern, in UTC unless told', () => {
    expect(resolveSchedule('t', { cron: '0 3 * * *' })).toEqual({
      repeat: { pattern: '0 3 * * *', tz: 'UTC' },
      payload: {},
    });
    expect(
      resolveSchedule('t', { cron: '*/5 * * * * *', tz: 'Europe/Paris', payload: { a: 1 } }),
    ).toEqual({ repeat: { pattern: '*/5 * * * * *', tz: 'Europe/Paris' }, payload: { a: 1 } });
  });

  it('turns an interval into milliseconds', () => {
    expect(resolveSchedule('t', { every: '5m' }).repeat).toEqual({ every: 300_000 });
  });

  it.each([
    [{ cron: '61 * * * *' }, /not a valid cron expression/],
    [{ cron: 'every day' }, /not a valid cron expression/],
    [{ cron: '0 3 * * *', tz: 'Mars/Olympus' }, /'Mars\/Olympus' is not a time zone/],
    [{ every: '10ms' }, /at least 1s/],
    [{ every: '1m', tz: 'UTC' }, /cron schedules only/],
    [{ cron: '* * * * *', every: '1m' }, /either/],
    [{}, /needs cron/],
    [{ crn: '* * * * *' }, /unknown option schedule.crn \(did you mean 'cron'\?\)/],
  ])('rejects %j with a clear message', (schedule, message) => {
    let error: unknown;
    try {
      resolveSchedule('report', schedule);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidScheduleError);
    expect((error as Error).message).toMatch(/^Invalid schedule for task "report": /);
    expect((error as Error).message).toMatch(message);
  });
});
