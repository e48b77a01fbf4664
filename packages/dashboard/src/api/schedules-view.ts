import { Injectable } from '@nestjs/common';
import { type ScheduleInfo, TaskProducer } from '@conveyor/tasks';
import type { Actor } from '../auth/actor';
import { DashboardService } from './dashboard.service';

/** One schedule as the dashboard lists it (dates as ISO strings on the wire). */
export type ScheduleRow = ScheduleInfo;

/** What a trigger enqueued: the job to open. */
export interface TriggeredRun {
  schedule: string;
  jobId: string;
  queue: string;
  task: string;
}

/**
 * The schedules view: every schedule under the app's prefix (declared and added at run time,
 * paused or not) from `TaskProducer.schedules()`, and pause, resume and trigger, each through
 * `DashboardService.act()` (read-only refused, who logged).
 */
@Injectable()
export class SchedulesView {
  constructor(
    private readonly dashboard: DashboardService,
    private readonly producer: TaskProducer,
  ) {}

  async list(): Promise<{ schedules: ScheduleRow[] }> {
    return { schedules: await this.producer.schedules() };
  }

  pause(actor: Actor, id: string): Promise<ScheduleRow> {
    return this.dashboard.act(actor, 'pause schedule', { schedule: id }, () =>
      this.producer.pauseSchedule(id),
    );
  }

  resume(actor: Actor, id: string): Promise<ScheduleRow> {
    return this.dashboard.act(actor, 'resume schedule', { schedule: id }, () =>
      this.producer.resumeSchedule(id),
    );
  }

  trigger(actor: Actor, id: string): Promise<TriggeredRun> {
    return this.dashboard.act(actor, 'trigger schedule', { schedule: id }, async () => {
      const handle = await this.producer.triggerSchedule(id);
      return { schedule: id, jobId: handle.id, queue: handle.queue, task: handle.taskName };
    });
  }
}
