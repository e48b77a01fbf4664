import { Job as BullJob } from 'bullmq';
import { closeRawQueue, countJobs, rawQueue } from '../support/redis';
import { eventually } from '../support/tasks-app';
import { type SampleApp, startSampleApp, withPg } from '../support/sample-app';

const ORDER = {
  customerEmail: 'ada@example.com',
  items: [{ sku: 'A-1', quantity: 2 }],
  amountCents: 2500,
};
type Job = { task: string; jobId: string; state: string };

describe.each(['pglite', 'postgres'] as const)('sample app on %s', (database) => {
  let app: SampleApp;
  beforeAll(async () => {
    app = await startSampleApp({ database });
  }, 60_000);
  afterAll(() => app?.stop());

  const jobCount = () => countJobs(app.prefix, ['email', 'payments', 'default', 'reports']);

  const jobsOf = (id: string, until: (jobs: Job[]) => boolean) => orderJobs(app, id, until);

  it('creates an order whose jobs (email, payment, two subscribers) all complete', async () => {
    const created = await app.request('POST', '/orders', ORDER);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      id: expect.any(String),
      customerEmail: 'ada@example.com',
      amountCents: 2500,
    });
    const jobs = await jobsOf(created.body.id, (all) =>
      all.every((job) => job.state === 'completed'),
    );
    expect(jobs.map((job) => job.task).sort()).toEqual([
      'email.send-confirmation',
      'inventory.reserve',
      'payment.charge',
      'search.index',
    ]);
  });

  it('answers 400 with the field errors for an invalid body, and creates nothing', async () => {
    const jobsBefore = await jobCount();
    const response = await app.request('POST', '/orders', {
      customerEmail: 'nope',
      items: [],
      amountCents: 0,
    });
    expect(response.status).toBe(400);
    expect(response.body.errors).toEqual([
      { field: 'customerEmail', problem: expect.any(String) },
      { field: 'items', problem: expect.any(String) },
      { field: 'amountCents', problem: expect.any(String) },
    ]);
    // The relay claims pending rows in id order: once a valid order committed after this
    // request has its jobs, any row the invalid one had left would have been published too.
    const valid = await app.request('POST', '/orders', ORDER);
    expect(valid.status).toBe(201);
    const validJobs = await jobsOf(valid.body.id, (all) =>
      all.every((job) => job.state === 'completed'),
    );
    expect(validJobs).toHaveLength(4);
    expect(await jobCount()).toBe(jobsBefore + validJobs.length);
    if (database === 'postgres') {
      const schema = `sample_${app.prefix.replace(/-/g, '_')}`;
      const rows = await withPg((pg) =>
        pg.query(`SELECT count(*)::int AS n FROM ${schema}.orders WHERE customer_email = 'nope'`),
      );
      expect(rows.rows[0].n).toBe(0);
    }
  });

  it('dead-letters a payment that fails for good, and replays it from the admin API after the fix', async () => {
    const created = await app.request('POST', '/orders', { ...ORDER, amountCents: 250_000 });
    const jobs = await jobsOf(created.body.id, (all) =>
      all.some((job) => job.state === 'dead-lettered'),
    );
    const payment = jobs.find((job) => job.task === 'payment.charge')!;
    expect(payment.state).toBe('dead-lettered');

    const token = 'test-admin-token';
    const letters = await app.request('GET', '/admin/dead-letters/payments', undefined, token);
    expect(letters.body).toEqual([
      expect.objectContaining({
        id: payment.jobId,
        taskName: 'payment.charge',
        error: expect.objectContaining({
          name: 'UnrecoverableTaskError',
          message: expect.stringContaining('over the account limit'),
        }),
      }),
    ]);
    expect(
      (await app.request('PUT', '/admin/payment-limit', { limitCents: 1_000_000 }, token)).status,
    ).toBe(200);
    const replay = await app.request(
      'POST',
      `/admin/dead-letters/payments/${payment.jobId}/replay`,
      undefined,
      token,
    );
    expect(replay).toMatchObject({ status: 201, body: { replayed: payment.jobId } });
    await jobsOf(created.body.id, (all) => all.every((job) => job.state === 'completed'));
    expect(
      (await app.request('GET', '/admin/dead-letters', undefined, token)).body.queues.payments,
    ).toBe(0);
  });

  it("waits out the payment provider's Retry-After without spending an attempt", async () => {
    const token = 'test-admin-token';
    const throttle = { charges: 1, retryAfterSeconds: 3600 };
    expect((await app.request('PUT', '/admin/payment-throttle', throttle, token)).status).toBe(200);
    const created = await app.request('POST', '/orders', ORDER);
    const jobs = await jobsOf(created.body.id, (all) =>
      all.some((job) => job.task === 'payment.charge' && job.state === 'delayed'),
    );
    const payment = jobs.find((job) => job.task === 'payment.charge')!;
    const [job] = await withRawJob(app.prefix, 'payments', payment.jobId);
    // BullMQ records the move's time less its own now, a moment later: a hair under an hour.
    expect(job).toMatchObject({ attemptsMade: 0 });
    expect(job!.delay).toBeLessThanOrEqual(3_600_000);
    expect(job!.delay).toBeGreaterThan(3_599_000);
  });

  it('refuses admin requests without the token', async () => {
    expect((await app.request('GET', '/admin/dead-letters')).status).toBe(401);
    expect((await app.request('GET', '/admin/dead-letters', undefined, 'wrong')).status).toBe(401);
  });

  it('answers 404 for an unknown order and 400 for a malformed id', async () => {
    expect((await app.request('GET', '/orders/6f1c4c59-4a4e-4c39-9d5a-2d3f0f7e8a11')).status).toBe(
      404,
    );
    expect((await app.request('GET', '/orders/not-a-uuid')).status).toBe(400);
  });
});

