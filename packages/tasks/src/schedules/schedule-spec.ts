import type { RepeatOptions } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import { InvalidScheduleError } from '../errors';
import type { Duration } from '../interfaces/duration.interface';
import {
  checkKnownKeys,
  checkObject,
  describe,
  type Fail,
  parseDuration,
} from '../options/validation';

/** Runs on a cron expression (5 fields, or 6 with seconds first), in a time zone. */
export interface CronSchedule<P = unknown> {
  /** A cron expression, e.g. `'0 3 * * *'` (03:00 every day). */
  cron: string;
  /** IANA time zone the expression is read in. @default 'UTC' */
  tz?: string;
  /** Payload of every run. @default {} */
  payload?: P;
}

/** Runs every fixed interval. */
export interface IntervalSchedule<P = unknown> {
  /** Time between runs, at least 1 second. */
  every: Duration;
  /** Payload of every run. @default {} */
  payload?: P;
}

/** When a task runs by itself: `{ cron, tz? }` or `{ every }`. */
export type TaskSchedule<P = unknown> = CronSchedule<P> | IntervalSchedule<P>;

/** A schedule checked and turned into BullMQ's repeat options. */
export interface ResolvedSchedule {
  repeat: Omit<RepeatOptions, 'key'>;
  payload: unknown;
}

const SCHEDULE_KEYS = ['cron', 'tz', 'every', 'payload'];
const MIN_EVERY_MS = 1_000;

/**
 * Checks a schedule as the user wrote it: a cron expression must parse (with cron-parser,
 * as BullMQ does) and a time zone must be one `Intl` knows, so a mistake fails at startup
 * instead of never firing.
 */
export function resolveSchedule(taskName: string | undefined, schedule: unknown): ResolvedSchedule {
  const fail: Fail = (problem) => {
    throw new InvalidScheduleError(taskName, problem);
  };
  const s = checkObject(schedule, 'schedule', fail);
  checkKnownKeys(s, SCHEDULE_KEYS, 'schedule', fail);
  const payload = s.payload === undefined ? {} : s.payload;
  if (s.cron !== undefined && s.every !== undefined) {
    fail('give either schedule.cron or schedule.every, not both');
  }
  if (s.every !== undefined) {
    if (s.tz !== undefined) fail('schedule.tz applies to cron schedules only');
    const every = parseDuration(s.every, 'schedule.every', fail);
    if (every < MIN_EVERY_MS) fail(`schedule.every must be at least 1s, got ${every} ms`);
    return { repeat: { every }, payload };
  }
  if (typeof s.cron !== 'string' || s.cron.trim() === '') {
    return fail(
      `schedule needs cron (a cron expression) or every (a duration), got ${describe(s.cron)}`,
    );
  }
  const tz = s.tz === undefined ? 'UTC' : checkTimeZone(s.tz, fail);
  try {
    CronExpressionParser.parse(s.cron, { tz, strict: false });
  } catch (error) {
    fail(`schedule.cron '${s.cron}' is not a valid cron expression: ${(error as Error).message}`);
  }
  return { repeat: { pattern: s.cron, tz }, payload };
}

function checkTimeZone(tz: unknown, fail: Fail): string {
  if (typeof tz !== 'string' || tz === '') {
    return fail(
      `schedule.tz must be an IANA time zone such as 'Europe/Paris', got ${describe(tz)}`,
    );
  }
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    fail(
      `schedule.tz '${tz}' is not a time zone this runtime knows (use an IANA name such as 'Europe/Paris')`,
    );
  }
  return tz;
}

/** When a resolved schedule runs next after `from`, as BullMQ's job scheduler computes it. */
export function nextRunOf(schedule: ResolvedSchedule, from: Date = new Date()): Date {
  const { pattern, tz, every } = schedule.repeat;
  if (every !== undefined) return new Date((Math.floor(from.getTime() / every) + 1) * every);
  return CronExpressionParser.parse(pattern!, { tz, currentDate: from, strict: false })
    .next()
    .toDate();
}
