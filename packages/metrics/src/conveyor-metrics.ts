import { Inject, Injectable, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import {
  CircuitBreakers,
  QueueInspector,
  type QueueSnapshot,
  TaskControl,
  TaskInstrumentation,
  type WorkerInfo,
  Workers,
  WorkflowInstrumentation,
} from '@conveyor/tasks';
import {
  checkKnownKeys,
  ConveyorLogger,
  errorField,
  type Fail,
  findOutboxStats,
  parseDuration,
  RESOLVED_TASKS_OPTIONS,
  type ResolvedModuleOptions,
} from '@conveyor/tasks/internal';
import { Counter, Gauge, Histogram, type Metric, register, type Registry } from 'prom-client';
import { SeriesCounter, SeriesHistogram, type TaskCount, TaskSeriesTable } from './task-series';
import { type QueueScaling, ScalingEstimator } from './autoscaling';
import { InvalidMetricsOptionsError } from './errors/invalid-metrics-options.error';
import type { MetricsModuleOptions } from './interfaces/metrics-options.interface';
import { METRICS_MODULE_OPTIONS } from './metrics.module-definition';
import type { OutboxRelay } from '@conveyor/outbox';

/** What the gauges read from the outbox. */
type OutboxStatsSource = Pick<OutboxRelay, 'stats'>;

const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
const CIRCUIT_VALUES = { closed: 0, 'half-open': 1, open: 2 } as const;
const STATES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'waiting-children'] as const;

/**
 * Conveyor's Prometheus metrics. Counters and histograms are fed by `TaskInstrumentation`
 * (labels: task and queue, both bounded by the app's code); gauges are read at scrape time,
 * every queue in one pipelined Redis round trip and the outbox in one query.
 */
@Injectable()
export class ConveyorMetrics implements OnModuleInit, OnApplicationShutdown {
  readonly registry: Registry;
  private readonly logger = new ConveyorLogger('ConveyorMetrics');
  private readonly timeoutMs: number;
  private readonly owned: Metric[] = [];
  private outbox?: OutboxStatsSource;
  private unobserve?: () => void;
  private unobserveWorkflows?: () => void;
  private snapshotInFlight?: Promise<QueueSnapshot[]>;
  private outboxInFlight?: ReturnType<OutboxStatsSource['stats']>;
  private limitsInFlight?: ReturnType<TaskControl['limits']>;
  private scalingInFlight?: Promise<Map<string, QueueScaling>>;
  private readonly estimator: ScalingEstimator;

  constructor(
    @Inject(METRICS_MODULE_OPTIONS) private readonly options: MetricsModuleOptions,
    private readonly instrumentation: TaskInstrumentation,
    private readonly inspector: QueueInspector,
    private readonly moduleRef: ModuleRef,
    private readonly breakers: CircuitBreakers,
    private readonly control: TaskControl,
    private readonly workers: Workers,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly tasks: ResolvedModuleOptions,
    private readonly workflows: WorkflowInstrumentation,
  ) {
    this.registry = options.registry ?? register;
    this.timeoutMs = options.timeoutMs ?? 2_000;
    this.estimator = new ScalingEstimator(drainTargetMs(options));
  }

