import { type CanActivate, type DynamicModule, Injectable } from '@nestjs/common';
import { defineTask, Task, type TaskContext } from '@conveyor/tasks';
import { DashboardModule, type DashboardModuleOptions } from '@conveyor/dashboard';
import { type HttpTestApp, startHttpApp } from '../support/http-app';

export const TOKEN = 'dashboard-test-token';

export const Charge = defineTask<{ orderId: number; cents: number }, { charged: number }>(
  'orders.charge',
  { queue: 'orders', attempts: 2, backoff: { type: 'fixed', delay: 10 } },
);
// Runs until cancelled: a job to cancel while it is active.
export const Export = defineTask<{ orderId: number }, void>('orders.export', { queue: 'orders' });
export const Welcome = defineTask<{ userId: string }, void>('email.welcome', { queue: 'email' });
// No handler: its jobs wait, so a search and a pause have something to show.
export const Nightly = defineTask<{ day: string }, void>('reports.nightly', { queue: 'reports' });

/** Orders whose charge throws, until a test lets them through (to make dead letters). */
export const declined = new Set<number>();

@Injectable()
export class DashboardTestTasks {
  @Task(Charge)
  charge({ orderId, cents }: { orderId: number; cents: number }): { charged: number } {
    if (declined.has(orderId)) throw new RangeError(`card declined for order ${orderId}`);
    return { charged: cents };
  }

  @Task(Welcome)
  welcome(): void {}

  @Task(Export)
  async export(_payload: { orderId: number }, ctx: TaskContext): Promise<void> {
    await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve()));
    ctx.signal.throwIfAborted();
  }
}

/** Lets a request through when it says `x-test-role: admin`, and names the user. */
@Injectable()
export class HeaderRoleGuard implements CanActivate {
  canActivate(context: import('@nestjs/common').ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest();
    if (request.headers['x-test-role'] !== 'admin') return false;
    request.user = { username: 'ada' };
    return true;
  }
}

/** An HTTP app with TasksModule (workers on), the tasks above and the dashboard. */
export function startDashboardApp(
  options: DashboardModuleOptions & { path?: string },
  extra: { providers?: [] | [typeof HeaderRoleGuard] } = {},
): Promise<HttpTestApp> {
  const dashboard: DynamicModule = DashboardModule.forRoot(options);
  return startHttpApp({
    tasks: {
      queues: { orders: { concurrency: 2 }, email: {}, reports: {} },
      // Short, so the run history the overview and task pages read fills within a test.
      stats: { interval: '1s' },
    },
    imports: [dashboard],
    providers: [DashboardTestTasks, ...(extra.providers ?? [])],
  });
}

/** Calls the dashboard's API: status and parsed body. */
export async function call(
  app: HttpTestApp,
  path: string,
  init: {
    method?: string;
    body?: unknown;
    headers?: Record<string, string>;
    token?: string | null;
  } = {},
): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { ...init.headers };
  const token = init.token === undefined ? TOKEN : init.token;
  if (token) headers.authorization = `Bearer ${token}`;
  // Actions go as JSON, as the page sends them ({} when there is nothing to say).
  const body = init.method === 'POST' ? JSON.stringify(init.body ?? {}) : undefined;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${app.url}/conveyor/api/${path}`, {
    method: init.method ?? 'GET',
    headers,
    body,
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
