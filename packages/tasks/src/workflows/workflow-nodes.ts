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
  /** Type carrier only. */
  readonly __result?: R;
}

/** Steps that run one after the other, each fed the previous one's result. */
export interface WorkflowChain<R = unknown> {
  readonly kind: 'chain';
  readonly nodes: readonly WorkflowNode[];
  readonly __result?: R;
}

/** Steps that run in parallel; its result is every member's result, in order. */
export interface WorkflowGroup<R = unknown> {
  readonly kind: 'group';
  readonly nodes: readonly WorkflowNode[];
  readonly __result?: R;
}

/** A group whose results, in order, feed one callback step that runs once all are done. */
export interface WorkflowChord<R = unknown> {
  readonly kind: 'chord';
  readonly nodes: readonly WorkflowNode[];
  readonly callback: WorkflowStep<R>;
  readonly onMemberFailure: MemberFailurePolicy;
  readonly __result?: R;
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
}

/**
 * A step of a workflow: a task and, optionally, its payload. Without a payload the step
 * receives the previous step's result (or a chord's member results).
 *
 * @example
 * await producer.chain([step(Download, { url }), step(Resize), step(Upload)]);
 */
export function step<P, R, H>(task: TaskRef<P, R, H>, payload?: P): WorkflowStep<R>;
export function step<R = unknown>(task: string, payload?: unknown): WorkflowStep<R>;
export function step(task: TaskRef | string, ...rest: unknown[]): WorkflowStep {
  const hasPayload = rest.length > 0 && rest[0] !== undefined;
  return Object.freeze({
    kind: 'step',
    task,
    hasPayload,
    payload: hasPayload ? rest[0] : undefined,
  });
}

/** A chain to nest in another workflow; `producer.chain()` runs one directly. */
export function chain<const T extends readonly WorkflowNode[]>(
  nodes: T,
): WorkflowChain<LastResult<T>> {
  return Object.freeze({ kind: 'chain', nodes: Object.freeze([...nodes]) });
}

/** A group to nest in another workflow; `producer.group()` runs one directly. */
export function group<const T extends readonly WorkflowNode[]>(
  nodes: T,
): WorkflowGroup<NodeResults<T>> {
  return Object.freeze({ kind: 'group', nodes: Object.freeze([...nodes]) });
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
  checkKnownKeys(checkObject(options, 'chord options', fail), ['onMemberFailure'], '', fail);
  const onMemberFailure = options.onMemberFailure ?? 'fail';
  if (onMemberFailure !== 'fail' && onMemberFailure !== 'continue') {
    fail(`onMemberFailure must be 'fail' or 'continue', got ${describe(onMemberFailure)}`);
  }
  return Object.freeze({
    kind: 'chord',
    nodes: Object.freeze([...nodes]),
    callback,
    onMemberFailure,
  });
}