  async onModuleInit(): Promise<void> {
    this.outbox = findOutboxStats<OutboxStatsSource>(this.moduleRef);
    const table = new TaskSeriesTable(this.options.buckets ?? DEFAULT_BUCKETS);
    const counter = (name: string, help: string, count: TaskCount) =>
      this.add(new SeriesCounter({ name, help }, table, count));
    counter('conveyor_tasks_enqueued_total', 'Jobs accepted by Redis.', 'enqueued');
    counter('conveyor_tasks_started_total', 'Runs started.', 'started');
    counter('conveyor_tasks_succeeded_total', 'Runs that returned.', 'succeeded');
    counter('conveyor_tasks_failed_total', 'Runs that threw (every attempt).', 'failed');
    counter('conveyor_tasks_retried_total', 'Failed runs that will run again.', 'retried');
    counter(
      'conveyor_tasks_dead_lettered_total',
      'Jobs moved to the dead-letter store.',
      'deadLettered',
    );
    counter(
      'conveyor_task_leases_lost_total',
      'Runs whose slot lease (singleton, lock, maxConcurrent, idempotent) was not renewed in time.',
      'leaseLost',
    );
    this.add(
      new SeriesHistogram(
        {
          name: 'conveyor_task_run_duration_seconds',
          help: 'Time from the worker taking a job to its handler settling.',
        },
        table,
        'run',
      ),
    );
    this.add(
      new SeriesHistogram(
        {
          name: 'conveyor_task_wait_duration_seconds',
          help: 'Time from enqueue (or the end of a requested delay) to the first start.',
        },
        table,
        'wait',
      ),
    );
    this.unobserve = this.instrumentation.observe({
      enqueued: (task, queue, count) => {
        table.get(task, queue).counts.enqueued += count;
      },
      started: (task, queue, waitMs) => {
        const series = table.get(task, queue);
        series.counts.started++;
        if (waitMs !== undefined) series.durations.wait.observe(waitMs / 1000);
      },
      succeeded: (task, queue, ms) => {
        const series = table.get(task, queue);
        series.counts.succeeded++;
        series.durations.run.observe(ms / 1000);
      },
      failed: (task, queue, ms, outcome) => {
        const series = table.get(task, queue);
        series.counts.failed++;
        if (outcome === 'retried') series.counts.retried++;
        series.durations.run.observe(ms / 1000);
      },
      deadLettered: (task, queue) => {
        table.get(task, queue).counts.deadLettered++;
      },
      leaseLost: (task, queue) => {
        table.get(task, queue).counts.leaseLost++;
      },
    });
    this.observeWorkflows();
    this.addGauges();
    for (const metric of this.owned) this.registry.registerMetric(metric);
  }

  /** Durable workflow runs: labels are workflow names and how a run ended, both bounded. */
  private observeWorkflows(): void {
    const runs = new Counter({
      name: 'conveyor_workflow_runs_total',
      help: 'Durable workflow runs (replays), by how they ended: suspended at a wait, or a status.',
      labelNames: ['workflow', 'end'],
      registers: [],
    });
    const failures = new Counter({
      name: 'conveyor_workflow_run_failures_total',
      help: 'Durable workflow runs that failed on Redis and will run again.',
      labelNames: ['workflow'],
      registers: [],
    });
    const seconds = new Histogram({
      name: 'conveyor_workflow_run_seconds',
      help: 'Time one durable workflow run (a replay up to its next wait) took.',
      labelNames: ['workflow'],
      buckets: this.options.buckets ?? DEFAULT_BUCKETS,
      registers: [],
    });
    this.add(runs);
    this.add(failures);
    this.add(seconds);
    this.unobserveWorkflows = this.workflows.observe({
      runEnded: (workflow, end, s) => {
        runs.inc({ workflow, end });
        seconds.observe({ workflow }, s);
      },
      runFailed: (workflow) => failures.inc({ workflow }),
    });
  }

  onApplicationShutdown(): void {
    this.unobserve?.();
    this.unobserveWorkflows?.();
    // prom-client metrics carry their name at run time; its types leave it out.
    for (const metric of this.owned) {
      this.registry.removeSingleMetric((metric as Metric & { name: string }).name);
    }
    this.owned.length = 0;
  }

