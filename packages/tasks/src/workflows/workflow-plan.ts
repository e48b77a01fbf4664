import type { FlowJobNode, FlowJob, JobsOptions } from 'bullmq';
import { InvalidPayloadError, InvalidWorkflowError } from '../errors';
import { describe } from '../options/validation';
import { validatePayload } from '../payload/validate-payload';
import { buildJobOptions, routeJob } from '../producer/job-options';
import type { TaskRouting } from '../routing/task-routing';
import type { TaskDefinition } from '../tasks.registry';
import { STEP_ENVELOPE_KEY, type StepEnvelope, stepEnvelope, type StepInput } from './step-input';
import type { WorkflowNode, WorkflowStep } from './workflow-nodes';
import type { KeyLayout } from '../redis/key-layout';

export { WORKFLOW_QUEUE } from '../redis/key-layout';
/** Job name of a group's collector, which returns its members' results in order. */
export const GROUP_COLLECTOR = 'conveyor.group';
/**
 * Job name of a fan-out: it runs after the step before a group or chord in a chain, adds
 * the group or chord with that step's result as input, and returns its result.
 */
export const FAN_OUT = 'conveyor.fan-out';

/** One job of a planned workflow, as `WorkflowHandle.steps()` reports it. */
export interface PlannedStep {
  /** Position in the workflow: `0`, `1.0`, `2.callback`, … */
  path: string;
  kind: 'task' | 'collector' | 'fan-out';
  taskName: string;
  queue: string;
  jobId: string;
  /** Job ids of the jobs that must finish before this one (BullMQ children). */
  childIds: string[];
}

/** A workflow ready to add: the BullMQ flow tree and every job in it. */
export interface WorkflowPlan {
  workflowId: string;
  flow: FlowJob;
  steps: PlannedStep[];
  /** The job whose result is the workflow's result. */
  top: PlannedStep;
}

type Dependency = 'fail' | 'continue';

interface Built {
  job: FlowJob;
  step: PlannedStep;
}

/**
 * Turns a workflow into one BullMQ flow, where a parent runs after its children: a chain's
 * step is the parent of the step before it, a group's members are children of a collector
 * job, and a chord's members children of its callback. Checks every task and payload first,
 * so a bad step means nothing is enqueued.
 */
export class WorkflowPlanner {
  private readonly steps: PlannedStep[] = [];
  private readonly checks: Promise<unknown>[] = [];

  constructor(
    private readonly workflowId: string,
    /** Where each queue's keys live: a job's key names it in its parent's input. */
    private readonly keys: KeyLayout,
    private readonly definitionOf: (task: WorkflowStep['task']) => TaskDefinition,
    /** `routes` are in each definition; the `router` is asked step by step. */
    private readonly routing: TaskRouting,
  ) {}

  async plan(node: WorkflowNode): Promise<WorkflowPlan> {
    const { job, step } = this.build(node, undefined, '0', 'root');
    this.checkOneSlot();
    await Promise.all(this.checks);
    return { workflowId: this.workflowId, flow: job, steps: this.steps, top: step };
  }

  private build(
    node: WorkflowNode,
    previous: Built | undefined,
    path: string,
    dependency: Dependency | 'root',
    /** Steps that run first take the input of an enclosing fan-out. */
    fannedOut = false,
  ): Built {
    if (typeof node !== 'object' || node === null) {
      throw new InvalidWorkflowError(
        `at ${path}: expected step(), chain(), group() or chord(), got ${describe(node)}`,
      );
    }
    switch (node.kind) {
      case 'step':
        return this.task(
          node,
          previous ? { from: 'previous' } : fannedOut ? { from: 'fan-out' } : undefined,
          previous ? [previous] : [],
          path,
          dependency,
        );
      case 'chain': {
        this.nonEmpty(node.nodes, 'chain', path);
        let current = previous;
        node.nodes.forEach((child, i) => {
          const last = i === node.nodes.length - 1;
          current = this.build(
            child,
            current,
            `${path}.${i}`,
            last ? dependency : 'fail',
            i === 0 && fannedOut,
          );
        });
        return current!;
      }
      case 'group':
      case 'chord': {
        this.nonEmpty(node.nodes, node.kind, path);
        if (previous) return this.fanOut(node, previous, path, dependency);
        const memberDependency: Dependency =
          node.kind === 'chord' && node.onMemberFailure === 'continue' ? 'continue' : 'fail';
        const members = node.nodes.map((child, i) =>
          this.build(child, undefined, `${path}.${i}`, memberDependency, fannedOut),
        );
        const input: StepInput = {
          from: 'members',
          members: members.map(({ step }) => ({
            key: `${this.keys.queueKey(step.queue)}${step.jobId}`,
            taskName: step.taskName,
            jobId: step.jobId,
          })),
        };
        if (node.kind === 'group') return this.collector(input, members, path, dependency);
        if (node.callback?.kind !== 'step') {
          throw new InvalidWorkflowError(
            `at ${path}: a chord's callback must be a step(), got ${describe(node.callback)}`,
          );
        }
        if (node.callback.hasPayload) {
          throw new InvalidWorkflowError(
            `at ${path}: the chord's callback receives its members' results as payload; give it no payload`,
          );
        }
        return this.task(node.callback, input, members, `${path}.callback`, dependency);
      }
      default:
        throw new InvalidWorkflowError(
          `at ${path}: expected step(), chain(), group() or chord(), got ${describe(node)}`,
        );
    }
  }

