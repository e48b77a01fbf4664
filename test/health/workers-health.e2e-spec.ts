import { Injectable } from '@nestjs/common';
import { defineTask, Task, TaskControl, TaskProducer, Workers } from '@conveyor/tasks';
import { HealthModule } from '@conveyor/health';
import { get, type HttpTestApp, startHttpApp, stopHttpApps } from '../support/http-app';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Echo = defineTask<{ n: number }, number>('health.workers.echo', { queue: 'work' });

@Injectable()
class EchoTasks {
  @Task(Echo)
  echo({ n }: { n: number }): number {
    return n;
  }
}

interface Body {
  status: string;
  info?: Record<string, { queues?: Record<string, Record<string, unknown>> }>;
  error?: Record<string, { queues?: Record<string, Record<string, unknown>> }>;
}

async function ready(app: HttpTestApp): Promise<{ status: number; body: Body }> {
  const response = await get(`${app.url}/health/ready`);
  return { status: response.status, body: JSON.parse(response.text) as Body };
}

describe('GET /health/ready and live workers', () => {
  let api: HttpTestApp | undefined;
  let worker: TestApp | undefined;
  afterEach(async () => {
    const [a, w] = [api, worker];
    api = worker = undefined;
    await stopAll(w);
    await stopHttpApps(a);
  });

  it('is down for a queue with jobs waiting and no live worker, up once a worker is live', async () => {
    // An API process: it has the handler (the same build as the workers) but runs no worker.
    api = await startHttpApp({
      tasks: { workers: 'none', queues: { work: {} } },
      imports: [HealthModule.forRoot()],
      providers: [EchoTasks],
    });
    // Paused, so the job stays waiting whoever consumes the queue: only the worker count moves.
    await api.get(TaskControl).pause('work');
    await api.get(TaskProducer).enqueue(Echo, { n: 1 });

    const down = await ready(api);
    expect(down.status).toBe(503);
    expect(down.body.error!.queues.queues!.work).toEqual({
      waiting: 1,
      oldestWaitingAgeMs: expect.any(Number),
      workers: 0,
      problem: '1 jobs waiting and no live worker process consumes the queue',
    });

    worker = await startTasksApp([EchoTasks], {
      prefix: api.prefix,
      queues: { work: {} },
      // A long TTL: a beat late under load must not drop it between the two reads below.
      heartbeat: { interval: '250ms', ttl: '30s' },
    });
    await eventually(async () => (await api!.get(Workers).list()).length === 1, 10_000, 'listed');
    const up = await ready(api);
    expect(up.status).toBe(200);
    expect(up.body.info!.queues.queues!.work).toMatchObject({ waiting: 1, workers: 1 });
  });

  it('reports the counts but stays up with requireWorkers: false', async () => {
    api = await startHttpApp({
      tasks: { workers: 'none', queues: { work: {} } },
      imports: [HealthModule.forRoot({ requireWorkers: false })],
      providers: [EchoTasks],
    });
    await api.get(TaskControl).pause('work');
    await api.get(TaskProducer).enqueue(Echo, { n: 1 });
    const { status, body } = await ready(api);
    expect(status).toBe(200);
    expect(body.info!.queues.queues!.work).toMatchObject({ waiting: 1, workers: 0 });
  });
});