  /** The registry's text exposition (Prometheus format). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  private addGauges(): void {
    this.gauge(
      'conveyor_queue_jobs',
      'Jobs in each state, per queue.',
      ['queue', 'state'],
      async (g) => {
        for (const s of await this.snapshot()) {
          for (const state of STATES) g.set({ queue: s.queue, state }, s[state]);
        }
      },
    );
    this.gauge(
      'conveyor_queue_oldest_waiting_age_seconds',
      'Age of the job at the head of each queue (0 when none waits).',
      ['queue'],
      async (g) => {
        for (const s of await this.snapshot())
          g.set({ queue: s.queue }, s.oldestWaitingAgeMs / 1000);
      },
    );
    this.gauge(
      'conveyor_dead_letters',
      'Jobs in the dead-letter store, per queue.',
      ['queue'],
      async (g) => {
        for (const s of await this.snapshot()) g.set({ queue: s.queue }, s.failed);
      },
    );
    this.gauge(
      'conveyor_circuit_state',
      'Each circuit breaker: 0 closed, 1 half-open (a probe runs), 2 open (its jobs wait).',
      ['breaker'],
      async (g) => {
        for (const b of await withTimeout(this.breakers.list(), this.timeoutMs, 'breakers')) {
          g.set({ breaker: b.name }, CIRCUIT_VALUES[b.state]);
        }
      },
    );
    const opens: Counter = new Counter({
      name: 'conveyor_circuit_opens_total',
      help: 'Times each circuit breaker has opened (kept in Redis, shared by every process).',
      labelNames: ['breaker'],
      registers: [],
      collect: async () => {
        opens.reset();
        await withTimeout(this.breakers.list(), this.timeoutMs, 'breakers')
          .then((list) => list.forEach((b) => opens.inc({ breaker: b.name }, b.opens)))
          .catch((error: Error) => this.warn('conveyor_circuit_opens_total', error));
      },
    });
    this.add(opens);
    this.gauge(
      'conveyor_queue_paused',
      'Queues paused with TaskControl.pause() (1), or not (0).',
      ['queue'],
      async (g) => {
        for (const q of await this.limits()) g.set({ queue: q.queue }, q.paused ? 1 : 0);
      },
    );
    this.gauge(
      'conveyor_task_paused',
      'Tasks paused with TaskControl.pauseTask() (1), or not (0).',
      ['task'],
      async (g) => {
        for (const q of await this.limits()) {
          for (const t of q.tasks) g.set({ task: t.task }, t.paused ? 1 : 0);
        }
      },
    );
    this.scalingGauges();
    if (!this.outbox) return;
    this.gauge('conveyor_outbox_pending', 'Outbox rows not yet published.', [], async (g) => {
      g.set((await this.outboxStats()).pending);
    });
    this.gauge(
      'conveyor_outbox_lag_seconds',
      'Age of the oldest unpublished outbox row (0 when none is pending).',
      [],
      async (g) => g.set((await this.outboxStats()).oldestPendingAgeMs / 1000),
    );
    const published: Counter = new Counter({
      name: 'conveyor_outbox_relay_published_total',
      help: "Outbox rows this process's relay published since it started.",
      registers: [],
      collect: async () => {
        published.reset();
        await this.outboxStats()
          .then((stats) => published.inc(stats.publishedByThisProcess))
          .catch((error: Error) => this.warn('conveyor_outbox_relay_published_total', error));
      },
    });
    this.add(published);
  }

  /**
   * Live workers per queue and what the pool should be, for autoscalers (KEDA, the HPA):
   * see `ScalingEstimator` for the formula.
   */
  private scalingGauges(): void {
    const per = (
      name: string,
      help: string,
      value: (s: QueueScaling) => number | undefined,
    ): void =>
      this.gauge(name, help, ['queue'], async (g) => {
        for (const [queue, s] of await this.scaling()) {
          const v = value(s);
          if (v !== undefined) g.set({ queue }, v);
        }
      });
    per(
      'conveyor_queue_workers',
      'Live worker processes consuming each queue, on any host (from the worker registry).',
      (s) => s.workers,
    );
    per(
      'conveyor_queue_arrivals_per_second',
      'Estimated jobs arriving per second: the workers’ throughput over the last minute plus the backlog’s growth.',
      (s) => round(s.arrivalRate),
    );
    per(
      'conveyor_queue_run_seconds',
      'Average run time over the last minute, across worker processes (absent when no run finished).',
      (s) => (s.runSeconds === undefined ? undefined : round(s.runSeconds)),
    );
    per(
      'conveyor_queue_desired_concurrency',
      'Jobs that should run at once to keep up and drain the backlog within drainTarget: max(running, ceil(λ·W + B·W/T)).',
      (s) => s.desiredConcurrency,
    );
    per(
      'conveyor_queue_desired_workers',
      'Worker processes needed for conveyor_queue_desired_concurrency at the per-process concurrency.',
      (s) => s.desiredWorkers,
    );
  }

