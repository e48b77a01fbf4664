import type { FlowJobNode, FlowJob, JobsOptions } from 'bullmq';
import { InvalidPayloadError, InvalidWorkflowError } from '../errors';
import { describe } from '../options/validation';
import { validatePayload } from '../payload/validate-payload';
import { buildJobOptions, routeJob } from '../producer/job-options';
import type { TaskRouting } from '../routing/task-routing';
import type { TaskDefinition } from '../tasks.registry';
import {
  type ErrorStep,
  type PartialInput,
  STEP_ENVELOPE_KEY,
  type StepEnvelope,
  stepEnvelope,
  type StepInput,
} from './step-input';
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

/** What a node passes to the nodes inside it. */
interface Inherited {
  /** `onError` steps of the enclosing nodes a failure here fails too, innermost first. */
  onError: ErrorStep[];
  /** Enclosing `failFast` groups a failure here fails too (their paths). */
  failFast: string[];
}

const NOTHING_INHERITED: Inherited = { onError: [], failFast: [] };

/**
 * Turns a workflow into one BullMQ flow, where a parent runs after its children: a chain's
 * step is the parent of the step before it, a group's members are children of a collector
 * job, and a chord's members children of its callback. Checks every task and payload first,
 * so a bad step means nothing is enqueued.
 */
