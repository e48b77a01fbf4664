import { Inject, Injectable } from '@nestjs/common';
import type { Job, JobsOptions } from 'bullmq';
import {
  EnqueueFailedError,
  InvalidTaskOptionsError,
  InvalidWorkflowError,
  UnknownTaskError,
} from '../errors';
import type { ResolvedModuleOptions } from '../options/module-options';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { type CancelOutcome, TaskCancellation } from './task-cancellation';
import type { EnqueueOptions } from '../interfaces/enqueue-options.interface';
import type { TaskRef } from '../interfaces/task-ref.interface';
import { describe } from '../options/validation';
import { resolveSchedule, type TaskSchedule } from '../schedules/schedule-spec';
import { type ScheduleInfo, TaskSchedules } from '../schedules/task-schedules';
import { RECENT_WORKFLOWS, type RecentWorkflow } from '../workflows/workflow-producer';
import { type TaskDefinition, TasksRegistry } from '../tasks.registry';
import type { WorkflowHandle } from '../workflows/workflow-handle';
import {
  chain,
  type ChordOptions,
  chord,
  group,
  type LastResult,
  type NodeResults,
  type WorkflowNode,
  type WorkflowStep,
} from '../workflows/workflow-nodes';
import { WorkflowProducer } from '../workflows/workflow-producer';
import { ConveyorQueues } from './conveyor-queues';
import { handleQueue, prepareEnqueue, prepareEnqueueMany } from './job-options';
import { JobResults } from './job-results';
import { TaskHandle } from './task-handle';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import { searchPairs } from '../search/search-index';

/**
 * Enqueues tasks. With a `TaskRef`, the payload is type-checked against the definition;
 * every payload and option is validated before anything reaches Redis, and a bad one throws
 * a typed error (`UnknownTaskError`, `InvalidPayloadError`, `InvalidTaskOptionsError`).
 *
 * @example
 * const handle = await producer.enqueue(SendWelcome, { userId }, { delay: '10m' });
 * await handle.result({ timeout: '30s' });
 */
@Injectable()
export class TaskProducer {
  private readonly logger = new ConveyorLogger('Conveyor');

  constructor(
    private readonly registry: TasksRegistry,
    private readonly queues: ConveyorQueues,
    private readonly results: JobResults,
    private readonly cancellation: TaskCancellation,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly taskSchedules: TaskSchedules,
    private readonly workflows: WorkflowProducer,
    private readonly instrumentation: TaskInstrumentation,
  ) {}

  /** Adds one job. Resolves once Redis has it. */
  // The name form first: when no overload matches, TypeScript elaborates the last one, and the
  // reference form's error is the one that names the payload's wrong or missing field.
  enqueue<R = unknown>(
    task: string,
    payload: unknown,
    options?: EnqueueOptions,
  ): Promise<TaskHandle<R>>;
  enqueue<P, R, H>(
    task: TaskRef<P, R, H>,
    payload: P,
    options?: EnqueueOptions,
  ): Promise<TaskHandle<R>>;
  async enqueue(
    task: TaskRef | string,
    payload: unknown,
    options?: EnqueueOptions,
  ): Promise<TaskHandle> {
    const definition = this.definition(task);
    const { name } = definition;
    const pending = prepareEnqueue(definition, payload, options, this.options.routing);
    const prepared = pending instanceof Promise ? await pending : pending;
    const sent = this.instrumentation.sending(definition, prepared.opts, prepared.queue);
    let job: Job;
    try {
      const queue = this.queues.queue(prepared.queue);
      job = await this.queues.send(() => queue.add(name, payload, prepared.opts));
    } catch (error) {
      sent.failed(error);
      throw EnqueueFailedError.from(name, prepared.queue, error);
    }
    sent.done(job);
    this.index(definition, prepared.queue, [{ id: job.id!, payload }]);
    return this.handleFor(definition, job.id!, prepared.queue);
  }

