import { randomUUID } from 'node:crypto';
import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { type FlowJob, FlowProducer, Job } from 'bullmq';
import type { Duration } from '../interfaces/duration.interface';
import { CLOSE_GRACE_MS, settleWithin } from '../lifecycle/settle-within';
import type { ResolvedModuleOptions } from '../options/module-options';
import { ConveyorQueues } from '../producer/conveyor-queues';
import { JobResults } from '../producer/job-results';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import { WorkflowHandle, type WorkflowSource, type WorkflowStepInfo } from './workflow-handle';
import type { WorkflowNode } from './workflow-nodes';
import { type PlannedStep, WorkflowPlanner } from './workflow-plan';

/**
 * Adds workflows as BullMQ flows (one atomic write for the whole tree, so a workflow is
 * either entirely in Redis or not at all) and answers their handles.
 */
@Injectable()
export class WorkflowProducer implements WorkflowSource, OnApplicationShutdown {
  private flowProducer?: FlowProducer;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly registry: TasksRegistry,
    private readonly queues: ConveyorQueues,
    private readonly results: JobResults,
    private readonly redis: RedisConnections,
  ) {}

  /** Checks every step, then adds the whole workflow. */
  async start<R>(node: WorkflowNode): Promise<WorkflowHandle<R>> {
    const workflowId = `wf-${randomUUID()}`;
    const plan = await new WorkflowPlanner(
      workflowId,
      this.options.keys,
      (task) => this.registry.definition(task),
      this.options.routing,
    ).plan(node);
    await this.addFlow(plan.flow);
    return new WorkflowHandle<R>(workflowId, plan.steps, plan.top, this);
  }

  /** Adds a flow tree in one atomic write. */
  async addFlow(flow: FlowJob): Promise<void> {
    this.flowProducer ??= new FlowProducer({
      connection: this.redis.client,
      // Every node names its own prefix (its queue's); this one is for none.
      prefix: this.options.keys.appPrefix,
    });
    await this.flowProducer.add(flow);
  }

  resultOf<R>(queue: string, taskName: string, jobId: string, timeout?: Duration): Promise<R> {
    return this.results.resultOf<R>(queue, taskName, jobId, timeout);
  }

  async inspect(step: PlannedStep): Promise<WorkflowStepInfo> {
    const queue = this.queues.queue(step.queue);
    const { childIds: _, ...info } = step;
    const state = await this.results.stateOf(step.queue, step.jobId);
    if (state !== 'completed' && state !== 'dead-lettered') return { ...info, state };
    const job = await Job.fromId(queue, step.jobId);
    if (!job) return { ...info, state: 'unknown' };
    return state === 'completed'
      ? { ...info, state, result: job.returnvalue as unknown }
      : { ...info, state, error: job.failedReason };
  }

  async onApplicationShutdown(): Promise<void> {
    // The Redis client is shared and closed by ConveyorQueues.
    const flows = this.flowProducer;
    if (flows) await settleWithin(flows.close(), CLOSE_GRACE_MS, () => flows.disconnect());
    this.flowProducer = undefined;
  }
}
