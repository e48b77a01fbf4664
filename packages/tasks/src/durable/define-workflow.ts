import { InvalidWorkflowError } from '../errors';
import type { Duration } from '../interfaces/duration.interface';
import type { TaskRef } from '../interfaces/task-ref.interface';
import { describe } from '../options/validation';

/** What a workflow's code may do; every call is journaled, and replayed from the journal. */
export interface WorkflowContext {
  /** This run's id, the one given to `Workflows.start()` or generated. */
  readonly workflowId: string;
  /**
   * Runs `task` as a job of its queue (with its retries, limits and routing) and resolves
   * with its result, or rejects with its final `TaskFailedError`. Once journaled, a replay
   * returns the same result without running the task again.
   */
  step<P, R, H>(task: TaskRef<P, R, H>, payload: P, options?: WorkflowStepOptions<P>): Promise<R>;
  /** Waits `duration` without holding a worker: the workflow ends its run and a timer wakes it. */
  sleep(duration: Duration): Promise<void>;
  /**
   * Waits for `Workflows.signal(workflowId, name, data)` and resolves with its data. A signal
   * sent before the workflow got here waits for it. With `timeout`, rejects with a
   * `WorkflowTimeoutError` when none came in time.
   */
  waitFor<T = unknown>(name: string, options?: { timeout?: Duration }): Promise<T>;
}

/** Options of one `ctx.step()`. */
export interface WorkflowStepOptions<P> {
  /**
   * Undoes this step if the workflow fails (or is cancelled) after it succeeded: a task that
   * receives the same payload, or `{ task, payload }` for another one. Compensations run as
   * steps, one at a time, in the reverse order of their steps.
   */
  compensate?: TaskRef<P, unknown, unknown> | Compensation;
  /** The queue of the step's job, as `EnqueueOptions.queue`. @default the task's route */
  queue?: string;
}

/** Another task and payload to undo a step with: `compensateWith(Refund, { chargeId })`. */
export interface Compensation {
  readonly task: string;
  readonly payload: unknown;
  /** The task's reference, for a task whose handler lives in another service. */
  readonly ref?: TaskRef;
}

/**
 * A compensation that is another task than the step's, or takes another payload.
 *
 * @example
 * await ctx.step(Charge, { orderId }, { compensate: compensateWith(Refund, { orderId }) });
 */
export function compensateWith<C>(task: TaskRef<C, unknown, unknown>, payload: C): Compensation {
  return { task: task.name, payload, ref: task as unknown as TaskRef };
}

/** A workflow's code: deterministic, with every side effect in a step. */
export type WorkflowFn<I, O> = (ctx: WorkflowContext, input: I) => Promise<O>;

/** A durable workflow: its name (stable across deploys) and its code. */
export interface WorkflowDefinition<I = unknown, O = unknown> {
  readonly name: string;
  readonly run: WorkflowFn<I, O>;
  /** Type carrier only. */
  readonly __output?: O;
}

/** What a workflow name may be: it is stored, and shown in metrics and spans. */
export const WORKFLOW_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * Declares a durable workflow. Register it with `TasksModule.forRoot({ workflows: [...] })`
 * in the processes that run it; start it from any process with `Workflows.start()`.
 *
 * Its code is replayed from the top after every wait: it must make the same calls in the
 * same order each time, and branch only on its input, step results and signals.
 *
 * @example
 * export const Fulfil = defineWorkflow<{ orderId: string }, string>('order.fulfil', async (ctx, { orderId }) => {
 *   const reservation = await ctx.step(Reserve, { orderId }, { compensate: Release });
 *   await ctx.waitFor('approval', { timeout: '2d' });
 *   await ctx.sleep('1h');
 *   return ctx.step(Ship, { orderId, reservation });
 * });
 */
export function defineWorkflow<I, O>(
  name: string,
  run: WorkflowFn<I, O>,
): WorkflowDefinition<I, O> {
  if (typeof name !== 'string' || !WORKFLOW_NAME_PATTERN.test(name)) {
    throw new InvalidWorkflowError(
      `a workflow name must be 1–200 characters of letters, digits and . _ -, got ${describe(name)}`,
    );
  }
  if (typeof run !== 'function') {
    throw new InvalidWorkflowError(`workflow '${name}' needs a function, got ${describe(run)}`);
  }
  return Object.freeze({ name, run });
}

/** True for what `defineWorkflow()` returns. */
export function isWorkflowDefinition(value: unknown): value is WorkflowDefinition {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as WorkflowDefinition).name === 'string' &&
    typeof (value as WorkflowDefinition).run === 'function'
  );
}