  /**
   * Adds many jobs of one task in a single round trip; all payloads are validated first, so
   * either every job is added or none is. With a `router` that splits the batch over queues,
   * each queue's jobs are one write: a failure (`EnqueueFailedError`) may then leave the jobs
   * of the queues written before it. Make such a task `idempotent` to retry the batch safely.
   */
  // The name form first, as for enqueue(): the reference form's error is the one shown.
  enqueueMany<R = unknown>(
    task: string,
    payloads: readonly unknown[],
    options?: EnqueueOptions,
  ): Promise<TaskHandle<R>[]>;
  enqueueMany<P, R, H>(
    task: TaskRef<P, R, H>,
    payloads: readonly P[],
    options?: EnqueueOptions,
  ): Promise<TaskHandle<R>[]>;
  async enqueueMany(
    task: TaskRef | string,
    payloads: readonly unknown[],
    options?: EnqueueOptions,
  ): Promise<TaskHandle[]> {
    const definition = this.definition(task);
    const prepared = await prepareEnqueueMany(definition, payloads, options, this.options.routing);
    if (payloads.length === 0) return [];
    const { name } = definition;
    // A router may split one batch over queues: one addBulk (one round trip) per queue.
    const byQueue = new Map<string, number[]>();
    prepared.forEach((job, i) => byQueue.set(job.queue, [...(byQueue.get(job.queue) ?? []), i]));
    const handles: TaskHandle[] = new Array(payloads.length);
    for (const [queueName, indexes] of byQueue) {
      // One send span a queue; every job carries its trace context.
      const traced: JobsOptions = {};
      const sent = this.instrumentation.sending(definition, traced, queueName);
      const jobs = indexes.map((i) => ({
        name,
        data: payloads[i],
        opts: traced.telemetry
          ? { ...prepared[i].opts, telemetry: traced.telemetry }
          : prepared[i].opts,
      }));
      const queue = this.queues.queue(queueName);
      const added = await this.queues
        .send(() => queue.addBulk(jobs))
        .catch((error: unknown) => {
          sent.failed(error);
          throw EnqueueFailedError.from(name, queueName, error);
        });
      sent.done(added);
      this.index(
        definition,
        queueName,
        added.map((job, k) => ({ id: job.id!, payload: payloads[indexes[k]] })),
      );
      added.forEach((job, k) => {
        handles[indexes[k]] = this.handleFor(definition, job.id!, queueName);
      });
    }
    return handles;
  }

  /**
   * Adds jobs of a task with `searchable` fields to their queue's index, once BullMQ took
   * them. Not awaited: the enqueue resolves when the job is in Redis and costs no extra round
   * trip; the write follows on the same connection, so this process's next command sees it.
   * A failed write is logged, and those jobs are found by the dashboard's scan instead.
   */
  private index(
    definition: TaskDefinition,
    queue: string,
    jobs: Array<{ id: string; payload: unknown }>,
  ): void {
    const fields = definition.options.searchable;
    if (!fields.length) return;
    this.queues.searchIndex
      .write(
        queue,
        jobs.map((job) => ({ id: job.id, pairs: searchPairs(fields, job.payload) })),
      )
      .catch((error: unknown) =>
        this.logger.warn(
          `${jobs.length} job(s) of ${definition.name} added, but not to the search index of queue ${queue}: ${(error as Error).message}`,
          { task: definition.name, queue, error: errorField(error) },
        ),
      );
  }

  /**
   * A handle for a job enqueued earlier (by this or another process), from its id. A job sent
   * to another queue than its task's (by the `router` or a call-site `queue`) needs that
   * queue: keep `handle.queue` with the id.
   */
  handle<P, R, H>(
    task: TaskRef<P, R, H>,
    jobId: string,
    options?: { queue?: string },
  ): TaskHandle<R>;
  handle<R = unknown>(task: string, jobId: string, options?: { queue?: string }): TaskHandle<R>;
  handle(task: TaskRef | string, jobId: string, options: { queue?: string } = {}): TaskHandle {
    const definition = this.definition(task);
    return this.handleFor(definition, jobId, handleQueue(definition, options, this.options.queues));
  }

