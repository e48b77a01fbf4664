import { Inject, Injectable } from '@nestjs/common';
import { TaskInstrumentation } from '../instrumentation/task-instrumentation';
import { CLOSE_GRACE_MS, settleWithin } from '../lifecycle/settle-within';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import type { ResolvedModuleOptions } from '../options/module-options';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { bucketOf, errorSignature, recordScript, statsKeys } from './stats-keys';

/** Distinct errors one task keeps samples of between two writes; the rest count as "other". */
const MAX_ERRORS_PER_WRITE = 20;
/** Figures kept for a later write while Redis does not answer: older ones are dropped. */
const MAX_HELD_WRITES = 12;

interface ErrorSample {
  name: string;
  message: string;
  job?: string;
}

/** One task's figures since the last write. */
interface TaskFigures {
  t: string;
  c: number;
  f: number;
  d: number;
  ms: number;
  h: Record<number, number>;
  e: Record<string, number>;
  s: Record<string, ErrorSample>;
}

/**
 * This process's share of the run history `TaskStats` reads. Runs are counted in memory by an
 * observer (a run costs a few additions, no Redis command) and added to Redis every
 * `stats.interval`, one script call per queue that ran something. `TaskWorkers` starts it with
 * its workers and stops it after them, with a last write bounded like every shutdown step.
 */
@Injectable()
export class RunHistory {
  private readonly logger = new ConveyorLogger('Conveyor');
  private figures = new Map<string, Map<string, TaskFigures>>();
  private held = 0;
  private timer?: NodeJS.Timeout;
  private unobserve?: () => void;
  private writing?: Promise<void>;
  private lastErrorLog = 0;
  private script?: ReturnType<typeof recordScript>;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly redis: RedisConnections,
    private readonly instrumentation: TaskInstrumentation,
  ) {}

  start(): void {
    const stats = this.options.stats;
    if (!stats || this.unobserve) return;
    this.unobserve = this.instrumentation.observe({
      succeeded: (task, queue, ms) => {
        const f = this.of(task, queue);
        f.c++;
        this.ran(f, ms);
      },
      failed: (task, queue, ms, _outcome, error, jobId) => {
        const f = this.of(task, queue);
        f.f++;
        this.ran(f, ms);
        this.failure(f, error, jobId);
      },
      deadLettered: (task, queue) => this.of(task, queue).d++,
    });
    this.timer = setInterval(() => void this.write(), stats.intervalMs);
    this.timer.unref();
  }

  /**
   * Stops counting and writes what is left: after a write under way (whose figures, if Redis
   * refused them, come back to be written again), all within `CLOSE_GRACE_MS`. With Redis not
   * connected nothing is sent (shutdown must not wait for it), and the lost figures are logged.
   */
  async stop(): Promise<void> {
    if (!this.unobserve) return;
    clearInterval(this.timer);
    this.unobserve();
    this.unobserve = undefined;
    const last = async () => {
      await this.writing;
      await this.write();
    };
    if (this.redis.client.status === 'ready') await settleWithin(last(), CLOSE_GRACE_MS);
    if (this.figures.size) {
      this.logger.warn(
        `run history of the last seconds not written at shutdown (Redis ${this.redis.client.status}); TaskStats will miss those runs`,
        { queues: [...this.figures.keys()] },
      );
    }
  }

  /** Adds what was counted since the last write to Redis; one write at a time. */
  write(): Promise<void> {
    if (this.writing) return this.writing;
    if (!this.figures.size) return Promise.resolve();
    const batch = this.figures;
    this.figures = new Map();
    this.writing = this.send(batch).finally(() => (this.writing = undefined));
    return this.writing;
  }

  private async send(batch: Map<string, Map<string, TaskFigures>>): Promise<void> {
    const stats = this.options.stats;
    if (!stats) return;
    const script = (this.script ??= recordScript(this.redis.client));
    const failed: string[] = [];
    await Promise.all(
      [...batch].map(async ([queue, tasks]) => {
        try {
          const key = statsKeys(this.options.keys, queue).queue;
          await script(key, stats.retentionMinutes, JSON.stringify([...tasks.values()]));
        } catch (error) {
          failed.push(queue);
          this.report(error as Error);
        }
      }),
    );
    if (!failed.length) {
      this.held = 0;
      return;
    }
    // Redis did not take them: keep them for the next write, a bounded number of times.
    if (++this.held > MAX_HELD_WRITES) {
      this.held = 0;
      return;
    }
    for (const queue of failed) {
      for (const figures of batch.get(queue)!.values()) this.merge(queue, figures);
    }
  }

  private of(task: string, queue: string): TaskFigures {
    let tasks = this.figures.get(queue);
    if (!tasks) this.figures.set(queue, (tasks = new Map()));
    let f = tasks.get(task);
    if (!f) tasks.set(task, (f = { t: task, c: 0, f: 0, d: 0, ms: 0, h: {}, e: {}, s: {} }));
    return f;
  }

  private ran(f: TaskFigures, ms: number): void {
    const rounded = Math.round(ms);
    f.ms += rounded;
    const bucket = bucketOf(rounded);
    f.h[bucket] = (f.h[bucket] ?? 0) + 1;
  }

  private failure(f: TaskFigures, error: unknown, jobId: string | undefined): void {
    const name = error instanceof Error ? error.name : 'Error';
    const message = error instanceof Error ? error.message : String(error);
    let sig = errorSignature(name, message);
    if (!(sig in f.e) && Object.keys(f.e).length >= MAX_ERRORS_PER_WRITE) sig = 'other';
    f.e[sig] = (f.e[sig] ?? 0) + 1;
    if (sig !== 'other') f.s[sig] = { name, message: message.slice(0, 500), job: jobId };
  }

  private merge(queue: string, from: TaskFigures): void {
    const into = this.of(from.t, queue);
    into.c += from.c;
    into.f += from.f;
    into.d += from.d;
    into.ms += from.ms;
    for (const [bucket, n] of Object.entries(from.h)) {
      into.h[Number(bucket)] = (into.h[Number(bucket)] ?? 0) + n;
    }
    for (const [sig, n] of Object.entries(from.e)) into.e[sig] = (into.e[sig] ?? 0) + n;
    into.s = { ...from.s, ...into.s };
  }

  private report(error: Error): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 60_000) return;
    this.lastErrorLog = now;
    this.logger.warn(`run history not written (kept for the next write): ${error.message}`, {
      error: errorField(error),
    });
  }
}
