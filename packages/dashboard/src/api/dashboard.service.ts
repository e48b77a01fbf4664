import {
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
  NotFoundException,
} from '@nestjs/common';
import {
  CircuitBreakers,
  ConveyorQueues,
  DeadLetters,
  type DeadLetter,
  type DeadLetterFilter,
  QueueInspector,
  type QueueStats,
  TaskControl,
  TaskProducer,
  TaskStats,
  type TaskStatsDetail,
  type TaskStatsSummary,
  Workers,
} from '@conveyor/tasks';
import {
  checkKnownQueue,
  ConveyorLogger,
  matchesDeadLetter,
  TasksRegistry,
} from '@conveyor/tasks/internal';
import { Job } from 'bullmq';
import type { Actor } from '../auth/actor';
import { DASHBOARD_OPTIONS } from '../dashboard.constants';
import type { ResolvedDashboardOptions } from '../dashboard.options';
import { type JobDetail, jobDetail, type JobSummary, stateName } from './job-view';
import { workersByQueue } from './workers-view';

// Dead letters are read in pages of this many while a filter looks for matches.
const PAGE = 200;

/** One queue's line in the overview. */
export interface QueueOverview {
  queue: string;
  waiting: number;
  active: number;
  delayed: number;
  completed: number;
  deadLettered: number;
  waitingChildren: number;
  oldestWaitingAgeMs: number;
  paused: boolean;
  tasks: string[];
  /** Runs ended each minute of the last hour (completed + failed), oldest first. */
  throughput: number[];
  /** Mean run time each minute of the last hour, ms (0: no run that minute). */
  runTime: number[];
  completedLastHour: number;
  failedLastHour: number;
  avgRunMs: number;
  /** Worker processes alive that consume this queue, and their concurrency in total. */
  workers: number;
  concurrency: number;
}

/** What the overview shows. */
export interface Overview {
  readOnly: boolean;
  queues: QueueOverview[];
  breakers: Array<{ name: string; state: string }>;
  at: number;
}

/**
 * What the dashboard reads and does, on Conveyor's public services: counts from
 * `QueueInspector` (one round trip for every queue), pause from `TaskControl`, replay and
 * purge from `DeadLetters` (fresh attempts), cancel from `TaskProducer`. Every action checks
 * `readOnly` first and is logged with who asked.
 */
@Injectable()
export class DashboardService {
  private readonly logger = new ConveyorLogger('ConveyorDashboard');