describe('sample app without ADMIN_TOKEN', () => {
  it('refuses every admin request', async () => {
    const app = await startSampleApp({ database: 'pglite', env: { ADMIN_TOKEN: '' } });
    try {
      const response = await app.request('GET', '/admin/dead-letters', undefined, '');
      expect(response.status).toBe(401);
      expect(response.body.message).toMatch(/ADMIN_TOKEN is not set/);
    } finally {
      await app.stop();
    }
  }, 60_000);
});

describe('sample app reports', () => {
  let app: SampleApp;
  beforeAll(async () => {
    app = await startSampleApp({ database: 'pglite' });
  }, 60_000);
  afterAll(() => app?.stop());

  it('declares the nightly report on a cron schedule, with its next run', async () => {
    const { status, body } = await app.request(
      'GET',
      '/admin/schedules',
      undefined,
      'test-admin-token',
    );
    expect(status).toBe(200);
    expect(body).toEqual([
      expect.objectContaining({
        id: 'conveyor.reports.nightly',
        taskName: 'reports.nightly',
        cron: '0 2 * * *',
      }),
    ]);
    expect(new Date(body[0].nextRunAt).getUTCHours()).toBe(2);
  });

  it('fans out per region and aggregates with a chord', async () => {
    for (const amountCents of [1000, 2000, 3000]) {
      expect((await app.request('POST', '/orders', { ...ORDER, amountCents })).status).toBe(201);
    }
    const { status, body } = await app.request(
      'POST',
      '/admin/reports/summary',
      undefined,
      'test-admin-token',
    );
    expect(status).toBe(201);
    expect(body).toEqual({ regions: 3, orders: 3, revenueCents: 6000 });
    // The 'reports.**' route, not the definitions, puts the chord's steps on 'reports'.
    const raw = rawQueue(app.prefix, 'reports');
    try {
      const done = await raw.getJobs(['completed']);
      expect(done.map((job) => job.name).sort()).toEqual([
        'reports.region-totals',
        'reports.region-totals',
        'reports.region-totals',
        'reports.summarize',
      ]);
    } finally {
      await closeRawQueue(raw);
    }
  });
});