  /**
   * Cancels a job from any process: removed if it has not started; if it runs, its
   * `ctx.signal` aborts in whichever worker runs it and it ends as cancelled (not retried,
   * not dead-lettered). Takes a handle, or a job id looked up in this app's queues.
   */
  async cancel(job: TaskHandle | string, reason?: string): Promise<CancelOutcome> {
    if (job instanceof TaskHandle) return job.cancel(reason);
    const queues = this.registry.knownQueues();
    const states = await Promise.all(
      queues.map((queue) => this.queues.queue(queue).getJobState(job)),
    );
    const found = queues.filter((_, i) => states[i] !== 'unknown');
    if (found.length > 1) {
      throw new InvalidTaskOptionsError(
        undefined,
        `job id ${job} exists in queues ${found.join(', ')}; cancel through its TaskHandle instead`,
      );
    }
    return found.length ? this.cancellation.cancel(found[0], job, reason) : 'not-found';
  }

  /**
   * Runs steps one after the other; a step without a payload receives the previous step's
   * result. Resolves once the whole chain is in Redis; `result()` is the last step's result,
   * or the failing step's error (later steps then never run).
   *
   * @example
   * const handle = await producer.chain([step(Download, { url }), step(Resize), step(Upload)]);
   * const location = await handle.result({ timeout: '5m' });
   */
  chain<const T extends readonly WorkflowNode[]>(nodes: T): Promise<WorkflowHandle<LastResult<T>>> {
    return this.workflows.start(chain(nodes));
  }

  /**
   * Runs steps in parallel; `result()` is every step's result, in order.
   *
   * @example
   * const handle = await producer.group(images.map((image) => step(Resize, image)));
   */
  group<const T extends readonly WorkflowNode[]>(
    nodes: T,
  ): Promise<WorkflowHandle<NodeResults<T>>> {
    return this.workflows.start(group(nodes));
  }

  /**
   * Runs steps in parallel, then `callback` once with their results in order.
   *
   * @example
   * const handle = await producer.chord(chunks.map((c) => step(Count, c)), step(Sum), {
   *   onMemberFailure: 'continue',
   * });
   */
  chord<R>(
    nodes: readonly WorkflowNode[],
    callback: WorkflowStep<R>,
    options?: ChordOptions,
  ): Promise<WorkflowHandle<R>> {
    return this.workflows.start(chord(nodes, callback, options));
  }

  /** Runs any workflow node, e.g. a `chain()` of `group()`s built ahead. */
  workflow<R>(node: WorkflowNode<R>): Promise<WorkflowHandle<R>> {
    return this.workflows.start(node);
  }

  /**
   * The handle of a chain, group or chord started by any process of the app (its `id`, as
   * `handle.id` gave it), for 7 days after it started: its result and its steps' states.
   * Throws `InvalidWorkflowError` for an id no workflow has (or one whose record expired).
   *
   * @example
   * const handle = await producer.workflowHandle<number[]>(idFromAnotherProcess);
   * await handle.result({ timeout: '1m' });
   */
  async workflowHandle<R = unknown>(id: string): Promise<WorkflowHandle<R>> {
    if (typeof id !== 'string' || !/^wf-[0-9a-f-]{36}$/.test(id)) {
      throw new InvalidWorkflowError(
        `workflowHandle() takes a workflow id like 'wf-<uuid>' (handle.id), got ${describe(id)}`,
      );
    }
    const handle = await this.workflows.attach<R>(id);
    if (!handle) {
      throw new InvalidWorkflowError(
        `no workflow '${id}' is known to this app (its record is kept 7 days after it started)`,
      );
    }
    return handle;
  }

