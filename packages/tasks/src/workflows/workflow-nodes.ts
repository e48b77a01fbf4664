import { InvalidWorkflowError } from '../errors';
import type { TaskRef } from '../interfaces/task-ref.interface';
import { checkKnownKeys, checkObject, describe, type Fail } from '../options/validation';

/** What a chord does when one of its members fails for good. */
export type MemberFailurePolicy = 'fail' | 'continue';

/**
 * One task in a workflow. Given a payload, it runs with that payload; without one, it runs
 * with its input: the result of the step before it in a chain, or, as a chord's callback,
 * the results of the chord's members in order.
 */
export interface WorkflowStep<R = unknown> {
  readonly kind: 'step';
  readonly task: TaskRef | string;
  readonly hasPayload: boolean;
  readonly payload?: unknown;
  /**
   * A partial step (Celery's `add.s(8)` in a chain): its payload, with its input (the
   * previous step's result, or a chord's member results) set at this key.
   */
  readonly previousAs?: string;
  /** Runs when this step fails for good: see `StepOptions.onError`. */
  readonly onError?: WorkflowStep;
  /** Type carrier only. */
  readonly __result?: R;
}

/** Steps that run one after the other, each fed the previous one's result. */
export interface WorkflowChain<R = unknown> {
  readonly kind: 'chain';
  readonly nodes: readonly WorkflowNode[];
  readonly onError?: WorkflowStep;
  readonly __result?: R;
}

/** Steps that run in parallel; its result is every member's result, in order. */
export interface WorkflowGroup<R = unknown> {
  readonly kind: 'group';
  readonly nodes: readonly WorkflowNode[];
  readonly onError?: WorkflowStep;
  /** When one member fails for good, the others are cancelled. */
  readonly failFast: boolean;
  readonly __result?: R;
}

/** A group whose results, in order, feed one callback step that runs once all are done. */
export interface WorkflowChord<R = unknown> {
  readonly kind: 'chord';
  readonly nodes: readonly WorkflowNode[];
  readonly callback: WorkflowStep<R>;
  readonly onMemberFailure: MemberFailurePolicy;
  readonly onError?: WorkflowStep;
  readonly __result?: R;
}

/** Options of a step. */
export interface StepOptions<K extends string = string> {
  /** A partial step: its input is set at this key of its payload (an object). */
  previousAs?: K;
  /**
   * A step to run when this one fails for good (Celery's `link_error`). Without a payload it
   * receives the failure as a `StepFailure` (task, job id, message).
   */
  onError?: WorkflowStep;
}

/** Options of a chain. */
export interface ChainOptions {
  /** A step to run when any step of the chain fails for good, with that failure. */
  onError?: WorkflowStep;
}

/** Options of a group. */
export interface GroupOptions {
  /** A step to run when any member fails for good, with that failure (once per group). */
  onError?: WorkflowStep;
  /**
   * When one member fails for good, cancel the others (waiting ones are removed, running
   * ones' `ctx.signal` aborts), instead of letting them run to no use.
   * @default false
   */
  failFast?: boolean;
}

/** Anything a workflow is made of; workflows nest. */
export type WorkflowNode<R = unknown> =
  WorkflowStep<R> | WorkflowChain<R> | WorkflowGroup<R> | WorkflowChord<R>;

/** The result type of a workflow node. */
export type NodeResult<N> = N extends { readonly __result?: infer R } ? R : unknown;
/** The results of a list of nodes, in order. */
export type NodeResults<T extends readonly WorkflowNode[]> = {
  -readonly [K in keyof T]: NodeResult<T[K]>;
};
/** The result of the last node of a list. */
export type LastResult<T extends readonly WorkflowNode[]> = T extends readonly [
  ...WorkflowNode[],
  infer L,
]
  ? NodeResult<L>
  : unknown;

/** Options of a chord. */
export interface ChordOptions {
  /**
   * `fail`: a member failing for good fails the chord; the callback never runs.
   * `continue`: the callback still runs once every member has finished, with a
   * `StepFailure` in the failed member's slot.
   * @default 'fail'
   */
  onMemberFailure?: MemberFailurePolicy;
  /** A step to run when the chord fails for good (a member with `'fail'`, or the callback). */
  onError?: WorkflowStep;
}

/**
 * A step of a workflow: a task and, optionally, its payload. Without a payload the step
 * receives the previous step's result (or a chord's member results); with `previousAs`, both:
 * its payload with that input set at the key.
 *
 * @example
 * await producer.chain([step(Download, { url }), step(Resize), step(Upload)]);
 * // Partial: Add receives { b: 8, a: <the previous result> }.
 * await producer.chain([step(Add, { a: 2, b: 2 }), step(Add, { b: 8 }, { previousAs: 'a' })]);
 * step(Charge, { orderId }, { onError: step(NotifyOps, { orderId }) });
 */
