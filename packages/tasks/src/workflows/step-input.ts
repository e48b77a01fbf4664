import type { FlowJob, Job } from 'bullmq';

/**
 * Workflow step jobs carry this envelope as their data instead of a bare payload: a step's
 * payload may only exist once earlier steps have run. The runner unwraps it with
 * `stepPayload()`; nothing else needs to know.
 */
export const STEP_ENVELOPE_KEY = '$conveyorStep';

/** A partial step's own payload, with its input set at `as` (see `step(…, { previousAs })`). */
export interface PartialInput {
  partial?: { payload: Record<string, unknown>; as: string };
}

/** Where a workflow step's payload comes from. */
export type StepInput =
  /** The payload given to `step(task, payload)`. */
  | { from: 'payload'; payload: unknown }
  /** The result of the one child job: the step before it in a chain. */
  | ({ from: 'previous' } & PartialInput)
  /** The results of the child jobs, in this order (a group's collector, a chord's callback). */
  | ({
      from: 'members';
      members: Array<{ key: string; taskName: string; jobId: string }>;
    } & PartialInput)
  /**
   * The result of the step before a group or chord in a chain: filled in by the fan-out job
   * (`{ from: 'payload' }`) before this job is added, so a job never runs with it.
   */
  | ({ from: 'fan-out' } & PartialInput);

/**
 * A job to add when a step fails for good (an `onError` step of it or of a node around it),
 * prepared when the workflow was planned. Without a payload it receives the `StepFailure`.
 */
export interface ErrorStep {
  name: string;
  queue: string;
  jobId: string;
  opts: Record<string, unknown>;
  hasPayload: boolean;
  payload?: unknown;
}

export interface StepEnvelope {
  [STEP_ENVELOPE_KEY]: {
    workflowId: string;
    input: StepInput;
    /** On a fan-out job: the group or chord to add once its input is known. */
    expand?: { flow: FlowJob; topKey: string };
    /** On a fan-out job: set once `expand` has been added. */
    expanded?: boolean;
    /** What runs when this step fails for good: its own `onError`, then its nodes', inwards out. */
    onError?: ErrorStep[];
    /** `failFast` groups this step belongs to (their paths): a failure cancels the others. */
    failFast?: string[];
  };
}

/**
 * In the slot of a chord member that failed for good, when the chord's `onMemberFailure` is
 * `'continue'`. Test for it with `isStepFailure()`.
 */
export interface StepFailure {
  readonly conveyorStepFailure: true;
  readonly taskName: string;
  readonly jobId: string;
  /** The member's final error message. */
  readonly message: string;
}

/** True for the marker a failed chord member leaves in the callback's input. */
export function isStepFailure(value: unknown): value is StepFailure {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as Partial<StepFailure>).conveyorStepFailure === true
  );
}

export function stepEnvelope(
  workflowId: string,
  input: StepInput,
  extra: { onError?: ErrorStep[]; failFast?: string[] } = {},
): StepEnvelope {
  return {
    [STEP_ENVELOPE_KEY]: {
      workflowId,
      input,
      ...(extra.onError?.length ? { onError: extra.onError } : {}),
      ...(extra.failFast?.length ? { failFast: extra.failFast } : {}),
    },
  };
}

/** A partial step's payload: its own, with `value` set at its key; else `value` itself. */
function withPartial(input: PartialInput, value: unknown): unknown {
  return input.partial ? { ...input.partial.payload, [input.partial.as]: value } : value;
}

export function envelopeOf(data: unknown): StepEnvelope[typeof STEP_ENVELOPE_KEY] | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  return (data as Partial<StepEnvelope>)[STEP_ENVELOPE_KEY];
}

/** The payload a handler receives for this job: `job.data`, or a workflow step's input. */
export async function stepPayload(job: Job): Promise<unknown> {
  const envelope = envelopeOf(job.data);
  if (!envelope) return job.data;
  const { input } = envelope;
  if (input.from === 'payload') return input.payload;
  if (input.from === 'fan-out') throw new Error('workflow step ran before its input was filled in');
  if (input.from === 'members' && input.members.length === 0) return withPartial(input, []);
  const values: Record<string, unknown> = (await job.getChildrenValues()) ?? {};
  if (input.from === 'previous') return withPartial(input, Object.values(values)[0] ?? null);
  const failures: Record<string, string> =
    Object.keys(values).length < input.members.length
      ? ((await job.getIgnoredChildrenFailures()) ?? {})
      : {};
  const results = input.members.map(({ key, taskName, jobId }) =>
    !(key in failures)
      ? (values[key] ?? null)
      : ({
          conveyorStepFailure: true,
          taskName,
          jobId,
          message: failures[key],
        } satisfies StepFailure),
  );
  return withPartial(input, results);
}

/**
 * A copy of `flow` in which every step waiting for the fan-out's input receives `value` as
 * its payload.
 */
export function fillFanOutInput(flow: FlowJob, value: unknown): FlowJob {
  const envelope = envelopeOf(flow.data);
  const data =
    envelope?.input.from === 'fan-out'
      ? {
          [STEP_ENVELOPE_KEY]: {
            ...envelope,
            input: { from: 'payload', payload: withPartial(envelope.input, value) },
          },
        }
      : flow.data;
  const children = (flow.children ?? []).map((child) => fillFanOutInput(child as FlowJob, value));
  return (children.length ? { ...flow, data, children } : { ...flow, data }) as FlowJob;
}
