import type { Duration } from '@conveyor/tasks';
import type { Registry } from 'prom-client';

/** Options of `MetricsModule.forRoot()` / `forRootAsync()`. */
export interface MetricsModuleOptions {
  /**
   * The registry Conveyor's metrics join and `GET <path>` serves: pass the app's own to
   * share it with its other metrics.
   * @default prom-client's global `register`
   */
  registry?: Registry;
  /**
   * Buckets (seconds) of `conveyor_task_run_duration_seconds` and
   * `conveyor_task_wait_duration_seconds`.
   * @default [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]
   */
  buckets?: number[];
  /**
   * Queues whose gauges a scrape reads.
   * @default every queue the app declares or handles
   */
  queues?: string[];
  /**
   * How long a scrape waits for Redis or the database before leaving the gauges empty.
   * @default 2000
   */
  timeoutMs?: number;
  /** How `conveyor_queue_desired_workers` and `…_desired_concurrency` are computed. */
  autoscaling?: AutoscalingOptions;
}

/** Options of the autoscaling gauges (see the README's "Autoscaling" section). */
export interface AutoscalingOptions {
  /**
   * Within how long the desired pool should drain a queue's backlog, on top of keeping up with
   * arrivals: the `T` in `λ·W + B·W/T`. Shorter asks for more workers while a backlog lasts.
   * @default '1m'
   */
  drainTarget?: Duration;
}