export function step<P, R, H, K extends keyof P & string>(
  task: TaskRef<P, R, H>,
  payload: Omit<P, K>,
  options: StepOptions<K> & { previousAs: K },
): WorkflowStep<R>;
export function step<P, R, H>(
  task: TaskRef<P, R, H>,
  payload?: P,
  options?: Omit<StepOptions, 'previousAs'>,
): WorkflowStep<R>;
export function step<R = unknown>(
  task: string,
  payload?: unknown,
  options?: StepOptions,
): WorkflowStep<R>;
export function step(task: TaskRef | string, ...rest: unknown[]): WorkflowStep {
  const hasPayload = rest.length > 0 && rest[0] !== undefined;
  const fail: Fail = (problem) => {
    throw new InvalidWorkflowError(
      `step(${typeof task === 'string' ? task : task?.name}): ${problem}`,
    );
  };
  const options = rest[1] === undefined ? {} : checkObject(rest[1], 'step options', fail);
  checkKnownKeys(options, ['previousAs', 'onError'], 'step options', fail);
  const { previousAs, onError } = options as StepOptions;
  if (previousAs !== undefined) {
    if (typeof previousAs !== 'string' || previousAs.length === 0) {
      fail(`previousAs must be a key name, got ${describe(previousAs)}`);
    }
    if (!hasPayload || typeof rest[0] !== 'object' || rest[0] === null || Array.isArray(rest[0])) {
      fail(`previousAs needs a payload object to set '${previousAs}' in, got ${describe(rest[0])}`);
    }
  }
  checkErrorStep(onError, fail);
  return Object.freeze({
    kind: 'step',
    task,
    hasPayload,
    payload: hasPayload ? rest[0] : undefined,
    ...(previousAs !== undefined ? { previousAs } : {}),
    ...(onError !== undefined ? { onError } : {}),
  });
}

function checkErrorStep(onError: unknown, fail: Fail): void {
  if (onError === undefined) return;
  if ((onError as WorkflowStep | null)?.kind !== 'step') {
    fail(`onError must be a step(), got ${describe(onError)}`);
  }
  if ((onError as WorkflowStep).onError || (onError as WorkflowStep).previousAs) {
    fail('an onError step takes neither onError nor previousAs of its own');
  }
}

/** A chain to nest in another workflow; `producer.chain()` runs one directly. */
export function chain<const T extends readonly WorkflowNode[]>(
  nodes: T,
  options: ChainOptions = {},
): WorkflowChain<LastResult<T>> {
  const fail: Fail = (problem) => {
    throw new InvalidWorkflowError(problem);
  };
  checkKnownKeys(checkObject(options, 'chain options', fail), ['onError'], '', fail);
  checkErrorStep(options.onError, fail);
  return Object.freeze({
    kind: 'chain',
    nodes: Object.freeze([...nodes]),
    ...(options.onError ? { onError: options.onError } : {}),
  });
}

/** A group to nest in another workflow; `producer.group()` runs one directly. */
export function group<const T extends readonly WorkflowNode[]>(
  nodes: T,
  options: GroupOptions = {},
): WorkflowGroup<NodeResults<T>> {
  const fail: Fail = (problem) => {
    throw new InvalidWorkflowError(problem);
  };
  checkKnownKeys(checkObject(options, 'group options', fail), ['onError', 'failFast'], '', fail);
  checkErrorStep(options.onError, fail);
  if (options.failFast !== undefined && typeof options.failFast !== 'boolean') {
    fail(`failFast must be a boolean, got ${describe(options.failFast)}`);
  }
  return Object.freeze({
    kind: 'group',
    nodes: Object.freeze([...nodes]),
    failFast: options.failFast ?? false,
    ...(options.onError ? { onError: options.onError } : {}),
  });
}

/** A chord to nest in another workflow; `producer.chord()` runs one directly. */
export function chord<R>(
  nodes: readonly WorkflowNode[],
  callback: WorkflowStep<R>,
  options: ChordOptions = {},
): WorkflowChord<R> {
  const fail: Fail = (problem) => {
    throw new InvalidWorkflowError(problem);
  };
  checkKnownKeys(
    checkObject(options, 'chord options', fail),
    ['onMemberFailure', 'onError'],
    '',
    fail,
  );
  checkErrorStep(options.onError, fail);
  const onMemberFailure = options.onMemberFailure ?? 'fail';
  if (onMemberFailure !== 'fail' && onMemberFailure !== 'continue') {
    fail(`onMemberFailure must be 'fail' or 'continue', got ${describe(onMemberFailure)}`);
  }
  return Object.freeze({
    kind: 'chord',
    nodes: Object.freeze([...nodes]),
    callback,
    onMemberFailure,
    ...(options.onError ? { onError: options.onError } : {}),
  });
}