  /**
   * The chains, groups and chords started most recently by any process of the app, newest
   * first: up to `limit` (at most 1,000 are kept, each for the 7 days its record lasts).
   * Take one's steps with `workflowHandle(id)`.
   *
   * @example
   * for (const { id, startedAt } of await producer.recentWorkflows(20)) console.log(id, startedAt);
   */
  recentWorkflows(limit = 50): Promise<RecentWorkflow[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > RECENT_WORKFLOWS) {
      throw new InvalidWorkflowError(
        `recentWorkflows() takes a limit from 1 to ${RECENT_WORKFLOWS}, got ${describe(limit)}`,
      );
    }
    return this.workflows.recent(limit);
  }

  /**
   * Adds (or replaces) a schedule at run time, under your own id: the task runs by itself
   * with `schedule.payload`, once per tick across all workers, until `unschedule(id)`.
   *
   * @example
   * await producer.schedule('digest-42', SendDigest, { cron: '0 8 * * 1', tz: 'Europe/Paris', payload: { userId: 42 } });
   */
  // The name form first, as for enqueue(): the reference form's error is the one shown.
  schedule(id: string, task: string, schedule: TaskSchedule): Promise<ScheduleInfo>;
  schedule<P, R, H>(
    id: string,
    task: TaskRef<P, R, H>,
    schedule: TaskSchedule<P>,
  ): Promise<ScheduleInfo>;
  async schedule(
    id: string,
    task: TaskRef | string,
    schedule: TaskSchedule,
  ): Promise<ScheduleInfo> {
    const definition = this.definition(task);
    return this.taskSchedules.add(id, definition, resolveSchedule(definition.name, schedule));
  }

  /** Removes a schedule added with `schedule()`; throws `UnknownScheduleError` if there is none. */
  unschedule(id: string): Promise<void> {
    return this.taskSchedules.remove(id);
  }

  /** Every schedule under this prefix (declared and added at run time), with its next run. */
  schedules(): Promise<ScheduleInfo[]> {
    return this.taskSchedules.list();
  }

  /**
   * Pauses a schedule, declared or added at run time: no tick makes a job, in any process,
   * until `resumeSchedule(id)`. It stays paused across restarts and deploys (a deploy that
   * changes a declared schedule updates it, still paused). Pausing twice is a no-op; jobs
   * it made already still run. Throws `UnknownScheduleError` for an id no schedule has.
   *
   * @example
   * await producer.pauseSchedule('conveyor.reports.nightly'); // a declared schedule's id
   */
  pauseSchedule(id: string): Promise<ScheduleInfo> {
    return this.taskSchedules.pause(id);
  }

  /**
   * Resumes a paused schedule: the next tick is counted from now, and runs missed while it
   * was paused are not made up. A no-op for a schedule that is not paused; throws
   * `UnknownScheduleError` for an id no schedule has.
   */
  resumeSchedule(id: string): Promise<ScheduleInfo> {
    return this.taskSchedules.resume(id);
  }

  /**
   * Enqueues one run of a schedule's task with the schedule's payload now, paused or not,
   * without changing the schedule (its next tick stays when it was). Throws
   * `UnknownScheduleError` for an id no schedule has.
   *
   * @example
   * const handle = await producer.triggerSchedule('conveyor.reports.nightly');
   */
  async triggerSchedule<R = unknown>(id: string): Promise<TaskHandle<R>> {
    const run = await this.taskSchedules.runOf(id);
    // To the schedule's queue, as a tick: the router is not asked for scheduled runs.
    if (this.registry.get(run.taskName)) {
      return this.enqueue<R>(run.taskName, run.payload, { queue: run.queue });
    }
    // A process without the task's code (a dashboard-only app): the job a tick would add, with
    // the options the schedule's runs get.
    const queue = this.queues.queue(run.queue);
    const job = await this.queues
      .send(() => queue.add(run.taskName, run.payload, run.opts))
      .catch((error: unknown) => {
        throw EnqueueFailedError.from(run.taskName, run.queue, error);
      });
    return new TaskHandle<R>(job.id!, run.taskName, run.queue, this.results, true);
  }

  private definition(task: TaskRef | string): TaskDefinition {
    if (typeof task !== 'string' && (typeof task !== 'object' || task === null)) {
      throw new UnknownTaskError(describe(task), this.registry.names());
    }
    return this.registry.definition(task);
  }

  private handleFor(
    definition: TaskDefinition,
    jobId: string,
    queue = definition.options.queue,
  ): TaskHandle {
    const { removeOnComplete } = definition.options;
    return new TaskHandle(jobId, definition.name, queue, this.results, removeOnComplete !== true);
  }
}
