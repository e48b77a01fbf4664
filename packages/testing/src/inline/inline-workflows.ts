import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import {
  type Duration,
  type StepFailure,
  WorkflowHandle,
  type WorkflowNode,
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
    return new WorkflowHandle<R>(workflowId, plan.steps, plan.top, this);
  }

  /** Runs the workflows started in manual mode; returns how many there were. */
  async runWaiting(): Promise<number> {
    const batch = this.waiting.splice(0);
    for (const execute of batch) await execute();
    return batch.length;
  }

  clear(): void {
    this.waiting.length = 0;
  }

  resultOf<R>(queue: string, taskName: string, jobId: string, timeout?: Duration): Promise<R> {
    return this.jobs.resultOf<R>(queue, taskName, jobId, timeout);
  }

  async inspect(step: PlannedStep): Promise<WorkflowStepInfo> {
    const { childIds: _, ...info } = step;
    const job = this.jobs.find(step.queue, step.jobId);
    if (!job) return { ...info, state: 'unknown' };
    if (job.state === 'completed') return { ...info, state: job.state, result: job.result };
    if (job.state === 'dead-lettered') {
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
  ): Promise<Outcome> {
    switch (node.kind) {
      case 'step': {
        const job = this.record(run, run.steps.get(path)!);
        if (previous && !previous.ok) return this.cascade(job, previous);
        // The planner refused a step with neither a payload nor a step before it.
        const payload = node.hasPayload
          ? node.payload
          : ((previous ?? fanned) as { value: unknown }).value;
        return outcomeOf(await this.jobs.runStep(job, payload));
      }
      case 'chain': {
        let current = previous;
        for (const [i, child] of node.nodes.entries()) {
          current = await this.execute(run, child, `${path}.${i}`, current, i ? undefined : fanned);
        }
        return current!;
      }
      case 'group':
      case 'chord': {
        if (previous) {
          const fanOut = this.record(run, run.steps.get(path)!);
          if (!previous.ok) return this.cascade(fanOut, previous);
          const inner = await this.execute(run, node, `${path}.fan`, undefined, previous);
          this.jobs.settle(fanOut, inner.ok ? { value: inner.value } : childFailed(inner));
          return inner;
        }
        const members: Outcome[] = [];
        for (const [i, child] of node.nodes.entries()) {
          members.push(await this.execute(run, child, `${path}.${i}`, undefined, fanned));
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
        return outcomeOf(await this.jobs.runStep(callback, input));
      }
    }
  }

  /** A step whose dependency failed for good fails too, without running. */
  private cascade(job: TestJob, cause: Outcome): Outcome {
    this.jobs.settle(job, childFailed(cause));
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