  /** One estimate per scrape: the gauges share it (and the backlog is sampled once). */
  private scaling(): Promise<Map<string, QueueScaling>> {
    return (this.scalingInFlight ??= (async () => {
      const [snapshots, live] = await Promise.all([this.snapshot(), this.liveWorkers()]);
      return new Map(
        snapshots.map((s) => [
          s.queue,
          this.estimator.estimate(
            s.queue,
            s.waiting,
            live,
            this.tasks.queues?.get(s.queue)?.concurrency ?? 1,
          ),
        ]),
      );
    })().finally(() => (this.scalingInFlight = undefined)));
  }

  private liveWorkers(): Promise<WorkerInfo[]> {
    return withTimeout(this.workers.list(), this.timeoutMs, 'the worker registry');
  }

  /** A gauge read at scrape time: cleared, then filled by `read`. */
  private gauge(
    name: string,
    help: string,
    labelNames: string[],
    read: (gauge: Gauge) => Promise<void>,
  ): void {
    const gauge: Gauge = new Gauge({
      name,
      help,
      labelNames,
      registers: [],
      collect: async () => {
        gauge.reset();
        // Redis or the database down must not cost the counters: the gauge is left empty.
        await read(gauge).catch((error: Error) => this.warn(name, error));
      },
    });
    this.add(gauge);
  }

  private add<T extends Metric>(metric: T): T {
    this.owned.push(metric);
    return metric;
  }

  private warn(metric: string, error: Error): void {
    this.logger.warn(`${metric} not read: ${error.message}`, { metric, error: errorField(error) });
  }

  /** One snapshot per scrape: the gauges collect together and share its round trip. */
  private snapshot(): Promise<QueueSnapshot[]> {
    return (this.snapshotInFlight ??= withTimeout(
      this.inspector.snapshot(this.options.queues),
      this.timeoutMs,
      'queue counts',
    ).finally(() => (this.snapshotInFlight = undefined)));
  }

  /** One read of the run-time controls per scrape, shared by the gauges that need it. */
  private limits(): ReturnType<TaskControl['limits']> {
    return (this.limitsInFlight ??= withTimeout(
      this.control.limits(),
      this.timeoutMs,
      'run-time controls',
    ).finally(() => (this.limitsInFlight = undefined)));
  }

  private outboxStats(): ReturnType<OutboxStatsSource['stats']> {
    return (this.outboxInFlight ??= withTimeout(
      this.outbox!.stats(),
      this.timeoutMs,
      'outbox stats',
    ).finally(() => (this.outboxInFlight = undefined)));
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function drainTargetMs(options: MetricsModuleOptions): number {
  const fail: Fail = (problem) => {
    throw new InvalidMetricsOptionsError(problem);
  };
  if (options.autoscaling === undefined) return 60_000;
  const a = options.autoscaling;
  if (a === null || typeof a !== 'object' || Array.isArray(a)) {
    fail(`autoscaling must be an object, got ${JSON.stringify(a)}`);
  }
  checkKnownKeys({ ...a }, ['drainTarget'], 'autoscaling', fail);
  if (a.drainTarget === undefined) return 60_000;
  const ms = parseDuration(a.drainTarget, 'autoscaling.drainTarget', fail);
  if (ms < 1_000)
    fail(`autoscaling.drainTarget must be at least 1s, got ${JSON.stringify(a.drainTarget)}`);
  return ms;
}

/** Rejects when `promise` takes longer than `ms`: a hung Redis must not hang the scrape. */
function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
