import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  type Duration,
  type StepFailure,
  WorkflowHandle,
  type WorkflowNode,
  type WorkflowStep,
  type WorkflowStepInfo,
} from '@conveyor/tasks';
import {
  type PlannedStep,
  TasksRegistry,
  WorkflowPlanner,
  type WorkflowSource,
} from '@conveyor/tasks/internal';
import { type ResolvedTestingOptions, TESTING_OPTIONS } from '../testing-options';
import { InlineJobs } from './inline-jobs';
import type { TestJob } from './test-job';

/** How a node of a workflow ended: its value, or the step failure that stopped it. */
type Outcome = { ok: true; value: unknown } | { ok: false; failure: StepFailure };

/** One workflow being run: its planned jobs by path. */
interface Run {
  workflowId: string;
  steps: Map<string, PlannedStep>;
}

/** What a node passes to the nodes inside it, as the planner does (see `Inherited` there). */
interface Inherited {
  /** `onError` steps a failure here runs, innermost first, with the path of their node. */
  onError: Array<{ path: string; step: WorkflowStep }>;
}

const NOTHING: Inherited = { onError: [] };

/**
 * Runs chains, groups and chords in this process. The plan is BullMQ's (the same
 * `WorkflowPlanner` checks every step, payload and shape first, and names the same job ids);
 * the steps then run one by one in workflow order (a group's members one after the other), a
 * failed step fails the steps that depend on it as BullMQ's `failParentOnFailure` does, and a
 * chord with `onMemberFailure: 'continue'` gives its callback a `StepFailure` in the failed
 * member's slot.
 */
@Injectable()
export class InlineWorkflows implements WorkflowSource {
  /** Workflows started in manual mode, run by `TestTasks.drain()`. */
  private readonly waiting: Array<() => Promise<void>> = [];
  private readonly started = new Map<string, WorkflowHandle<unknown>>();
  private readonly startedAt = new Map<string, Date>();

  constructor(
    private readonly registry: TasksRegistry,
    private readonly jobs: InlineJobs,
    @Inject(TESTING_OPTIONS) private readonly options: ResolvedTestingOptions,
  ) {}

  async start<R>(node: WorkflowNode): Promise<WorkflowHandle<R>> {
    const workflowId = `wf-${randomUUID()}`;
    const plan = await new WorkflowPlanner(
      workflowId,
      this.options.tasks.keys,
      (task) => this.registry.definition(task),
      this.options.tasks.routing,
    ).plan(node);
    const run: Run = { workflowId, steps: new Map(plan.steps.map((step) => [step.path, step])) };
    // What a fan-out adds later does not exist until then, as in Redis.
    for (const step of plan.steps) if (!step.path.includes('.fan')) this.record(run, step);
    const execute = async () => {
      await this.execute(run, node, '0', undefined, undefined);
    };
    if (this.options.mode === 'inline') await execute();
    else this.waiting.push(execute);
    const handle = new WorkflowHandle<R>(workflowId, plan.steps, plan.top, this);
    this.started.set(workflowId, handle);
    this.startedAt.set(workflowId, new Date());
    return handle;
  }

  /** The handle of a workflow this testing module started (`TaskProducer.workflowHandle`). */
  attach<R>(id: string): WorkflowHandle<R> | undefined {
    return this.started.get(id) as WorkflowHandle<R> | undefined;
  }

  /** The workflows this testing module started, newest first (`TaskProducer.recentWorkflows`). */
  recent(limit: number): Array<{ id: string; startedAt: Date }> {
    return [...this.startedAt]
      .reverse()
      .slice(0, limit)
      .map(([id, startedAt]) => ({ id, startedAt }));
  }

  /** Runs the workflows started in manual mode; returns how many there were. */
  async runWaiting(): Promise<number> {
    const batch = this.waiting.splice(0);
    for (const execute of batch) await execute();
    return batch.length;
  }

  clear(): void {
    this.waiting.length = 0;
    this.started.clear();
    this.startedAt.clear();
  }

  resultOf<R>(queue: string, taskName: string, jobId: string, timeout?: Duration): Promise<R> {
    return this.jobs.resultOf<R>(queue, taskName, jobId, timeout);
  }

  async inspect(step: PlannedStep): Promise<WorkflowStepInfo> {
    const { childIds: _, ...info } = step;
    const job = this.jobs.find(step.queue, step.jobId);
    if (!job) return { ...info, state: 'unknown' };
    if (job.state === 'completed') return { ...info, state: job.state, result: job.result };
    if (job.state === 'dead-lettered' || job.state === 'skipped') {
      return { ...info, state: job.state, error: job.error?.message };
    }
    return { ...info, state: job.state };
  }

