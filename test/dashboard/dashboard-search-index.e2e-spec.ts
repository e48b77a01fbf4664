import { ConveyorQueues, TaskProducer } from '@conveyor/tasks';
import { Redis } from 'ioredis';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { REDIS_URL } from '../support/redis';
import { call, Charge, startDashboardApp, TOKEN } from './dashboard-app';

describe('@conveyor/dashboard: search by an indexed payload field', () => {
  let app: HttpTestApp | undefined;
  let redis: Redis;

  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterEach(async () => {
    const stopping = app;
    app = undefined;
    await stopHttpApps(stopping);
  });
  afterAll(() => redis.quit());

  it('finds the oldest of many jobs with one index read, where a bounded scan would need pages', async () => {
    app = await startDashboardApp({ token: TOKEN, searchScanLimit: 10 });
    const producer = app.get(TaskProducer);
    const handles = await producer.enqueueMany(
      Charge,
      Array.from({ length: 30 }, (_, i) => ({ orderId: i + 1, cents: 100 })),
    );
    await Promise.all(handles.map((handle) => handle.result({ timeout: 10_000 })));
    const again = await producer.enqueue(Charge, { orderId: 1, cents: 200 });
    await again.result({ timeout: 10_000 });

    const { status, body } = await call(app, 'jobs?queue=orders&field=orderId&value=1');
    expect(status).toBe(200);
    // The index is read to its end: the cursor goes on with the bounded scan.
    expect(body).toMatchObject({ indexed: true, cursor: '0.0' });
    // Newest first: both charges of order 1, and nothing else.
    expect(body.jobs.map((job: any) => [job.id, job.state, job.payload.cents])).toEqual([
      [again.id, 'completed', 200],
      [handles[0].id, 'completed', 100],
    ]);
    expect(body.scanned).toBe(2);

    // Filters still apply; a value nobody has finds nothing at once.
    const waiting = await call(app, 'jobs?queue=orders&field=orderId&value=1&state=waiting');
    expect(waiting.body).toMatchObject({ jobs: [], indexed: true });
    const none = await call(app, 'jobs?queue=orders&field=orderId&value=999');
    expect(none.body).toMatchObject({ jobs: [], indexed: true, scanned: 0, cursor: '0.0' });
    // A field no task of the queue indexes goes through the bounded scan.
    const scan = await call(app, 'jobs?queue=orders&field=cents&value=200');
    expect(scan.body.indexed).toBeUndefined();
    expect(scan.body.scanned).toBeLessThanOrEqual(10);
  });

  it('goes on with the bounded scan for a job the index does not hold', async () => {
    app = await startDashboardApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    const indexed = await producer.enqueue(Charge, { orderId: 5, cents: 100 });
    const missing = await producer.enqueue(Charge, { orderId: 5, cents: 200 });
    await Promise.all([indexed, missing].map((handle) => handle.result({ timeout: 10_000 })));
    // As after a failed index write, or for a job enqueued before orderId was searchable.
    const key = `${app.get(ConveyorQueues).keys.queueKey('orders')}cv:idx:orderId=5`;
    await redis.zrem(key, missing.id);

    const first = await call(app, 'jobs?queue=orders&field=orderId&value=5');
    expect(first.body.jobs.map((job: any) => job.id)).toEqual([indexed.id]);
    expect(first.body).toMatchObject({ indexed: true, cursor: '0.0' });
    const found: string[] = [];
    let cursor = first.body.cursor;
    for (let i = 0; i < 10 && cursor; i++) {
      const page = await call(app, `jobs?queue=orders&field=orderId&value=5&cursor=${cursor}`);
      expect(page.body.indexed).toBeUndefined();
      found.push(...page.body.jobs.map((job: any) => job.id));
      cursor = page.body.cursor;
    }
    // The scan finds both; the page shows the indexed one once.
    expect(found.sort()).toEqual([indexed.id, missing.id].sort());
  });

  it('drops from the index a job that is gone, when a search meets it', async () => {
    app = await startDashboardApp({ token: TOKEN });
    const producer = app.get(TaskProducer);
    const handle = await producer.enqueue(Charge, { orderId: 77, cents: 100 });
    await handle.result({ timeout: 10_000 });
    const queue = app.get(ConveyorQueues).queue('orders');
    await queue.remove(handle.id);
    const { body } = await call(app, 'jobs?queue=orders&field=orderId&value=77');
    expect(body).toMatchObject({ jobs: [], indexed: true });
    const key = `${app.get(ConveyorQueues).keys.queueKey('orders')}cv:idx:orderId=77`;
    expect(await redis.zscore(key, handle.id)).toBeNull();
  });
});
