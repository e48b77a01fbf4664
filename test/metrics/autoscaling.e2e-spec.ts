import { Injectable } from '@nestjs/common';
import { defineTask, Task, TaskControl, TaskProducer, Workers } from '@conveyor/tasks';
import { MetricsModule } from '@conveyor/metrics';
import { Registry } from 'prom-client';
import {
  get,
  type HttpTestApp,
  parsePrometheus,
  sample,
  startHttpApp,
  stopHttpApps,
} from '../support/http-app';
import { eventually } from '../support/tasks-app';

const Work = defineTask<{ n: number }, number>('metrics.scaling.work', { queue: 'work' });

@Injectable()
class WorkTasks {
  @Task(Work)
  async work({ n }: { n: number }): Promise<number> {
    await new Promise((resolve) => setTimeout(resolve, 50));
    return n;
  }
}

describe('autoscaling gauges', () => {
  let app: HttpTestApp | undefined;
  afterEach(async () => {
    const stopping = app;
    app = undefined;
    await stopHttpApps(stopping);
  });

  it('reports live workers, run time and the desired pool for a backlog', async () => {
    app = await startHttpApp({
      tasks: { queues: { work: { concurrency: 2 } }, heartbeat: { interval: '200ms', ttl: '30s' } },
      imports: [
        MetricsModule.forRoot({ registry: new Registry(), autoscaling: { drainTarget: '1s' } }),
      ],
      providers: [WorkTasks],
    });
    const producer = app.get(TaskProducer);
    const handles = await producer.enqueueMany(
      Work,
      [1, 2, 3, 4].map((n) => ({ n })),
    );
    await Promise.all(handles.map((handle) => handle.result({ timeout: '10s' })));
    // The next heartbeats carry the finished runs.
    await eventually(
      async () => (await app!.get(Workers).list())[0]?.queues[0]?.finished === 4,
      10_000,
      'the runs in the registry',
    );
    // A backlog the worker cannot touch: 40 jobs of ~50 ms to drain within 1 s.
    await app.get(TaskControl).pause('work');
    await producer.enqueueMany(
      Work,
      Array.from({ length: 40 }, (_, n) => ({ n })),
    );

    const samples = parsePrometheus((await get(`${app.url}/metrics`)).text);
    const work = { queue: 'work' };
    expect(sample(samples, 'conveyor_queue_workers', work)).toBe(1);
    const runSeconds = sample(samples, 'conveyor_queue_run_seconds', work)!;
    expect(runSeconds).toBeGreaterThanOrEqual(0.04);
    const concurrency = sample(samples, 'conveyor_queue_desired_concurrency', work)!;
    const workers = sample(samples, 'conveyor_queue_desired_workers', work)!;
    // B·W/T alone is 40 × W / 1 s ≥ 1.6 slots; the arrivals add to it.
    expect(concurrency).toBeGreaterThanOrEqual(Math.floor(40 * runSeconds));
    expect(workers).toBe(Math.ceil(concurrency / 2));
    expect(workers).toBeGreaterThanOrEqual(1);
    expect(sample(samples, 'conveyor_queue_arrivals_per_second', work)).toBeGreaterThan(0);
  });
});