describe('sample app operations routes', () => {
  let app: SampleApp;
  beforeAll(async () => {
    app = await startSampleApp({ database: 'pglite' });
  }, 60_000);
  afterAll(() => app?.stop());
  const jobsOf = (id: string, until: (jobs: Job[]) => boolean) => orderJobs(app, id, until);

  it('answers health: live and ready', async () => {
    expect((await app.request('GET', '/health/live')).status).toBe(200);
    const ready = await app.request('GET', '/health/ready');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('ok');
  });

  it('serves Prometheus metrics that count the tasks it ran', async () => {
    const created = await app.request('POST', '/orders', ORDER);
    expect(created.status).toBe(201);
    await eventually(
      async () => {
        const { body } = await app.request('GET', '/metrics');
        return /conveyor_tasks_succeeded_total\{[^}]*task="payment\.charge"[^}]*\} 1/.test(
          String(body),
        );
      },
      20_000,
      'the payment to be counted',
    );
  });

  it('stops sending mail during a provider outage: the circuit breaker opens and confirmations wait, then go', async () => {
    const token = 'test-admin-token';
    expect((await app.request('PUT', '/admin/mail-outage', { down: true }, token)).status).toBe(
      200,
    );
    const orders = [];
    for (let i = 0; i < 4; i++) orders.push((await app.request('POST', '/orders', ORDER)).body.id);
    // Each confirmation retries; 10 failed sends within a minute open the breaker.
    const opened = await eventually(
      async () => {
        const { body } = await app.request('GET', '/admin/circuit-breakers', undefined, token);
        return body[0]?.state === 'open' ? body[0] : undefined;
      },
      60_000,
      'the mail breaker to open',
    );
    expect(opened).toMatchObject({ name: 'mail-provider', tasks: ['email.send-confirmation'] });
    // The orders themselves were taken: the outage only holds their e-mails back.
    for (const id of orders) {
      const jobs = await jobsOf(id, (all) => all.some((j) => j.task === 'payment.charge'));
      expect(jobs.find((j) => j.task === 'email.send-confirmation')?.state).not.toBe('completed');
    }
    const ready = await app.request('GET', '/health/ready');
    expect(ready.body.info.controls.circuitBreakers).toEqual({ 'mail-provider': 'open' });

    // The provider is back; an operator closes the breaker rather than wait for the probe.
    await app.request('PUT', '/admin/mail-outage', { down: false }, token);
    const closed = await app.request(
      'POST',
      '/admin/circuit-breakers/mail-provider/close',
      undefined,
      token,
    );
    expect(closed.body).toMatchObject({ state: 'closed', manual: true });
    for (const id of orders) {
      await jobsOf(id, (all) =>
        all.some((j) => j.task === 'email.send-confirmation' && j.state === 'completed'),
      );
    }
  }, 90_000);

  it('runs a large order as a saga: it waits for approval, then charges and confirms', async () => {
    const token = 'test-admin-token';
    await app.request('PUT', '/admin/payment-limit', { limitCents: 10_000_000 }, token);
    const created = await app.request('POST', '/orders', { ...ORDER, amountCents: 600_000 });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    // Stock held, then the saga waits for an admin: no charge without approval.
    const waiting = await eventually(
      async () => {
        const { body } = await app.request('GET', `/orders/${id}`);
        return body.fulfilment?.current?.signal === 'approval' ? body : undefined;
      },
      30_000,
      'the saga to wait for approval',
    );
    expect(waiting.fulfilment.status).toBe('running');
    expect(waiting.fulfilment.history[0]).toMatchObject({ task: 'stock.reserve', state: 'ok' });

    const approved = await app.request('POST', `/admin/orders/${id}/approve`, { by: 'ada' }, token);
    expect(approved).toMatchObject({ status: 201, body: { signal: 'delivered' } });
    const done = await eventually(
      async () => {
        const { body } = await app.request('GET', `/orders/${id}`);
        return body.fulfilment?.status === 'completed' ? body : undefined;
      },
      30_000,
      'the saga to complete',
    );
    expect(
      done.fulfilment.history.map((e: { task?: string; signal?: string }) => e.task ?? e.signal),
    ).toEqual(['stock.reserve', 'approval', 'payment.charge', 'email.send-confirmation']);
  }, 60_000);

  it("undoes a large order's saga when an admin refuses it: the stock held is released", async () => {
    const token = 'test-admin-token';
    const created = await app.request('POST', '/orders', { ...ORDER, amountCents: 700_000 });
    const id = created.body.id as string;
    await eventually(
      async () =>
        (await app.request('GET', `/orders/${id}`)).body.fulfilment?.current?.signal === 'approval',
      30_000,
      'the saga to wait for approval',
    );
    await app.request('POST', `/admin/orders/${id}/reject`, { by: 'grace' }, token);
    const undone = await eventually(
      async () => {
        const { body } = await app.request('GET', `/orders/${id}`);
        return body.fulfilment?.status === 'compensated' ? body : undefined;
      },
      30_000,
      'the saga to be compensated',
    );
    expect(undone.fulfilment.error.message).toMatch(/refused by grace/);
    expect(
      undone.fulfilment.history.filter((e: { kind: string }) => e.kind === 'compensation'),
    ).toEqual([expect.objectContaining({ task: 'stock.release', state: 'ok' })]);
    const bad = await app.request('POST', '/admin/orders/not-a-uuid/approve', { by: 'x' }, token);
    expect(bad.status).toBe(400);
  }, 60_000);

  it('pauses one task at run time from the admin API and lists it among the limits', async () => {
    const token = 'test-admin-token';
    const paused = await app.request('POST', '/admin/tasks/search.index/pause', undefined, token);
    expect(paused).toMatchObject({ status: 201, body: { task: 'search.index', paused: true } });
    const limits = await app.request('GET', '/admin/limits', undefined, token);
    expect(limits.body.flatMap((q: { tasks: unknown[] }) => q.tasks)).toContainEqual(
      expect.objectContaining({ task: 'search.index', paused: true }),
    );
    const unknown = await app.request('POST', '/admin/tasks/search.indx/pause', undefined, token);
    expect(unknown).toMatchObject({ status: 400, body: { error: 'InvalidTaskOptionsError' } });
    await app.request('POST', '/admin/tasks/search.index/resume', undefined, token);
  });
});

/** The jobs of order `id` once `until` holds for them. */
function orderJobs(app: SampleApp, id: string, until: (jobs: Job[]) => boolean): Promise<Job[]> {
  return eventually<Job[] | undefined>(
    async () => {
      const { body } = await app.request('GET', `/orders/${id}`);
      return until(body.jobs) ? (body.jobs as Job[]) : undefined;
    },
    30_000,
    `the jobs of order ${id}`,
  ) as Promise<Job[]>;
}

/** A job as Redis holds it. */
async function withRawJob(prefix: string, queue: string, id: string) {
  const raw = rawQueue(prefix, queue);
  try {
    return [await BullJob.fromId(raw, id)];
  } finally {
    await closeRawQueue(raw);
  }
}
