import { TaskFailedError } from '../errors';
import type { Duration } from '../interfaces/duration.interface';
import type { TaskState } from '../producer/task-handle';
import type { PlannedStep } from './workflow-plan';

/** One step of a running workflow, as `WorkflowHandle.steps()` reports it. */
export interface WorkflowStepInfo {
  /** Position in the workflow: `0.1` is the second node of the top-level chain, … */
  path: string;
  /**
   * `collector` gathers a group's results; `fan-out` adds a group or chord that follows a
   * step in a chain once that step's result is known. Both are Conveyor's own jobs.
   */
  kind: 'task' | 'collector' | 'fan-out';
  taskName: string;
  queue: string;
  jobId: string;
  /**
   * `waiting-children` while earlier steps run; `unknown` before a fan-out has added the
   * step, and once it is removed after its TTL.
   */
  state: TaskState;
  /** The step's result, once completed. */
  result?: unknown;
  /**
   * The step's final error message, once failed; for a `skipped` step, which step's failure
   * stopped it (`child <job key> failed`).
   */
  error?: string;
}

/** What a workflow handle needs from the producer side. */
export interface WorkflowSource {
  resultOf<R>(queue: string, taskName: string, jobId: string, timeout?: Duration): Promise<R>;
  /** A step's state, and with `details` (the default) its result or error. */
  inspect(step: PlannedStep, details?: boolean): Promise<WorkflowStepInfo>;
}

/** A chain, group or chord that has been enqueued: its result, and the state of each step. */
export class WorkflowHandle<R = unknown> {
  constructor(
    /** The workflow's id; every step's job id starts with it. */
    readonly id: string,
    /** @internal Every job of the workflow, as planned. */
    readonly planned: readonly PlannedStep[],
    private readonly top: PlannedStep,
    private readonly source: WorkflowSource,
  ) {}

  /**
   * Waits for the workflow to finish: resolves with its result (a chain's last step, a
   * group's results in order, a chord's callback), or rejects with the `TaskFailedError`
   * of the step that failed (after its retries). With `timeout`, gives up with a
   * `TaskResultError`; the workflow goes on.
   */
  async result(options: { timeout?: Duration } = {}): Promise<R> {
    try {
      return await this.source.resultOf<R>(
        this.top.queue,
        this.top.taskName,
        this.top.jobId,
        options.timeout,
      );
    } catch (error) {
      if (!(error instanceof TaskFailedError)) throw error;
      throw (await this.rootCause()) ?? error;
    }
  }

  /**
   * Every job of the workflow with its state and, when finished, its result or error. With
   * `{ results: false }`, states only: one read a step instead of two for a finished one.
   */
  steps(options: { results?: boolean } = {}): Promise<WorkflowStepInfo[]> {
    const details = options.results !== false;
    return Promise.all(this.planned.map((step) => this.source.inspect(step, details)));
  }

  toJSON(): { id: string; steps: string[] } {
    return { id: this.id, steps: this.planned.map((step) => step.jobId) };
  }

  /**
   * The step whose own handler failed: a parent that failed because a child did has a
   * failed child, so the first failed step without one is where the failure started.
   */
  private async rootCause(): Promise<TaskFailedError | undefined> {
    const infos = await this.steps();
    const failed = new Set(
      infos.filter((info) => info.state === 'dead-lettered').map((info) => info.jobId),
    );
    // A step that never ran (skipped), or a fan-out that failed with its steps, stopped
    // because of a child: neither is where the failure started.
    const stopped = new Set(
      infos.filter((info) => info.state === 'skipped').map((info) => info.jobId),
    );
    const origin = this.planned.find(
      (step) =>
        failed.has(step.jobId) && !step.childIds.some((id) => failed.has(id) || stopped.has(id)),
    );
    if (!origin) return undefined;
    return this.source
      .resultOf(origin.queue, origin.taskName, origin.jobId)
      .then(() => undefined)
      .catch((error: unknown) => (error instanceof TaskFailedError ? error : undefined));
  }
}