export class WorkflowPlanner {
  private readonly steps: PlannedStep[] = [];
  private readonly checks: Promise<unknown>[] = [];
  /** Collectors of empty groups: placed in the workflow's slot once the other steps are known. */
  private readonly emptyCollectors: Built[] = [];

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
    this.placeEmptyCollectors();
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
    inherited: Inherited = NOTHING_INHERITED,
  ): Built {
    if (typeof node !== 'object' || node === null) {
      throw new InvalidWorkflowError(
        `at ${path}: expected step(), chain(), group() or chord(), got ${describe(node)}`,
      );
    }
    switch (node.kind) {
      case 'step': {
        const partial = this.partialOf(node, path);
        const input: StepInput | undefined = previous
          ? { from: 'previous', ...partial }
          : fannedOut
            ? { from: 'fan-out', ...partial }
            : undefined;
        if (partial.partial && !input) {
          throw new InvalidWorkflowError(
            `at ${path}: step(${this.definitionOf(node.task).name}) has previousAs but no step before it to take the value from`,
          );
        }
        return this.task(
          node,
          input,
          previous ? [previous] : [],
          path,
          dependency,
          this.inherit(inherited, node.onError, `${path}.onError`),
        );
      }
      case 'chain': {
        this.nonEmpty(node.nodes, 'chain', path);
        const inside = this.inherit(inherited, node.onError, `${path}.onError`);
        let current = previous;
        node.nodes.forEach((child, i) => {
          const last = i === node.nodes.length - 1;
          current = this.build(
            child,
            current,
            `${path}.${i}`,
            last ? dependency : 'fail',
            i === 0 && fannedOut,
            inside,
          );
        });
        return current!;
      }
      case 'group':
      case 'chord': {
        if (!Array.isArray(node.nodes)) {
          throw new InvalidWorkflowError(`at ${path}: a ${node.kind} takes a list of steps`);
        }
        if (previous) return this.fanOut(node, previous, path, dependency, inherited);
        const own = this.inherit(inherited, node.onError, `${path}.onError`);
        const continues = node.kind === 'chord' && node.onMemberFailure === 'continue';
        const memberDependency: Dependency = continues ? 'continue' : 'fail';
        // A member whose failure the chord takes in its stride fails nothing around it.
        const forMembers: Inherited = continues
          ? NOTHING_INHERITED
          : node.kind === 'group' && node.failFast
            ? { ...own, failFast: [...own.failFast, path] }
            : own;
        const members = node.nodes.map((child, i) =>
          this.build(child, undefined, `${path}.${i}`, memberDependency, fannedOut, forMembers),
        );
        const input: StepInput = {
          from: 'members',
          members: members.map(({ step }) => ({
            key: `${this.keys.queueKey(step.queue)}${step.jobId}`,
            taskName: step.taskName,
            jobId: step.jobId,
          })),
        };
        if (node.kind === 'group') {
          return this.collector(input, members, path, dependency, own);
        }
        if (node.callback?.kind !== 'step') {
          throw new InvalidWorkflowError(
            `at ${path}: a chord's callback must be a step(), got ${describe(node.callback)}`,
          );
        }
        // A callback with a payload of its own runs with it (Celery's immutable callback);
        // with previousAs, with the members' results set in it.
        const partial = this.partialOf(node.callback, `${path}.callback`);
        return this.task(
          node.callback,
          node.callback.hasPayload && !partial.partial ? undefined : { ...input, ...partial },
          members,
          `${path}.callback`,
          dependency,
          this.inherit(own, node.callback.onError, `${path}.callback.onError`),
        );
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
    inherited: Inherited,
  ): Built {
    const definition = this.definitionOf(node.task);
    // A partial step's payload is whole only at run time, where the worker checks it.
    if (node.hasPayload && !node.previousAs) {
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
      node.hasPayload && !node.previousAs ? { from: 'payload', payload: node.payload } : input!,
      inherited,
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
    inherited: Inherited,
  ): Built {
    const inner = this.build(node, undefined, `${path}.fan`, 'fail', true, inherited);
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
    inherited: Inherited,
  ): Built {
    // An empty group's collector runs at once, with []; its slot is the workflow's, set once
    // the other steps are known (placeEmptyCollectors).
    const queue = this.keys.workflowQueue(members[0]?.step.queue ?? 'default');
    const step = this.record(path, 'collector', GROUP_COLLECTOR, queue, members);
    const opts: JobsOptions = {
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 7 * 86_400 },
      ...this.dependencyOptions(dependency),
      jobId: step.jobId,
    };
    const built = {
      job: this.flowJob(
        GROUP_COLLECTOR,
        queue,
        stepEnvelope(this.workflowId, input, inherited),
        opts,
        members,
      ),
      step,
    };
    if (!members.length) this.emptyCollectors.push(built);
    return built;
  }

  /** An empty group's collector goes to the workflow queue of the workflow's other steps. */
  private placeEmptyCollectors(): void {
    const anchor = this.steps.find((step) => step.kind === 'task')?.queue;
    if (!anchor) return;
    for (const { job, step } of this.emptyCollectors) {
      step.queue = this.keys.workflowQueue(anchor);
      job.queueName = step.queue;
      job.prefix = this.keys.prefixOf(step.queue);
    }
  }

  /** A partial step's own payload and key (`step(…, { previousAs })`). */
  private partialOf(node: WorkflowStep, path: string): PartialInput {
    if (!node.previousAs) return {};
    if (typeof node.payload !== 'object' || node.payload === null) {
      throw new InvalidWorkflowError(`at ${path}: previousAs needs a payload object`);
    }
    return { partial: { payload: node.payload as Record<string, unknown>, as: node.previousAs } };
  }

  /** What the nodes inside get: the enclosing `onError` steps, with this node's first. */
  private inherit(
    inherited: Inherited,
    onError: WorkflowStep | undefined,
    path: string,
  ): Inherited {
    if (!onError) return inherited;
    return { ...inherited, onError: [this.errorStep(onError, path), ...inherited.onError] };
  }

  /** Prepares an `onError` step's job (checked and routed now, added only on a failure). */
  private errorStep(node: WorkflowStep, path: string): ErrorStep {
    const definition = this.definitionOf(node.task);
    if (node.hasPayload) {
      this.checks.push(validatePayload(definition.name, node.payload, definition.options));
    }
    const jobOptions = buildJobOptions(definition.name, definition.options, undefined);
    const queue = routeJob(
      definition,
      node.hasPayload ? node.payload : undefined,
      undefined,
      this.routing,
      jobOptions,
    );
    return {
      name: definition.name,
      queue,
      jobId: `${this.workflowId}.${path}`,
      opts: jobOptions as Record<string, unknown>,
      hasPayload: node.hasPayload,
      ...(node.hasPayload ? { payload: node.payload } : {}),
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
    // Groups and chords may be empty (a group of nothing is []); a chain of nothing has no result.
    if (!Array.isArray(nodes) || nodes.length === 0) {
      throw new InvalidWorkflowError(`at ${path}: a ${kind} needs at least one step`);
    }
  }
}
