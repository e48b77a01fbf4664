import { type DynamicModule, Injectable } from '@nestjs/common';
import { defineTask, Task, type TaskContext } from '@conveyor/tasks';
import { DashboardModule, type DashboardModuleOptions } from '@conveyor/dashboard';
import { type HttpTestApp, startHttpApp } from '../support/http-app';
import {
  type Backend,
  type OutboxTestApp,
  startOutboxApp,
  uniqueTable,
} from '../support/outbox-app';

// Tasks of the tenants, outbox and workers views' tests: per-key limits whose runs hold
// until the test lets them go, so keys are seen running at their limit with jobs parked.
export const Import = defineTask<{ tenant: string; n: number }, void>('tenant.import', {
  queue: 'imports',
  concurrencyKey: ({ tenant }) => tenant,
  maxConcurrent: 2,
});
export const Sync = defineTask<{ account: string; n: number }, void>('crm.sync', {
  queue: 'imports',
  lock: ({ account }) => account,
});
export const Mail = defineTask<{ to: string }, void>('mail.send', { queue: 'mail' });

/** Holds the runs of Import and Sync until `let()`; a fresh one per test. */
export class Hold {
  private release!: () => void;
  readonly open = new Promise<void>((resolve) => (this.release = resolve));
  let(): void {
    this.release();
  }
}

@Injectable()
export class OpsTasks {
  constructor(private readonly hold: Hold) {}

  @Task(Import)
  async import(_: { tenant: string }, ctx: TaskContext): Promise<void> {
    await this.wait(ctx);
  }

  @Task(Sync)
  async sync(_: { account: string }, ctx: TaskContext): Promise<void> {
    await this.wait(ctx);
  }

  @Task(Mail)
  mail(): void {}

  private wait(ctx: TaskContext): Promise<void> {
    return Promise.race([
      this.hold.open,
      new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve())),
    ]);
  }
}

const QUEUES = { imports: { concurrency: 10 }, mail: { concurrency: 3 } };

/** An HTTP app with TasksModule (workers on), the tasks above and the dashboard. */
export function startOpsApp(options: DashboardModuleOptions, hold: Hold): Promise<HttpTestApp> {
  const dashboard: DynamicModule = DashboardModule.forRoot(options);
  return startHttpApp({
    tasks: { queues: QUEUES },
    imports: [dashboard],
    providers: [{ provide: Hold, useValue: hold }, OpsTasks],
  });
}

/** The same with OutboxModule, on a table of its own; the relay retries fast. */
export function startOpsOutboxApp(
  options: DashboardModuleOptions,
  hold: Hold,
  backend: Backend = 'postgres',
): Promise<OutboxTestApp> {
  return startOutboxApp({
    backend,
    table: uniqueTable(),
    tasks: { queues: QUEUES },
    outbox: {
      writeAtCommit: false,
      relay: { pollInterval: '50ms', retryDelay: '10ms', maxBackoff: '40ms', maxAttempts: 2 },
    },
    imports: [DashboardModule.forRoot(options)],
    providers: [{ provide: Hold, useValue: hold }, OpsTasks],
  });
}