  private task(
    node: WorkflowStep,
    input: StepInput | undefined,
    children: Built[],
    path: string,
    dependency: Dependency | 'root',
  ): Built {
    const definition = this.definitionOf(node.task);
    if (node.hasPayload) {
      this.checks.push(
        validatePayload(definition.name, node.payload, definition.options).catch(
          (error: unknown) => {
            if (error instanceof InvalidPayloadError) {
              throw new InvalidPayloadError(
                definition.name,
                error.problems.map((p) => `(step ${path}) ${p}`),
              );
            }
            throw error;
          },
        ),
      );
    } else if (!input) {
      throw new InvalidWorkflowError(
        `at ${path}: step(${definition.name}) has no payload and no step before it to take one from`,
      );
    }
    const jobOptions = buildJobOptions(definition.name, definition.options, undefined);
    // A step that takes the previous step's result is routed before that result exists.
    const payload = node.hasPayload ? node.payload : undefined;
    const queue = routeJob(definition, payload, undefined, this.routing, jobOptions);
    const step = this.record(path, 'task', definition.name, queue, children);
    const opts = {
      ...jobOptions,
      ...this.dependencyOptions(dependency),
      jobId: step.jobId,
    };
    const data = stepEnvelope(
      this.workflowId,
      node.hasPayload ? { from: 'payload', payload: node.payload } : input!,
    );
    return {
      job: this.flowJob(definition.name, queue, data, opts, children),
      step,
    };
  }

  /**
   * A flow is a tree, so the members of a group that follows a step cannot all be children
   * of it. Instead a fan-out job waits for the step, then adds the group (planned here, with
   * the step's result as input) as its own child and returns the group's result.
   */
  private fanOut(
    node: WorkflowNode,
    previous: Built,
    path: string,
    dependency: Dependency | 'root',
  ): Built {
    const inner = this.build(node, undefined, `${path}.fan`, 'fail', true);
    const queue = this.keys.workflowQueue(previous.step.queue);
    const step = this.record(path, 'fan-out', FAN_OUT, queue, [previous, inner]);
    const data: StepEnvelope = stepEnvelope(this.workflowId, { from: 'previous' });
    data[STEP_ENVELOPE_KEY].expand = {
      flow: inner.job,
      topKey: `${this.keys.queueKey(inner.step.queue)}${inner.step.jobId}`,
    };
    const opts: JobsOptions = {
      attempts: 3,
      backoff: { type: 'fixed', delay: 1_000 },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 7 * 86_400 },
      ...this.dependencyOptions(dependency),
      jobId: step.jobId,
    };
    return { job: this.flowJob(FAN_OUT, queue, data, opts, [previous]), step };
  }

  private collector(
    input: StepInput,
    members: Built[],
    path: string,
    dependency: Dependency | 'root',
  ): Built {
    const queue = this.keys.workflowQueue(members[0].step.queue);
    const step = this.record(path, 'collector', GROUP_COLLECTOR, queue, members);
    const opts: JobsOptions = {
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 7 * 86_400 },
      ...this.dependencyOptions(dependency),
      jobId: step.jobId,
    };
    return {
      job: this.flowJob(
        GROUP_COLLECTOR,
        queue,
        stepEnvelope(this.workflowId, input),
        opts,
        members,
      ),
      step,
    };
  }

  private flowJob(
    name: string,
    queueName: string,
    data: unknown,
    opts: JobsOptions,
    children: Built[],
  ): FlowJob {
    const prefix = this.keys.prefixOf(queueName);
    return children.length
      ? {
          name,
          queueName,
          prefix,
          data,
          opts,
          children: children.map(({ job }) => job as FlowJobNode),
        }
      : { name, queueName, prefix, data, opts };
  }

  /**
   * A workflow's jobs are linked by BullMQ scripts that touch parent and children at once: on
   * Redis Cluster they must share one hash tag (see `KeyLayout`).
   */
  private checkOneSlot(): void {
    const byTag = new Map<string, Set<string>>();
    for (const step of this.steps) {
      const tag = this.keys.prefixOf(step.queue);
      byTag.set(tag, (byTag.get(tag) ?? new Set()).add(step.queue));
    }
    if (byTag.size <= 1) return;
    const spans = [...byTag].map(([tag, queues]) => `${tag} (${[...queues].join(', ')})`);
    throw new InvalidWorkflowError(
      `its steps span hash tags ${spans.join(', ')}: a workflow's jobs must share one slot; give these queues one queues.<name>.hashTag`,
    );
  }

  private dependencyOptions(dependency: Dependency | 'root'): JobsOptions {
    if (dependency === 'fail') return { failParentOnFailure: true };
    if (dependency === 'continue') return { ignoreDependencyOnFailure: true };
    return {};
  }

  private record(
    path: string,
    kind: PlannedStep['kind'],
    taskName: string,
    queue: string,
    children: Built[],
  ): PlannedStep {
    const step: PlannedStep = {
      path,
      kind,
      taskName,
      queue,
      // Paths are unique in a workflow; job ids must not contain ':' nor be plain integers.
      jobId: `${this.workflowId}.${path}`,
      childIds: children.map((child) => child.step.jobId),
    };
    this.steps.push(step);
    return step;
  }

  private nonEmpty(nodes: readonly WorkflowNode[], kind: string, path: string): void {
    if (!Array.isArray(nodes) || nodes.length === 0) {
      throw new InvalidWorkflowError(`at ${path}: a ${kind} needs at least one step`);
    }
  }
}
