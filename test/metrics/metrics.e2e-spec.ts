import { Injectable } from '@nestjs/common';
import {
  CircuitBreakers,
  defineTask,
  Task,
  type TaskContext,
  TaskControl,
  TaskProducer,
} from '@conveyor/tasks';
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

const Ok = defineTask<{ n: number }, number>('metrics.ok', { queue: 'work' });
const Flaky = defineTask<{ n: number }, string>('metrics.flaky', {
  queue: 'work',
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
});
const Doomed = defineTask<{ n: number }, void>('metrics.doomed', { queue: 'work', attempts: 1 });
// No handler in this app: its jobs wait, which the gauges must show.
const Parked = defineTask<{ n: number }, void>('metrics.parked', { queue: 'parked' });

@Injectable()
class MetricTasks {
  @Task(Ok)
  ok({ n }: { n: number }): number {
    return n * 2;
  }

  @Task(Flaky)
  flaky(_: { n: number }, ctx: TaskContext): string {
    if (ctx.attempt === 1) throw new Error('first attempt fails');
    return 'ok';
  }

  @Task(Doomed)
  doomed(): void {
    throw new Error('always fails');
  }
}

describe('GET /metrics', () => {
  let app: HttpTestApp;
  let registry: Registry;

  beforeEach(async () => {
    registry = new Registry();
    app = await startHttpApp({
      // Gauges cover the queues the app declares or handles.
      tasks: { queues: { work: { concurrency: 2 }, parked: {} } },
      imports: [MetricsModule.forRoot({ registry })],
      providers: [MetricTasks],
    });
  });
  afterEach(() => stopHttpApps(app));

  it('counts runs by task and queue, and reads queue gauges at scrape time', async () => {
    const producer = app.get(TaskProducer);
    const oks = await producer.enqueueMany(Ok, [{ n: 1 }, { n: 2 }, { n: 3 }]);
    const flaky = await producer.enqueue(Flaky, { n: 1 });
    const doomed = await producer.enqueue(Doomed, { n: 1 });
    await producer.enqueue(Ok, { n: 4 }, { delay: '1h' });
    await producer.enqueue(Parked, { n: 1 });
    await producer.enqueue(Parked, { n: 2 });
    await Promise.all([...oks, flaky].map((h) => h.result({ timeout: '20s' })));
    await expect(doomed.result({ timeout: '20s' })).rejects.toThrow('always fails');

    // The dead-letter counter moves after the job's final failure is recorded.
    const samples = (await eventually(
      async () => {
        const response = await get(`${app.url}/metrics`);
        expect(response.status).toBe(200);
        const parsed = parsePrometheus(response.text);
        const dead = sample(parsed, 'conveyor_tasks_dead_lettered_total', { task: Doomed.name });
        return dead === 1 ? parsed : undefined;
      },
      20_000,
      'the dead letter to be counted',
    ))!;

    const of = (task: string, queue = 'work') => ({ task, queue });
    expect(sample(samples, 'conveyor_tasks_enqueued_total', of(Ok.name))).toBe(4);
    expect(sample(samples, 'conveyor_tasks_enqueued_total', of(Parked.name, 'parked'))).toBe(2);
    expect(sample(samples, 'conveyor_tasks_started_total', of(Ok.name))).toBe(3);
    expect(sample(samples, 'conveyor_tasks_succeeded_total', of(Ok.name))).toBe(3);
    expect(sample(samples, 'conveyor_tasks_started_total', of(Flaky.name))).toBe(2);
    expect(sample(samples, 'conveyor_tasks_failed_total', of(Flaky.name))).toBe(1);
    expect(sample(samples, 'conveyor_tasks_retried_total', of(Flaky.name))).toBe(1);
    expect(sample(samples, 'conveyor_tasks_succeeded_total', of(Flaky.name))).toBe(1);
    expect(sample(samples, 'conveyor_tasks_failed_total', of(Doomed.name))).toBe(1);
    expect(sample(samples, 'conveyor_tasks_retried_total', of(Doomed.name)) ?? 0).toBe(0);
    expect(sample(samples, 'conveyor_task_run_duration_seconds_count', of(Ok.name))).toBe(3);
    expect(sample(samples, 'conveyor_task_run_duration_seconds_count', of(Flaky.name))).toBe(2);
    // Wait is measured once per job, on its first attempt.
    expect(sample(samples, 'conveyor_task_wait_duration_seconds_count', of(Flaky.name))).toBe(1);

    const jobs = (queue: string, state: string) =>
      sample(samples, 'conveyor_queue_jobs', { queue, state });
    expect(jobs('work', 'completed')).toBe(4);
    expect(jobs('work', 'failed')).toBe(1);
    expect(jobs('work', 'delayed')).toBe(1);
    expect(jobs('work', 'active')).toBe(0);
    expect(jobs('parked', 'waiting')).toBe(2);
    expect(sample(samples, 'conveyor_dead_letters', { queue: 'work' })).toBe(1);
    expect(
      sample(samples, 'conveyor_queue_oldest_waiting_age_seconds', { queue: 'parked' }),
    ).toBeGreaterThan(0);
    expect(sample(samples, 'conveyor_queue_oldest_waiting_age_seconds', { queue: 'work' })).toBe(0);
    // No job ids or payloads in labels: only bounded names.
    const labelKeys = new Set(
      samples.filter((s) => s.name.startsWith('conveyor_')).flatMap((s) => Object.keys(s.labels)),
    );
    expect([...labelKeys].sort()).toEqual(['le', 'queue', 'state', 'task']);
  });

  it('shows circuit breakers, and paused queues and tasks, as Redis holds them now', async () => {
    const Mail = defineTask<{ n: number }, void>('metrics.mail', {
      queue: 'work',
      circuitBreaker: { name: 'smtp', failureThreshold: 5, window: '1m', cooldown: '1m' },
    });
    @Injectable()
    class Mailer {
      @Task(Mail)
      send(): void {}
    }
    const other = await startHttpApp({
      tasks: { queues: { work: {} }, workers: 'none' },
      imports: [MetricsModule.forRoot({ registry: new Registry() })],
      providers: [Mailer],
    });
    try {
      const scrape = async () => parsePrometheus((await get(`${other.url}/metrics`)).text);
      let samples = await scrape();
      expect(sample(samples, 'conveyor_circuit_state', { breaker: 'smtp' })).toBe(0);
      expect(sample(samples, 'conveyor_circuit_opens_total', { breaker: 'smtp' })).toBe(0);
      expect(sample(samples, 'conveyor_queue_paused', { queue: 'work' })).toBe(0);
      expect(sample(samples, 'conveyor_task_paused', { task: Mail.name })).toBe(0);

      await other.get(CircuitBreakers).open('smtp');
      await other.get(TaskControl).pauseTask(Mail);
      await other.get(TaskControl).pause('work');
      samples = await scrape();
      expect(sample(samples, 'conveyor_circuit_state', { breaker: 'smtp' })).toBe(2);
      expect(sample(samples, 'conveyor_circuit_opens_total', { breaker: 'smtp' })).toBe(1);
      expect(sample(samples, 'conveyor_queue_paused', { queue: 'work' })).toBe(1);
      expect(sample(samples, 'conveyor_task_paused', { task: Mail.name })).toBe(1);
    } finally {
      await stopHttpApps(other);
    }
  });

  it('serves the Prometheus text content type at a custom path', async () => {
    const other = await startHttpApp({
      imports: [MetricsModule.forRoot({ registry: new Registry(), path: '/ops/metrics' })],
    });
    try {
      const response = await fetch(`${other.url}/ops/metrics`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/plain; version=0.0.4');
      expect(await response.text()).toContain('# TYPE conveyor_tasks_enqueued_total counter');
    } finally {
      await stopHttpApps(other);
    }
  });
});
