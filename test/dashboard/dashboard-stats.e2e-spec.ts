import { TaskProducer } from '@conveyor/tasks';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { eventually } from '../support/tasks-app';
import { call, Charge, declined, startDashboardApp, TOKEN, Welcome } from './dashboard-app';

describe('@conveyor/dashboard: run history, tasks and workers', () => {
  let app: HttpTestApp | undefined;

  afterEach(async () => {
    const stopping = app;
    app = undefined;
    declined.clear();
    await stopHttpApps(stopping);
  });

  it("shows each queue's last hour and its live workers in the overview", async () => {
    app = await startDashboardApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    const handles = await producer.enqueueMany(
      Charge,
      Array.from({ length: 6 }, (_, orderId) => ({ orderId, cents: 100 })),
    );
    await Promise.all(handles.map((handle) => handle.result({ timeout: 10_000 })));
    const orders = await eventually(
      async () => {
        const { body } = await call(app!, 'overview');
        const queue = body.queues.find((q: any) => q.queue === 'orders');
        return queue.completedLastHour === 6 ? queue : undefined;
      },
      15_000,
      'the overview to count six runs',
    );
    expect(orders.throughput).toHaveLength(60);
    expect(orders.throughput.reduce((a: number, b: number) => a + b, 0)).toBe(6);
    expect(orders.runTime).toHaveLength(60);
    expect(orders.failedLastHour).toBe(0);
    // This app is the one worker process; it runs orders with concurrency 2.
    expect(orders).toMatchObject({ workers: 1, concurrency: 2 });
  });

  it("lists a queue's tasks with rates and percentiles, and groups a task's failures by error", async () => {
    app = await startDashboardApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    for (const orderId of [7, 8]) declined.add(orderId);
    const runs = await producer.enqueueMany(Charge, [
      { orderId: 1, cents: 100 },
      { orderId: 2, cents: 100 },
      { orderId: 7, cents: 100 },
      { orderId: 8, cents: 100 },
    ]);
    await Promise.all(
      runs.map((handle) => handle.result({ timeout: 10_000 }).catch(() => undefined)),
    );
    await (await producer.enqueue(Welcome, { userId: 'ada' })).result({ timeout: 10_000 });

    const charge = await eventually(
      async () => {
        const { body } = await call(app!, 'tasks/orders/orders.charge');
        // Two orders declined twice each (attempts: 2), then dead-lettered.
        return body.deadLettered === 2 && body.completed === 2 ? body : undefined;
      },
      15_000,
      'the task page to count the runs',
    );
    expect(charge).toMatchObject({ task: 'orders.charge', queue: 'orders', failed: 4 });
    expect(charge.successRate).toBeCloseTo(2 / 6);
    expect(charge.p50Ms).toEqual(expect.any(Number));
    expect(charge.minutes).toHaveLength(60);
    expect(charge.failures).toEqual([
      expect.objectContaining({
        signature: 'RangeError: card declined for order <n>',
        count: 4,
        lastJobId: expect.any(String),
      }),
    ]);
    expect([runs[2].id, runs[3].id]).toContain(charge.failures[0].lastJobId);

    const { status, body: tasks } = await call(app, 'tasks/orders');
    expect(status).toBe(200);
    expect(tasks.map((t: any) => t.task)).toEqual(['orders.charge']);
    const email = await call(app, 'tasks/email?window=15m');
    expect(email.body).toEqual([expect.objectContaining({ task: 'email.welcome', completed: 1 })]);
  });

  it('answers a bad window or an unknown queue with 400 naming it, and needs the token', async () => {
    app = await startDashboardApp({ token: TOKEN });
    const window = await call(app, 'tasks/orders?window=10s');
    expect(window.status).toBe(400);
    expect(window.body.message).toMatch(/window must be whole minutes from 1m to 24h/);
    const queue = await call(app, 'tasks/nope/orders.charge');
    expect(queue.status).toBe(400);
    expect(queue.body.message).toMatch(/unknown queue "nope"/);
    expect((await call(app, 'tasks/orders', { token: null })).status).toBe(401);
  });
});
