import { STEP_ENVELOPE_KEY } from '@conveyor/tasks/internal';
import type { Job } from 'bullmq';

/** The workflow a job is a step of, for a link from the job page. */
export interface JobWorkflow {
  /** `canvas`: a chain, group or chord; `durable`: a `defineWorkflow` workflow. */
  kind: 'canvas' | 'durable';
  id: string;
  /** Where the job is in it: a canvas step's path (`0.1`), a durable step's journal field. */
  at: string;
}

/**
 * Whether `job` belongs to a workflow: a canvas step carries the step envelope with its
 * workflow's id (and its job id is `<workflow id>.<path>`); a durable step's job id is
 * `dwf~<workflow id>~<journal field>`.
 */
export function workflowOfJob(job: Pick<Job, 'id' | 'data'>): JobWorkflow | undefined {
  const envelope = (job.data as Record<string, unknown> | null | undefined)?.[STEP_ENVELOPE_KEY];
  const workflowId = (envelope as { workflowId?: unknown } | undefined)?.workflowId;
  if (typeof workflowId === 'string') {
    const prefix = `${workflowId}.`;
    const at = job.id?.startsWith(prefix) ? job.id.slice(prefix.length) : '';
    return { kind: 'canvas', id: workflowId, at };
  }
  const durable = /^dwf~(.+)~(c?\d+)$/.exec(job.id ?? '');
  if (durable) return { kind: 'durable', id: durable[1], at: durable[2] };
  return undefined;
}
