import type { JobSchedulerJson, JobSchedulerTemplateOptions, RepeatOptions } from 'bullmq';
import type { RedisClient } from '../redis/open-connection';

/**
 * A paused schedule. Its BullMQ scheduler is removed (so no tick makes a job, in any process,
 * whatever BullMQ version runs the workers) and what it takes to put it back is kept here.
 */
export interface PausedSchedule {
  pausedAt: number;
  repeat: Pick<RepeatOptions, 'pattern' | 'tz' | 'every'>;
  template: { name: string; data: unknown; opts: JobSchedulerTemplateOptions };
}

/** What a scheduler BullMQ holds needs kept to be put back as it was. */
export function pausedFromScheduler(scheduler: JobSchedulerJson, pausedAt: number): PausedSchedule {
  return {
    pausedAt,
    repeat: {
      pattern: scheduler.pattern ?? undefined,
      tz: scheduler.pattern ? (scheduler.tz ?? undefined) : undefined,
      every: scheduler.every ? Number(scheduler.every) : undefined,
    },
    template: {
      name: scheduler.name,
      data: scheduler.template?.data,
      opts: scheduler.template?.opts ?? {},
    },
  };
}

/**
 * The paused schedules of a prefix, by id, in one hash, `{prefix}:conveyor:schedules:paused`.
 * Written only under the schedule lock, by `TaskSchedules`.
 */
export class PausedSchedules {
  constructor(readonly key: string) {}

  async get(client: RedisClient, id: string): Promise<PausedSchedule | undefined> {
    const json = await client.hget(this.key, id);
    return json ? (JSON.parse(json) as PausedSchedule) : undefined;
  }

  async all(client: RedisClient): Promise<Map<string, PausedSchedule>> {
    const raw = await client.hgetall(this.key);
    return new Map(
      Object.entries(raw).map(([id, json]) => [id, JSON.parse(json) as PausedSchedule]),
    );
  }

  async keep(client: RedisClient, id: string, paused: PausedSchedule): Promise<void> {
    await client.hset(this.key, id, JSON.stringify(paused));
  }

  async forget(client: RedisClient, id: string): Promise<void> {
    await client.hdel(this.key, id);
  }
}
