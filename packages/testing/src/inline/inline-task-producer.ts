import { Inject, Injectable } from '@nestjs/common';
import {
  type CancelOutcome,
  type ChordOptions,
  chain,
  chord,
  type EnqueueOptions,
  group,
  InvalidTaskOptionsError,
  InvalidWorkflowError,
  type LastResult,
  type NodeResults,
  type RecentWorkflow,
  type ScheduleInfo,
  TaskHandle,
  type TaskProducer,
  type TaskRef,
  type TaskSchedule,
  UnknownTaskError,
  type WorkflowHandle,
  type WorkflowNode,
  type WorkflowStep,
} from '@conveyor/tasks';
import {
  handleQueue,
  prepareEnqueue,
  prepareEnqueueMany,
  type PreparedJob,
  resolveSchedule,
  type TaskDefinition,
  TasksRegistry,
} from '@conveyor/tasks/internal';
import { type ResolvedTestingOptions, TESTING_OPTIONS } from '../testing-options';
import { InlineJobs } from './inline-jobs';
import { InlineSchedules } from './inline-schedules';
import { InlineWorkflows } from './inline-workflows';

/** `TaskProducer`'s public surface, which the inline producer matches method for method. */
type ProducerApi = { [K in keyof TaskProducer]: TaskProducer[K] };

/**
 * What the testing module provides as `TaskProducer`. Every call checks its task, payload and
 * options exactly as `TaskProducer` does and fails with the same errors; the job then runs in
 * this process (see `InlineJobs`) instead of going to Redis.
 */
@Injectable()
export class InlineTaskProducer implements ProducerApi {
  constructor(
    private readonly registry: TasksRegistry,
    private readonly jobs: InlineJobs,
    private readonly workflows: InlineWorkflows,
    private readonly taskSchedules: InlineSchedules,
    @Inject(TESTING_OPTIONS) private readonly options: ResolvedTestingOptions,
  ) {}

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
    const routing = this.options.tasks.routing;
    return this.add(
      definition,
      payload,
      await prepareEnqueue(definition, payload, options, routing),
    );
  }

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
    const prepared = await prepareEnqueueMany(
      definition,
      payloads,
      options,
      this.options.tasks.routing,
    );
    const handles: TaskHandle[] = [];
    for (const [i, payload] of payloads.entries()) {
      handles.push(await this.add(definition, payload, prepared[i]));
    }
    return handles;
  }

  handle<P, R, H>(
    task: TaskRef<P, R, H>,
    jobId: string,
    options?: { queue?: string },
  ): TaskHandle<R>;
  handle<R = unknown>(task: string, jobId: string, options?: { queue?: string }): TaskHandle<R>;
  handle(task: TaskRef | string, jobId: string, options: { queue?: string } = {}): TaskHandle {
    const definition = this.definition(task);
    return this.handleOf(
      definition,
      jobId,
      handleQueue(definition, options, this.options.tasks.queues),
    );
  }

  async cancel(job: TaskHandle | string, reason?: string): Promise<CancelOutcome> {
    if (job instanceof TaskHandle) return job.cancel(reason);
    const found = this.jobs.all().filter((held) => held.id === job);
    const queues = [...new Set(found.map((held) => held.queue))];
    if (queues.length > 1) {
      throw new InvalidTaskOptionsError(
        undefined,
        `job id ${job} exists in queues ${queues.join(', ')}; cancel through its TaskHandle instead`,
      );
    }
    return queues.length ? this.jobs.cancel(queues[0], job, reason) : 'not-found';
  }

  chain<const T extends readonly WorkflowNode[]>(nodes: T): Promise<WorkflowHandle<LastResult<T>>> {
    return this.workflows.start(chain(nodes));
  }

  group<const T extends readonly WorkflowNode[]>(
    nodes: T,
  ): Promise<WorkflowHandle<NodeResults<T>>> {
    return this.workflows.start(group(nodes));
  }

  chord<R>(
    nodes: readonly WorkflowNode[],
    callback: WorkflowStep<R>,
    options?: ChordOptions,
  ): Promise<WorkflowHandle<R>> {
    return this.workflows.start(chord(nodes, callback, options));
  }

  workflow<R>(node: WorkflowNode<R>): Promise<WorkflowHandle<R>> {
    return this.workflows.start(node);
  }

  /** A workflow this testing module started, by id (as `TaskProducer.workflowHandle`). */
  async workflowHandle<R = unknown>(id: string): Promise<WorkflowHandle<R>> {
    const handle = typeof id === 'string' ? this.workflows.attach<R>(id) : undefined;
    if (!handle) {
      throw new InvalidWorkflowError(`no workflow '${String(id)}' is known to this app`);
    }
    return handle;
  }

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

  async unschedule(id: string): Promise<void> {
    this.taskSchedules.remove(id);
  }

  async schedules(): Promise<ScheduleInfo[]> {
    return this.taskSchedules.list();
  }

  /** A paused schedule is listed `paused`; `TestTasks.tick(id)` still runs it when asked. */
  async pauseSchedule(id: string): Promise<ScheduleInfo> {
    return this.taskSchedules.pause(id);
  }

  async resumeSchedule(id: string): Promise<ScheduleInfo> {
    return this.taskSchedules.resume(id);
  }

  /** One run of the schedule now, as `TestTasks.tick(id)`. */
  async triggerSchedule<R = unknown>(id: string): Promise<TaskHandle<R>> {
    const held = this.taskSchedules.known(id);
    return this.enqueue<R>(held.taskName, held.schedule.payload, { queue: held.queue });
  }

  async recentWorkflows(limit = 50): Promise<RecentWorkflow[]> {
    if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) {
      throw new InvalidWorkflowError(
        `recentWorkflows() takes a limit from 1 to 1000, got ${String(limit)}`,
      );
    }
    return this.workflows.recent(limit);
  }

  /** Holds the job and, in inline mode, runs it before resolving. */
  private async add(
    definition: TaskDefinition,
    payload: unknown,
    prepared: PreparedJob,
  ): Promise<TaskHandle> {
    const { job, added } = this.jobs.add(definition.name, prepared.queue, payload, prepared.opts);
    // A paused queue's job waits for resume(), as on Redis.
    if (added && this.options.mode === 'inline' && !this.jobs.isHeld(job.queue, job.taskName)) {
      await this.jobs.run(job);
    }
    return this.handleOf(definition, job.id, prepared.queue);
  }

  private handleOf(
    definition: TaskDefinition,
    jobId: string,
    queue = definition.options.queue,
  ): TaskHandle {
    const { removeOnComplete } = definition.options;
    return new TaskHandle(jobId, definition.name, queue, this.jobs, removeOnComplete !== true);
  }

  private definition(task: TaskRef | string): TaskDefinition {
    if (typeof task !== 'string' && (typeof task !== 'object' || task === null)) {
      throw new UnknownTaskError(String(task), this.registry.names());
    }
    return this.registry.definition(task);
  }
}
