import type { Job } from 'bullmq';
import { type JobWorkflow, workflowOfJob } from './job-workflow';

/** Where a job is, in Conveyor's words (BullMQ's `failed` is the dead-letter store). */
export type JobStateName =
  'waiting' | 'active' | 'delayed' | 'completed' | 'dead-lettered' | 'waiting-children' | 'unknown';

/** States a search can look in, in the order a search without a state walks them. */
export const SEARCH_STATES = [
  'active',
  'waiting',
  'delayed',
  'dead-lettered',
  'completed',
  'waiting-children',
] as const;
export type SearchState = (typeof SEARCH_STATES)[number];

/** The BullMQ lists and sets that hold each state's jobs. */
export const BULL_TYPES: Record<
  SearchState,
  Array<
    | 'wait'
    | 'paused'
    | 'prioritized'
    | 'active'
    | 'delayed'
    | 'failed'
    | 'completed'
    | 'waiting-children'
  >
> = {
  active: ['active'],
  waiting: ['wait', 'paused', 'prioritized'],
  delayed: ['delayed'],
  'dead-lettered': ['failed'],
  completed: ['completed'],
  'waiting-children': ['waiting-children'],
};

export function stateName(bullState: string): JobStateName {
  if (bullState === 'failed') return 'dead-lettered';
  if (bullState === 'prioritized' || bullState === 'wait' || bullState === 'paused')
    return 'waiting';
  if (['waiting', 'active', 'delayed', 'completed', 'waiting-children'].includes(bullState)) {
    return bullState as JobStateName;
  }
  return 'unknown';
}

/** One row of a search. */
export interface JobSummary {
  id: string;
  queue: string;
  task: string;
  state: JobStateName;
  payload: unknown;
  enqueuedAt?: number;
}

/** One failed attempt: BullMQ keeps each attempt's stack. */
export interface AttemptError {
  attempt: number;
  name: string;
  message: string;
  stack: string;
}

/** A job in full, for the job view. */
export interface JobDetail extends JobSummary {
  result?: unknown;
  attemptsMade: number;
  maxAttempts: number;
  errors: AttemptError[];
  failedReason?: string;
  progress?: unknown;
  options: { priority?: number; delay?: number; attempts?: number };
  worker?: string;
  logs: string[];
  timeline: Array<{ at: number; event: string }>;
  /** The workflow the job is a step of, if any. */
  workflow?: JobWorkflow;
}

export function jobDetail(queue: string, job: Job, bullState: string, logs: string[]): JobDetail {
  const state = stateName(bullState);
  const errors = (job.stacktrace ?? []).map((stack, i) => {
    const firstLine = stack.split('\n')[0] ?? '';
    const match = /^([A-Za-z_$][\w$]*)(?::\s?(.*))?$/.exec(firstLine);
    return {
      attempt: i + 1,
      name: match?.[1] ?? 'Error',
      message: match?.[2] ?? firstLine,
      stack,
    };
  });
  const timeline: JobDetail['timeline'] = [{ at: job.timestamp, event: 'enqueued' }];
  if (job.opts.delay) timeline.push({ at: job.timestamp + job.opts.delay, event: 'due (delay)' });
  if (job.processedOn) {
    timeline.push({ at: job.processedOn, event: `attempt ${job.attemptsMade || 1} started` });
  }
  if (job.finishedOn) {
    timeline.push({
      at: job.finishedOn,
      event:
        state === 'dead-lettered'
          ? 'dead-lettered'
          : state === 'completed'
            ? 'completed'
            : 'finished',
    });
  }
  const workflow = workflowOfJob(job);
  return {
    id: job.id!,
    queue,
    task: job.name,
    state,
    payload: job.data,
    enqueuedAt: job.timestamp,
    ...(state === 'completed' ? { result: job.returnvalue } : {}),
    attemptsMade: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    errors,
    ...(job.failedReason ? { failedReason: job.failedReason } : {}),
    ...(job.progress !== undefined && job.progress !== 0 ? { progress: job.progress } : {}),
    options: { priority: job.opts.priority, delay: job.opts.delay, attempts: job.opts.attempts },
    ...(job.processedBy ? { worker: job.processedBy } : {}),
    logs,
    timeline: timeline.sort((a, b) => a.at - b.at),
    ...(workflow ? { workflow } : {}),
  };
}
