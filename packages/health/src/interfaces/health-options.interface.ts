import type { Duration } from '@conveyor/tasks';

/** Readiness limits of one queue. */
export interface QueueThresholds {
  /**
   * Most jobs ready to run (waiting + prioritized) before the queue counts as backed up.
   * @default 10000
   */
  waiting?: number;
  /**
   * Oldest age of the job at the head of the queue before it counts as backed up.
   * @default '5m'
   */
  oldestWaitingAge?: Duration;
}

/** Readiness limits: every queue's, a queue's own, and the outbox's. */
export interface HealthThresholds extends QueueThresholds {
  /** Limits of single queues, over the ones above. */
  queues?: Record<string, QueueThresholds>;
  /**
   * Oldest age of an unpublished outbox row (checked only when `OutboxModule` is imported).
   * @default '1m'
   */
  outboxLag?: Duration;
}

/** Options of `HealthModule.forRoot()` / `forRootAsync()`. */
export interface HealthModuleOptions {
  /** Readiness limits. */
  thresholds?: HealthThresholds;
  /**
   * How long each check may take: a hung Redis or database turns its check down instead of
   * hanging the probe.
   * @default '1s'
   */
  timeout?: Duration;
  /**
   * Queues the readiness check looks at.
   * @default every queue the app declares or handles
   */
  queues?: string[];
  /**
   * Which queues are down when jobs wait in them and no live worker process consumes them
   * (none is in the worker registry, `Workers.list()`, or every one is shutting down):
   * `true`, the checked queues this app has a `@Task()` handler for; a list, these queues;
   * `false`, none (the worker counts are still reported).
   * @default true
   */
  requireWorkers?: boolean | string[];
}
