import { Injectable } from '@nestjs/common';
import { defineTask, defineWorkflow, Task } from '@conveyor/tasks';
import { DashboardModule, type DashboardModuleOptions } from '@conveyor/dashboard';
import { type HttpTestApp, startHttpApp } from '../support/http-app';

/** Scheduled daily at 06:00 Paris time: never due while a test runs, triggered by hand. */
export const Digest = defineTask<{ kind: string }, string>('digest.build', { queue: 'digests' });
export const Resize = defineTask<{ n: number }, number>('images.resize', { queue: 'images' });
/** Sums a group's results (an array), or passes a number on. */
export const Sum = defineTask<unknown, number>('images.sum', { queue: 'images' });
export const Explode = defineTask<{ why: string }, never>('images.explode', {
  queue: 'images',
  attempts: 1,
});

/** Resizes one image, then waits for an approval signal. */
export const Approve = defineWorkflow<{ orderId: string }, string>(
  'order.approve',
  async (ctx, { orderId }) => {
    await ctx.step(Resize, { n: 1 });
    const approval = await ctx.waitFor<{ by: string }>('approval');
    return `${orderId} approved by ${approval.by}`;
  },
);

export const DIGEST_SCHEDULE = 'conveyor.digest.build';

@Injectable()
export class WorkflowTestTasks {
  readonly digests: Array<{ kind: string; jobId: string }> = [];

  @Task(Digest, { schedule: { cron: '0 6 * * *', tz: 'Europe/Paris', payload: { kind: 'daily' } } })
  digest({ kind }: { kind: string }, ctx: { jobId: string }): string {
    this.digests.push({ kind, jobId: ctx.jobId });
    return `digest ${kind}`;
  }

  @Task(Resize)
  resize({ n }: { n: number }): number {
    return n * 10;
  }

  @Task(Sum)
  sum(input: unknown): number {
    return Array.isArray(input) ? input.reduce((a: number, b: number) => a + b, 0) : Number(input);
  }

  @Task(Explode)
  explode({ why }: { why: string }): never {
    throw new Error(why);
  }
}

/** An HTTP app with workers, the tasks and durable workflow above, and the dashboard. */
export function startWorkflowsApp(options: DashboardModuleOptions): Promise<HttpTestApp> {
  return startHttpApp({
    tasks: { queues: { digests: {}, images: { concurrency: 2 } }, workflows: [Approve] },
    imports: [DashboardModule.forRoot(options)],
    providers: [WorkflowTestTasks],
  });
}
