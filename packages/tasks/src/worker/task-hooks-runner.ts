import { Inject, Injectable } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { TaskEvent, TaskFailureEvent, TaskHooks } from '../interfaces/task-hooks.interface';
import type { ResolvedModuleOptions } from '../options/module-options';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import type { RegisteredTask } from '../tasks.registry';
import { ConveyorLogger } from '../logging/conveyor-logger';

/** What the dead-letter hook reads of a job: a BullMQ `Job`, or a job run inline. */
export type DeadLetteredJob = Pick<Job, 'id' | 'name' | 'queueName' | 'data' | 'attemptsMade'>;

/**
 * Calls the task's hooks, then the module's. A hook that throws is logged and forgotten: a
 * callback must never change what happens to a job.
 */
@Injectable()
export class TaskHooksRunner {
  private readonly logger = new ConveyorLogger('Conveyor');
  // Jobs whose dead-lettering the runner has reported, so the worker's 'failed' event (which
  // also fires for jobs failed outside a run, e.g. after too many lost workers) skips them.
  private readonly reported = new WeakSet<object>();

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly instrumentation: TaskInstrumentation,
  ) {}

  /** True when the task or the module has this hook: without one, no event is built. */
  wants(task: RegisteredTask, name: keyof TaskHooks): boolean {
    return task.options.hooks[name] !== undefined || this.options.hooks[name] !== undefined;
  }

  success(task: RegisteredTask, event: TaskEvent & { result: unknown }): Promise<void> {
    return this.call('onSuccess', task.options.hooks, event);
  }

  failure(task: RegisteredTask, event: TaskFailureEvent): Promise<void> {
    return this.call('onFailure', task.options.hooks, event);
  }

  deadLetter(
    task: RegisteredTask | undefined,
    job: DeadLetteredJob,
    error: Error,
    attempt = Math.max(1, job.attemptsMade),
  ): Promise<void> {
    if (this.reported.has(job)) return Promise.resolve();
    this.reported.add(job);
    this.instrumentation.deadLettered(job);
    const event = {
      taskName: job.name,
      queue: job.queueName,
      jobId: job.id!,
      attempt,
      payload: job.data,
      error,
    };
    return this.call('onDeadLetter', task?.options.hooks ?? {}, event);
  }

  private async call<K extends keyof TaskHooks>(
    name: K,
    own: TaskHooks,
    event: Parameters<NonNullable<TaskHooks[K]>>[0],
  ): Promise<void> {
    for (const hook of [own[name], this.options.hooks[name]]) {
      if (!hook) continue;
      try {
        await (hook as (event: unknown) => unknown)(event);
      } catch (error) {
        this.logger.error(
          `${name} hook of task ${event.taskName} threw: ${(error as Error)?.message ?? error}`,
          {
            task: event.taskName,
            queue: event.queue,
            jobId: event.jobId,
            attempt: event.attempt,
            hook: name,
          },
          error,
        );
      }
    }
  }
}
