import { Logger } from '@nestjs/common';
import { TaskControl, TaskProducer } from '@conveyor/tasks';
import { DashboardModule } from '@conveyor/dashboard';
import { type HttpTestApp, startHttpApp, stopHttpApps } from '../support/http-app';
import { eventually } from '../support/tasks-app';
import {
  call,
  Charge,
  declined,
  Export,
  HeaderRoleGuard,
  Nightly,
  startDashboardApp,
  TOKEN,
} from './dashboard-app';

describe('@conveyor/dashboard API', () => {
  let app: HttpTestApp | undefined;

  afterEach(async () => {
    jest.restoreAllMocks();
    const stopping = app;
    app = undefined;
    declined.clear();
    await stopHttpApps(stopping);
  });

  it('refuses to start with neither a token nor a guard', () => {
    expect(() => DashboardModule.forRoot({})).toThrow(/give a token or a guard/);
  });

  it('refuses a request without the token, or with a wrong one; serves the page to anyone', async () => {
    app = await startDashboardApp({ token: TOKEN });
    expect((await call(app, 'overview', { token: null })).status).toBe(401);
    expect((await call(app, 'overview', { token: 'not-the-token' })).status).toBe(401);
    expect((await call(app, 'queues/orders/pause', { method: 'POST', token: null })).status).toBe(
      401,
    );
    // An action posted as a form (what another site could make a browser send) is refused.
    const form = await fetch(`${app.url}/conveyor/api/queues/orders/pause`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'a=1',
    });
    expect(form.status).toBe(403);
    const page = await fetch(`${app.url}/conveyor`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(await page.text()).toContain('/conveyor/assets/app.js');
    const script = await fetch(`${app.url}/conveyor/assets/app.js`);
    expect(script.headers.get('content-type')).toContain('javascript');
  });

  it('shows every queue with its counts, dead letters and pause', async () => {
    app = await startDashboardApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    await producer.enqueue(Nightly, { day: '2026-12-01' });
    await producer.enqueue(Nightly, { day: '2026-12-02' }, { delay: '1h' });
    declined.add(9);
    const failing = await producer.enqueue(Charge, { orderId: 9, cents: 100 });
    await eventually(
      async () => (await failing.state()) === 'dead-lettered',
      10_000,
      'a dead letter',
    );
    await app.get(TaskControl).pause('reports');
    const { status, body } = await call(app, 'overview');
    expect(status).toBe(200);
    expect(body.readOnly).toBe(false);
    const byName = Object.fromEntries(body.queues.map((q: any) => [q.queue, q]));
    expect(Object.keys(byName).sort()).toEqual(['default', 'email', 'orders', 'reports']);
    expect(byName.reports).toMatchObject({
      waiting: 1,
      delayed: 1,
      paused: true,
      tasks: [],
    });
    expect(byName.orders).toMatchObject({
      deadLettered: 1,
      paused: false,
      tasks: ['orders.charge', 'orders.export'],
    });
  });

  it('finds jobs by payload field a bounded slice at a time, with a cursor to go on', async () => {
    app = await startDashboardApp({ token: TOKEN, searchScanLimit: 10 });
    const producer = app.get(TaskProducer);
    await app.get(TaskControl).pause('reports');
    const handles = [];
    for (let day = 1; day <= 25; day++) {
      handles.push(await producer.enqueue(Nightly, { day: `d${day}` }));
    }
    // The oldest job: the last one a newest-first read of 25 reaches.
    const first = await call(app, 'jobs?queue=reports&field=day&value=d1');
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ jobs: [], scanned: 10 });
    expect(first.body.cursor).toEqual(expect.any(String));
    let page = first.body;
    const found = [];
    for (let i = 0; i < 5 && page.cursor; i++) {
      page = (await call(app, `jobs?queue=reports&field=day&value=d1&cursor=${page.cursor}`)).body;
      expect(page.scanned).toBeLessThanOrEqual(10);
      found.push(...page.jobs);
    }
    expect(found).toEqual([
      expect.objectContaining({ id: handles[0].id, task: 'reports.nightly', state: 'waiting' }),
    ]);
    expect(page.cursor).toBeNull();

    const byId = await call(app, `jobs?id=${handles[3].id}`);
    expect(byId.body.jobs).toEqual([
      expect.objectContaining({ queue: 'reports', payload: { day: 'd4' } }),
    ]);
    expect((await call(app, 'jobs?queue=nope')).status).toBe(400);
    expect((await call(app, 'jobs?queue=reports&cursor=garbage')).status).toBe(400);
  });

  it('shows a job with each attempt’s error, and retries a dead letter with fresh attempts', async () => {
    app = await startDashboardApp({ token: TOKEN });
    declined.add(5);
    const handle = await app.get(TaskProducer).enqueue(Charge, { orderId: 5, cents: 250 });
    await eventually(
      async () => (await handle.state()) === 'dead-lettered',
      10_000,
      'a dead letter',
    );
    const { body: job } = await call(app, `jobs/orders/${handle.id}`);
    expect(job).toMatchObject({
      id: handle.id,
      task: 'orders.charge',
      state: 'dead-lettered',
      payload: { orderId: 5, cents: 250 },
      attemptsMade: 2,
      maxAttempts: 2,
    });
    expect(job.errors).toHaveLength(2);
    expect(job.errors[1]).toMatchObject({
      attempt: 2,
      name: 'RangeError',
      message: 'card declined for order 5',
    });
    expect(job.errors[1].stack).toContain('charge');
    expect(job.timeline.map((t: any) => t.event)).toEqual(
      expect.arrayContaining(['enqueued', 'dead-lettered']),
    );

    expect((await call(app, 'dead-letters/orders')).body).toMatchObject({ total: 1 });
    declined.clear();
    const logged = jest.spyOn(Logger.prototype, 'log');
    const retried = await call(app, `jobs/orders/${handle.id}/retry`, {
      method: 'POST',
      headers: { 'x-conveyor-user': 'ops-bob' },
    });
    expect(retried).toEqual({ status: 200, body: { replayed: handle.id } });
    expect(logged).toHaveBeenCalledWith(
      `dashboard: retry job {"queue":"orders","id":"${handle.id}"} by ops-bob`,
    );
    await expect(handle.result({ timeout: '10s' })).resolves.toEqual({ charged: 250 });
    const again = await call(app, `jobs/orders/${handle.id}/retry`, { method: 'POST' });
    expect(again.status).toBe(409);
  });

  it('replays and purges dead letters by filter, never on an empty one', async () => {
    app = await startDashboardApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    declined.add(1).add(2).add(3);
    const handles = await Promise.all(
      [1, 2, 3].map((orderId) => producer.enqueue(Charge, { orderId, cents: 1 })),
    );
    await eventually(
      async () => (await call(app!, 'dead-letters/orders')).body.total === 3,
      10_000,
      'three dead letters',
    );
    expect(
      (await call(app, 'dead-letters/orders/replay', { method: 'POST', body: {} })).status,
    ).toBe(400);
    expect(
      (await call(app, 'dead-letters/orders/purge', { method: 'POST', body: { filter: {} } }))
        .status,
    ).toBe(400);

    const listed = await call(app, 'dead-letters/orders?message=order%202');
    expect(listed.body.items.map((l: any) => l.id)).toEqual([handles[1].id]);
    // A page of one match reads on past letters that do not match, and says where it stopped.
    const first = await call(app, 'dead-letters/orders?task=orders.charge&limit=1');
    const second = await call(
      app,
      `dead-letters/orders?task=orders.charge&limit=1&offset=${first.body.nextOffset}`,
    );
    expect(first.body.nextOffset).toBe(1);
    expect(second.body.items[0].id).not.toBe(first.body.items[0].id);
    const onlyOld = await call(app, `dead-letters/orders?message=order%201&limit=5`);
    expect(onlyOld.body).toMatchObject({ total: 3, nextOffset: null });
    expect(onlyOld.body.items.map((l: any) => l.id)).toEqual([handles[0].id]);
    const purged = await call(app, 'dead-letters/orders/purge', {
      method: 'POST',
      body: { filter: { message: 'order 2' } },
    });
    expect(purged.body).toEqual({ purged: 1 });
    declined.clear();
    const replayed = await call(app, 'dead-letters/orders/replay', {
      method: 'POST',
      body: { all: true },
    });
    expect(replayed.body.replayed.sort()).toEqual([handles[0].id, handles[2].id].sort());
    await expect(handles[0].result({ timeout: '10s' })).resolves.toEqual({ charged: 1 });
  });

  it('pauses and resumes a queue, promotes a delayed job and cancels a waiting one', async () => {
    app = await startDashboardApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    const control = app.get(TaskControl);
    expect((await call(app, 'queues/reports/pause', { method: 'POST' })).body).toEqual({
      queue: 'reports',
      paused: true,
    });
    expect(await control.isPaused('reports')).toBe(true);
    expect((await call(app, 'queues/reports/resume', { method: 'POST' })).body).toEqual({
      queue: 'reports',
      paused: false,
    });
    expect(await control.isPaused('reports')).toBe(false);

    const delayed = await producer.enqueue(Nightly, { day: 'later' }, { delay: '1h' });
    expect((await call(app, `jobs/reports/${delayed.id}/promote`, { method: 'POST' })).status).toBe(
      200,
    );
    expect(await delayed.state()).toBe('waiting');
    expect((await call(app, `jobs/reports/${delayed.id}/promote`, { method: 'POST' })).status).toBe(
      409,
    );

    const cancelled = await call(app, `jobs/reports/${delayed.id}/cancel`, { method: 'POST' });
    expect(cancelled.body).toEqual({ outcome: expect.any(String) });
    expect(await delayed.state()).toBe('cancelled');
    expect(await call(app, `jobs/reports/${delayed.id}`)).toMatchObject({
      status: 404,
      body: { message: expect.stringMatching(/was cancelled/) },
    });
    expect((await call(app, 'jobs/reports/no-such-job')).body.message).toMatch(/no job/);
  });

  it('cancels a running job: its handler is told to stop, and it is neither retried nor dead-lettered', async () => {
    app = await startDashboardApp({ token: TOKEN });
    const running = await app.get(TaskProducer).enqueue(Export, { orderId: 11 });
    await eventually(async () => (await running.state()) === 'active', 10_000, 'an active job');
    const cancelled = await call(app, `jobs/orders/${running.id}/cancel`, { method: 'POST' });
    expect(cancelled.body).toEqual({ outcome: 'signalled' });
    await eventually(async () => (await running.state()) === 'cancelled', 10_000, 'cancelled');
    expect((await call(app, 'dead-letters/orders')).body.total).toBe(0);
  });

  it('answers every action with 403 in read-only mode, and still shows everything', async () => {
    app = await startDashboardApp({ token: TOKEN, readOnly: true });
    const handle = await app.get(TaskProducer).enqueue(Nightly, { day: 'x' }, { delay: '1h' });
    expect((await call(app, 'overview')).body.readOnly).toBe(true);
    expect((await call(app, `jobs/reports/${handle.id}`)).status).toBe(200);
    for (const path of [
      'queues/reports/pause',
      `jobs/reports/${handle.id}/promote`,
      `jobs/reports/${handle.id}/cancel`,
      `jobs/reports/${handle.id}/retry`,
      `dead-letters/reports/${handle.id}/replay`,
      'dead-letters/reports/purge',
    ]) {
      const answer = await call(app, path, { method: 'POST', body: { all: true } });
      expect({ path, status: answer.status }).toEqual({ path, status: 403 });
    }
    expect(await app.get(TaskControl).isPaused('reports')).toBe(false);
    expect(await handle.state()).toBe('delayed');
  });

  it('takes its options from a factory, and fails at startup when they give no token', async () => {
    app = await startHttpApp({
      imports: [
        DashboardModule.forRootAsync({ useFactory: () => ({ token: TOKEN, readOnly: true }) }),
      ],
    });
    expect((await call(app, 'overview')).body.readOnly).toBe(true);
    expect((await call(app, 'overview', { token: null })).status).toBe(401);
    await expect(
      startHttpApp({ imports: [DashboardModule.forRootAsync({ useFactory: () => ({}) })] }),
    ).rejects.toThrow(/give a token or a guard/);
  });

  it('creates a guard the app does not provide', async () => {
    app = await startDashboardApp({ guard: HeaderRoleGuard });
    expect((await call(app, 'overview', { token: null })).status).toBe(401);
    const allowed = await call(app, 'overview', {
      token: null,
      headers: { 'x-test-role': 'admin' },
    });
    expect(allowed.status).toBe(200);
  });

  it("lets the app's guard decide, under the configured path", async () => {
    app = await startDashboardApp(
      { guard: HeaderRoleGuard, path: '/ops/queues/' },
      { providers: [HeaderRoleGuard] },
    );
    const url = `${app.url}/ops/queues/api/overview`;
    expect((await fetch(url)).status).toBe(401);
    const allowed = await fetch(url, { headers: { 'x-test-role': 'admin' } });
    expect(allowed.status).toBe(200);
    expect((await fetch(`${app.url}/conveyor/api/overview`)).status).toBe(404);
  });
});
