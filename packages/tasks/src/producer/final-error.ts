import type { Job } from 'bullmq';

/** Name, message and stack of the error a job finally failed with, as Redis keeps them. */
export function finalError(job: Job): { name: string; message: string; stack?: string } {
  const stack = job.stacktrace?.[job.stacktrace.length - 1];
  return {
    name: /^([A-Za-z_$][\w$]*)(?::|$)/.exec(stack ?? '')?.[1] ?? 'Error',
    message: job.failedReason,
    stack,
  };
}