  constructor(
    @Inject(DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
    private readonly inspector: QueueInspector,
    private readonly control: TaskControl,
    private readonly deadLetters: DeadLetters,
    private readonly producer: TaskProducer,
    private readonly queues: ConveyorQueues,
    private readonly registry: TasksRegistry,
    private readonly breakers: CircuitBreakers,
    private readonly stats: TaskStats,
    private readonly workers: Workers,
  ) {}

  get readOnly(): boolean {
    return this.options.readOnly;
  }

  async overview(): Promise<Overview> {
    const [snapshot, limits, breakers, history, workers] = await Promise.all([
      this.inspector.snapshot(),
      this.control.limits(),
      this.breakers.list(),
      this.stats.queues(),
      this.workers.list(),
    ]);
    const byQueue = new Map(limits.map((limit) => [limit.queue, limit]));
    const historyOf = new Map(history.map((queue) => [queue.queue, queue]));
    const alive = workersByQueue(workers);
    return {
      readOnly: this.options.readOnly,
      at: Date.now(),
      queues: snapshot.map((queue) => ({
        queue: queue.queue,
        waiting: queue.waiting,
        active: queue.active,
        delayed: queue.delayed,
        completed: queue.completed,
        deadLettered: queue.failed,
        waitingChildren: queue['waiting-children'],
        oldestWaitingAgeMs: queue.oldestWaitingAgeMs,
        paused: byQueue.get(queue.queue)?.paused ?? false,
        tasks: byQueue.get(queue.queue)?.tasks.map((task) => task.task) ?? [],
        ...hourOf(historyOf.get(queue.queue)),
        workers: alive.get(queue.queue)?.workers ?? 0,
        concurrency: alive.get(queue.queue)?.concurrency ?? 0,
      })),
      breakers: breakers.map((breaker) => ({ name: breaker.name, state: breaker.state })),
    };
  }

  /** Every task with runs in the last hour in `queue`, busiest first. */
  tasks(queue: string, window?: string): Promise<TaskStatsSummary[]> {
    return this.stats.tasks(this.checkQueue(queue), { window: window ?? '1h' });
  }

  /** One task's history, percentiles and failures grouped by error. */
  task(queue: string, task: string, window?: string): Promise<TaskStatsDetail> {
    return this.stats.task(task, { queue: this.checkQueue(queue), window: window ?? '1h' });
  }

  /** A job in every known queue with this id (ids are unique per queue only). */
  async findById(id: string): Promise<JobSummary[]> {
    const names = this.registry.knownQueues();
    const states = await Promise.all(names.map((name) => this.queues.queue(name).getJobState(id)));
    const found = names.filter((_, i) => states[i] !== 'unknown');
    const jobs = await Promise.all(found.map((name) => Job.fromId(this.queues.queue(name), id)));
    return found.flatMap((queue, i) => {
      const job = jobs[i];
      if (!job) return [];
      const state = stateName(states[names.indexOf(queue)]);
      return [{ id, queue, task: job.name, state, payload: job.data, enqueuedAt: job.timestamp }];
    });
  }

  async job(queue: string, id: string): Promise<JobDetail> {
    const bullQueue = this.queues.queue(this.checkQueue(queue));
    const [job, state, logs] = await Promise.all([
      Job.fromId(bullQueue, id),
      bullQueue.getJobState(id),
      bullQueue.getJobLogs(id, 0, 99),
    ]);
    if (!job) throw new NotFoundException(await this.goneReason(queue, id));
    return jobDetail(queue, job, state, logs.logs);
  }

  /**
   * Up to `limit` dead letters that match, most recent first, from `offset` on. A filter
   * reads pages until it has `limit` matches or has read `searchScanLimit` letters, then
   * answers with the offset to go on from (null once every letter was read).
   */
  async deadLetterList(
    queue: string,
    filter: DeadLetterFilter,
    page: { offset: number; limit: number },
  ): Promise<{ items: DeadLetter[]; total: number; nextOffset: number | null }> {
    const name = this.checkQueue(queue);
    const total = await this.deadLetters.count(name);
    const items: DeadLetter[] = [];
    let offset = page.offset;
    let read = 0;
    while (items.length < page.limit && read < this.options.searchScanLimit) {
      const size = Math.min(PAGE, this.options.searchScanLimit - read);
      const letters = await this.deadLetters.list(name, { offset, limit: size });
      for (const letter of letters) {
        offset++;
        read++;
        if (matchesDeadLetter(letter, filter)) items.push(letter);
        if (items.length === page.limit) break;
      }
      if (items.length < page.limit && letters.length < size) {
        return { items, total, nextOffset: null };
      }
    }
    return { items, total, nextOffset: offset < total ? offset : null };
  }

  // Actions: each checks readOnly, logs who asked, and logs a failure too.

  pause(actor: Actor, queue: string): Promise<{ queue: string; paused: boolean }> {
    return this.act(actor, 'pause queue', { queue }, async () => {
      await this.control.pause(queue);
      return { queue, paused: true };
    });
  }

  resume(actor: Actor, queue: string): Promise<{ queue: string; paused: boolean }> {
    return this.act(actor, 'resume queue', { queue }, async () => {
      await this.control.resume(queue);
      return { queue, paused: false };
    });
  }

  cancel(actor: Actor, queue: string, id: string): Promise<{ outcome: string }> {
    return this.act(actor, 'cancel job', { queue, id }, async () => {
      const job = await Job.fromId(this.queues.queue(this.checkQueue(queue)), id);
      if (!job) throw new NotFoundException(`no job ${id} in queue ${queue}`);
      const reason = `cancelled from the dashboard by ${actor.name}`;
      // A task this process has no handler for has no handle here: cancel by id instead.
      const outcome = this.registry.get(job.name)
        ? await this.producer.handle(job.name, id, { queue }).cancel(reason)
        : await this.producer.cancel(id, reason);
      return { outcome };
    });
  }

  promote(actor: Actor, queue: string, id: string): Promise<{ promoted: string }> {
    return this.act(actor, 'promote job', { queue, id }, async () => {
      const bullQueue = this.queues.queue(this.checkQueue(queue));
      const state = await bullQueue.getJobState(id);
      if (state !== 'delayed') {
        throw new ConflictException(
          `job ${id} is ${stateName(state)}, not delayed: nothing to promote`,
        );
      }
      const job = await Job.fromId(bullQueue, id);
      await job!.promote();
      return { promoted: id };
    });
  }

  /** Runs a dead-lettered job again with fresh attempts (Conveyor's replay). */
  retry(actor: Actor, queue: string, id: string): Promise<{ replayed: string }> {
    return this.act(actor, 'retry job', { queue, id }, async () => {
      const state = await this.queues.queue(this.checkQueue(queue)).getJobState(id);
      if (state !== 'failed') {
        throw new ConflictException(
          `job ${id} is ${stateName(state)}: only a dead-lettered job can be retried`,
        );
      }
      return { replayed: (await this.deadLetters.replay(queue, id)).id };
    });
  }

  replay(actor: Actor, queue: string, id: string): Promise<{ replayed: string }> {
    return this.act(actor, 'replay dead letter', { queue, id }, async () => ({
      replayed: (await this.deadLetters.replay(queue, id)).id,
    }));
  }

  replayWhere(actor: Actor, queue: string, filter: DeadLetterFilter) {
    return this.act(actor, 'replay dead letters', { queue, filter }, () =>
      this.deadLetters.replayWhere(queue, filter),
    );
  }

  purge(actor: Actor, queue: string, id: string): Promise<{ purged: number }> {
    return this.act(actor, 'purge dead letter', { queue, id }, async () => ({
      purged: (await this.deadLetters.purge(queue, id)) ? 1 : 0,
    }));
  }

  purgeWhere(actor: Actor, queue: string, filter: DeadLetterFilter): Promise<{ purged: number }> {
    return this.act(actor, 'purge dead letters', { queue, filter }, async () => ({
      purged: await this.deadLetters.purgeWhere(queue, filter),
    }));
  }

  /**
   * Runs a dashboard action: refused (403) in read-only mode, logged with who asked and the
   * outcome, or the failure. Every view's actions go through here.
   */
  async act<T>(
    actor: Actor,
    action: string,
    target: Record<string, unknown>,
    run: () => Promise<T>,
  ): Promise<T> {
    const fields = { action, ...target, user: actor.name, userVia: actor.via };
    // The message alone says what, on what, and who: a text logger drops the fields.
    const what = `dashboard: ${action} ${JSON.stringify(target)}`;
    if (this.options.readOnly) {
      this.logger.warn(`${what} refused (read-only) for ${actor.name}`, fields);
      throw new ForbiddenException('the dashboard is read-only');
    }
    try {
      const outcome = await run();
      this.logger.log(`${what} by ${actor.name}`, { ...fields, outcome });
      return outcome;
    } catch (error) {
      this.logger.warn(`${what} by ${actor.name} failed`, fields, error);
      throw error;
    }
  }

  /** Why a job is not there: a cancel or a forget leaves a trace for a while. */
  private async goneReason(queue: string, id: string): Promise<string> {
    // A handle's state reads the queue's traces; any task of the app gives one for the queue.
    const anyTask = this.registry.names()[0];
    const state = anyTask ? await this.producer.handle(anyTask, id, { queue }).state() : 'unknown';
    return state === 'cancelled' || state === 'forgotten'
      ? `job ${id} of queue ${queue} was ${state}; its record is gone`
      : `no job ${id} in queue ${queue}`;
  }

  private checkQueue(queue: string): string {
    return checkKnownQueue(queue, this.registry.knownQueues());
  }
}

/** The overview's hour of a queue: a point a minute for the sparklines, and totals. */
function hourOf(queue: QueueStats | undefined) {
  return {
    throughput: queue?.minutes.map((m) => m.completed + m.failed) ?? [],
    runTime: queue?.minutes.map((m) => Math.round(m.avgRunMs)) ?? [],
    completedLastHour: queue?.completed ?? 0,
    failedLastHour: queue?.failed ?? 0,
    avgRunMs: Math.round(queue?.avgRunMs ?? 0),
  };
}
