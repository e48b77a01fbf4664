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

/** How long a workflow's plan is kept for `TaskProducer.workflowHandle(id)`: 7 days. */
export const WORKFLOW_RECORD_TTL_S = 7 * 86_400;

/**
 * How many workflow ids `recent()` keeps, newest first, in `{prefix}:conveyor:workflows`
 * (a sorted set by start time, trimmed on every start): the dashboard's list without a SCAN.
 */
export const RECENT_WORKFLOWS = 1_000;

/** A chain, group or chord that started recently, as `TaskProducer.recentWorkflows()` lists it. */
export interface RecentWorkflow {
  id: string;
  startedAt: Date;
}

/** A workflow's plan as kept in Redis: every step's job, and which one is the result. */
interface WorkflowRecord {
  steps: PlannedStep[];
  top: string;
}

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

  /**
   * Checks every step, then adds the whole workflow. Its plan (every step's job) is kept
   * for `WORKFLOW_RECORD_TTL_S`, so a handle can be taken again by id from any process.
   */
  async start<R>(node: WorkflowNode): Promise<WorkflowHandle<R>> {
    const workflowId = `wf-${randomUUID()}`;
    const plan = await new WorkflowPlanner(
      workflowId,
      this.options.keys,
      (task) => this.registry.definition(task),
      this.options.routing,
    ).plan(node);
    const record: WorkflowRecord = { steps: plan.steps, top: plan.top.jobId };
    const now = Date.now();
    // The record and the index share the app's tag: one slot, one MULTI.
    await this.queues.send(async () => {
      const replies = await this.redis.client
        .multi()
        .set(this.recordKey(workflowId), JSON.stringify(record), 'EX', WORKFLOW_RECORD_TTL_S)
        .zadd(this.indexKey, now, workflowId)
        .zremrangebyrank(this.indexKey, 0, -(RECENT_WORKFLOWS + 1))
        .zremrangebyscore(this.indexKey, '-inf', now - WORKFLOW_RECORD_TTL_S * 1000)
        .exec();
      const failed = replies?.find(([error]) => error);
      if (failed) throw failed[0];
    });
    await this.addFlow(plan.flow);
    return new WorkflowHandle<R>(workflowId, plan.steps, plan.top, this);
  }

  /**
   * The handle of workflow `id`, from any process of the app, for as long as its record is
   * kept; `undefined` when none is.
   */
  async attach<R>(id: string): Promise<WorkflowHandle<R> | undefined> {
    const text = await this.queues.send(() => this.redis.client.get(this.recordKey(id)));
    if (!text) return undefined;
    const record = JSON.parse(text) as WorkflowRecord;
    const top = record.steps.find((step) => step.jobId === record.top)!;
    return new WorkflowHandle<R>(id, record.steps, top, this);
  }

  /**
   * The workflows started most recently (up to `RECENT_WORKFLOWS`, and no older than their
   * record's 7 days), newest first.
   */
  async recent(limit: number): Promise<RecentWorkflow[]> {
    const flat = await this.queues.send(() =>
      this.redis.client.zrevrangebyscore(
        this.indexKey,
        '+inf',
        Date.now() - WORKFLOW_RECORD_TTL_S * 1000,
        'WITHSCORES',
        'LIMIT',
        0,
        limit,
      ),
    );
    const recent: RecentWorkflow[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      recent.push({ id: flat[i], startedAt: new Date(Number(flat[i + 1])) });
    }
    return recent;
  }

  private recordKey(id: string): string {
    return this.options.keys.appKey(`workflow:${id}`);
  }

  private get indexKey(): string {
    return this.options.keys.appKey('workflows');
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

  async inspect(step: PlannedStep, details = true): Promise<WorkflowStepInfo> {
    const queue = this.queues.queue(step.queue);
    const { childIds: _, ...info } = step;
    const state = await this.results.stateOf(step.queue, step.jobId);
    if (!details || (state !== 'completed' && state !== 'dead-lettered' && state !== 'skipped')) {
      return { ...info, state };
    }
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
