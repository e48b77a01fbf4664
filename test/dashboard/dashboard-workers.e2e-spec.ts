import { hostname } from 'node:os';
import { TaskProducer } from '@conveyor/tasks';
import { type HttpTestApp, stopHttpApps } from '../support/http-app';
import { eventually } from '../support/tasks-app';
import { call, TOKEN } from './dashboard-app';
import { Hold, Import, startOpsApp } from './ops-app';

describe('@conveyor/dashboard API: workers', () => {
  let app: HttpTestApp | undefined;
  let hold: Hold;

  beforeEach(() => {
    hold = new Hold();
  });

  afterEach(async () => {
    hold.let();
    const stopping = app;
    app = undefined;
    await stopHttpApps(stopping);
  });

  it('lists the live worker processes with their queues and running jobs, and counts per queue', async () => {
    app = await startOpsApp({ token: TOKEN, readOnly: true }, hold);
    const handle = await app.get(TaskProducer).enqueue(Import, { tenant: 'acme', n: 1 });
    const { body } = (await eventually(
      async () => {
        const answer = await call(app!, 'workers');
        return answer.body.workers[0]?.running.length === 1 ? answer : undefined;
      },
      15_000,
      'the worker to report its running job',
    ))!;
    expect(body.workers).toHaveLength(1);
    const [worker] = body.workers;
    expect(worker).toMatchObject({
      host: hostname(),
      pid: process.pid,
      version: expect.stringMatching(/^\d+\.\d+\.\d+/),
      stopping: false,
      running: [
        expect.objectContaining({ jobId: handle.id, task: 'tenant.import', queue: 'imports' }),
      ],
    });
    expect(Date.parse(worker.startedAt)).not.toBeNaN();
    expect(Date.parse(worker.lastSeenAt)).not.toBeNaN();
    expect(
      worker.queues.map((q: { name: string; concurrency: number }) => [q.name, q.concurrency]),
    ).toEqual(
      expect.arrayContaining([
        ['imports', 10],
        ['mail', 3],
      ]),
    );

    const byQueue = await call(app, 'workers?by=queue');
    expect(byQueue.status).toBe(200);
    const rows = Object.fromEntries(
      byQueue.body.queues.map((q: { queue: string }) => [q.queue, q]),
    );
    expect(rows.imports).toEqual({
      queue: 'imports',
      workers: 1,
      stopping: 0,
      concurrency: 10,
      running: 1,
    });
    expect(rows.mail).toMatchObject({ workers: 1, concurrency: 3, running: 0 });
    // A queue this app knows that no process consumes: listed, with no worker.
    expect(rows.default).toMatchObject({ workers: 0, concurrency: 0 });
    expect((await call(app, 'workers?by=host')).status).toBe(400);
  });
});