  /**
   * Runs `node` at `path`, mirroring the planner's walk: `previous` is the outcome of the step
   * before it in a chain; `fanned` is the input a fan-out hands to its group's first steps.
   */
  private async execute(
    run: Run,
    node: WorkflowNode,
    path: string,
    previous: Outcome | undefined,
    fanned: Outcome | undefined,
    inherited: Inherited = NOTHING,
  ): Promise<Outcome> {
    switch (node.kind) {
      case 'step': {
        const job = this.record(run, run.steps.get(path)!);
        if (previous && !previous.ok) return this.cascade(job, previous);
        // The planner refused a step with neither a payload nor a step before it.
        const input = (previous ?? fanned) as { value: unknown } | undefined;
        const outcome = outcomeOf(await this.jobs.runStep(job, stepPayload(node, input?.value)));
        if (!outcome.ok) {
          await this.failed(run, outcome, with_(inherited, node.onError, `${path}.onError`));
        }
        return outcome;
      }
      case 'chain': {
        const inside = with_(inherited, node.onError, `${path}.onError`);
        let current = previous;
        for (const [i, child] of node.nodes.entries()) {
          current = await this.execute(
            run,
            child,
            `${path}.${i}`,
            current,
            i ? undefined : fanned,
            inside,
          );
        }
        return current!;
      }
      case 'group':
      case 'chord': {
        if (previous) {
          const fanOut = this.record(run, run.steps.get(path)!);
          if (!previous.ok) return this.cascade(fanOut, previous);
          const inner = await this.execute(
            run,
            node,
            `${path}.fan`,
            undefined,
            previous,
            inherited,
          );
          this.jobs.settle(fanOut, inner.ok ? { value: inner.value } : childFailed(inner));
          return inner;
        }
        const own = with_(inherited, node.onError, `${path}.onError`);
        const continues = node.kind === 'chord' && node.onMemberFailure === 'continue';
        const failFast = node.kind === 'group' && node.failFast;
        const forMembers: Inherited = continues ? NOTHING : own;
        const members: Outcome[] = [];
        for (const [i, child] of node.nodes.entries()) {
          // failFast: once a member failed, the rest are cancelled before they run.
          if (failFast && members.some((member) => !member.ok)) {
            await this.cancelWithin(run, `${path}.${i}`);
            continue;
          }
          members.push(
            await this.execute(run, child, `${path}.${i}`, undefined, fanned, forMembers),
          );
        }
        const failed = members.find((member) => !member.ok);
        if (node.kind === 'group') {
          const collector = this.record(run, run.steps.get(path)!);
          if (failed) return this.cascade(collector, failed);
          const values = members.map((member) => (member as { value: unknown }).value);
          this.jobs.settle(collector, { value: values });
          return { ok: true, value: values };
        }
        const callbackPath = `${path}.callback`;
        const callback = this.record(run, run.steps.get(callbackPath)!);
        if (failed && node.onMemberFailure === 'fail') return this.cascade(callback, failed);
        const input = members.map((member) => (member.ok ? member.value : member.failure));
        const payload =
          node.callback.hasPayload && !node.callback.previousAs
            ? node.callback.payload
            : stepPayload(node.callback, input);
        const outcome = outcomeOf(await this.jobs.runStep(callback, payload));
        if (!outcome.ok) {
          await this.failed(
            run,
            outcome,
            with_(own, node.callback.onError, `${callbackPath}.onError`),
          );
        }
        return outcome;
      }
    }
  }

  /** Runs the `onError` steps a step's failure sets off, each once per node. */
  private async failed(run: Run, outcome: Outcome, inherited: Inherited): Promise<void> {
    if (outcome.ok) return;
    for (const { path, step } of inherited.onError) {
      const jobId = `${run.workflowId}.${path}`;
      const definition = this.registry.definition(step.task);
      if (this.jobs.find(definition.options.queue, jobId)) continue;
      const { job } = this.jobs.add(definition.name, definition.options.queue, undefined, {
        jobId,
        attempts: definition.options.attempts,
      });
      await this.jobs.runStep(job, step.hasPayload ? step.payload : outcome.failure);
    }
  }

  /** Cancels the task steps planned at or under `path` (a failFast group's later member). */
  private async cancelWithin(run: Run, path: string): Promise<void> {
    for (const [stepPath, step] of run.steps) {
      if (step.kind !== 'task' || (stepPath !== path && !stepPath.startsWith(`${path}.`))) continue;
      await this.jobs.cancel(step.queue, step.jobId, 'a member of its failFast group failed');
    }
  }

  /** A step whose dependency failed for good never runs: it is skipped, as on Redis. */
  private cascade(job: TestJob, cause: Outcome): Outcome {
    this.jobs.settle(job, { skipped: childFailed(cause).failed });
    return cause;
  }

  /** The job of a planned step, made the first time the workflow reaches it. */
  private record(run: Run, step: PlannedStep): TestJob {
    const held = this.jobs.find(step.queue, step.jobId);
    if (held) return held;
    const task = step.kind === 'task' ? this.registry.get(step.taskName) : undefined;
    return this.jobs.add(
      step.taskName,
      step.queue,
      undefined,
      {
        jobId: step.jobId,
        attempts: task?.options.attempts ?? 1,
        priority: task?.options.priority,
      },
      { id: run.workflowId, waitsForChildren: step.childIds.length > 0 },
    ).job;
  }
}

function outcomeOf(job: TestJob): Outcome {
  if (job.state === 'completed') return { ok: true, value: job.result };
  return {
    ok: false,
    failure: {
      conveyorStepFailure: true,
      taskName: job.taskName,
      jobId: job.id,
      message: job.error?.message ?? `job ${job.id} ended ${job.state}`,
    },
  };
}

/** What BullMQ records on a parent whose child failed with `failParentOnFailure`. */
function childFailed(cause: Outcome): { failed: string } {
  const jobId = cause.ok ? '?' : cause.failure.jobId;
  return { failed: `child ${jobId} failed` };
}

/** A step's payload: its own, its input, or (a partial step) its own with the input set in it. */
function stepPayload(node: WorkflowStep, input: unknown): unknown {
  if (node.previousAs) {
    return { ...(node.payload as Record<string, unknown>), [node.previousAs]: input };
  }
  return node.hasPayload ? node.payload : input;
}

/** `inherited` with a node's own `onError` first. */
function with_(inherited: Inherited, onError: WorkflowStep | undefined, path: string): Inherited {
  return onError
    ? { ...inherited, onError: [{ path, step: onError }, ...inherited.onError] }
    : inherited;
}
