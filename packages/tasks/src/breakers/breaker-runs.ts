import { Inject, Injectable } from '@nestjs/common';
import { DelayedError, type Job, UnrecoverableError, WaitingError } from 'bullmq';
import { RunAdmission } from '../admission/run-admission';
import {
  InvalidLimitKeyError,
  InvalidPayloadError,
  TaskCancelledError,
  TaskLockLostError,
  UnrecoverableTaskError,
} from '../errors';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import type { ResolvedModuleOptions } from '../options/module-options';
import type { ResolvedCircuitBreaker } from '../options/task-options';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { type RegisteredTask, TasksRegistry } from '../tasks.registry';
import {
  breakerGate,
  type BreakerReply,
  BreakerScripts,
  type BreakerState,
} from './breaker-scripts';

/**
 * A job whose breaker's cooldown ends within this much of now asks Redis for a probe rather
 * than parking on this process's clock alone.
 */
const CLOCK_MARGIN_MS = 250;

/** What a run of a task with a circuit breaker may do now. */
export type BreakerPass = 'run' | 'probe' | 'parked' | 'lost';

/**
 * The worker's side of circuit breakers (`TaskOptions.circuitBreaker`): keeps the state of
 * this app's breakers as Redis announces it, and on each run of a task with one decides
 * whether it runs, runs as the half-open probe, or waits at the breaker's gate in its queue
 * (parked, spending no attempt). A closed breaker costs a run nothing; failed attempts and a
 * probe's end are reported to Redis (`lua/breaker.lua`), where the state changes atomically.
 * When a breaker closes, every worker process opens its gate in the queues it consumes.
 */
@Injectable()
export class BreakerRuns {
  private readonly logger = new ConveyorLogger('Conveyor');
  private readonly states = new Map<string, BreakerState>();
  private scriptsInstance?: BreakerScripts;
  private consumed: readonly string[] = [];

  constructor(
    private readonly registry: TasksRegistry,
    private readonly admission: RunAdmission,
    private readonly redis: RedisConnections,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
  ) {}

  private get scripts(): BreakerScripts {
    return (this.scriptsInstance ??= new BreakerScripts(
      this.redis.workerClient,
      this.options.keys,
    ));
  }

  /** The channel on which breakers announce changes. */
  get channel(): string {
    return this.options.keys.appKey('breaker-changed');
  }

  /** Whether any task of this app has a circuit breaker. */
  get used(): boolean {
    return this.registry.breakers().size > 0;
  }

  /**
   * Reads every breaker of this app (at start and after a reconnect); `consumed`: the queues
   * whose gates this process opens when a breaker is closed.
   */
  async follow(consumed: readonly string[]): Promise<void> {
    this.consumed = consumed;
    await Promise.all([...this.registry.breakers().keys()].map((name) => this.refresh(name)));
  }

  /** Re-reads one breaker (its change was announced), and opens its gates if it is closed. */
  async refresh(name: string): Promise<void> {
    if (!this.registry.breakers().has(name)) return;
    try {
      this.learn(name, await this.scripts.call('read', name));
    } catch (error) {
      this.logger.warn(`cannot read circuit breaker '${name}': ${(error as Error).message}`, {
        breaker: name,
        error: errorField(error),
      });
    }
  }

  /** The state of breaker `name` as this process knows it (`undefined`: not read yet). */
  stateOf(name: string): BreakerState['state'] | undefined {
    return this.states.get(name)?.state;
  }

  /** Decides a run of `task`'s job; parks it at the gate while the breaker holds it. */
  async pass(task: RegisteredTask, job: Job, token: string): Promise<BreakerPass> {
    const breaker = task.options.circuitBreaker;
    if (!breaker) return 'run';
    // Not read yet (this process just started): read before the first run, not after it.
    if (!this.states.has(breaker.name)) await this.refresh(breaker.name);
    let state = this.states.get(breaker.name);
    if (!state || state.state === 'closed') return 'run';
    if (state.state === 'half-open' || state.until - CLOCK_MARGIN_MS <= Date.now()) {
      const reply = await this.scripts.call('probe', breaker.name, job.id!, this.probeMs(task));
      this.learn(breaker.name, reply);
      if (reply.probe) {
        this.logger.log(`job ${job.id} probes circuit breaker '${breaker.name}'`, {
          breaker: breaker.name,
          task: task.name,
          jobId: job.id,
        });
        return 'probe';
      }
      if (reply.state === 'closed') return 'run';
      state = reply;
    }
    const parked = await this.admission.gate(
      job,
      token,
      breakerGate(breaker.name),
      state.redisUntil,
      state.gen,
    );
    if (parked === 'open') {
      void this.refresh(breaker.name);
      return 'run';
    }
    return parked;
  }

  /** A run ended well: a probe's success closes its breaker. */
  async succeeded(task: RegisteredTask, job: Job, probe: boolean): Promise<void> {
    const breaker = task.options.circuitBreaker;
    if (!breaker || !probe) return;
    await this.report(breaker, () => this.scripts.call('succeed', breaker.name, job.id!));
  }

  /**
   * A run failed: if the error counts (`isFailure`), it is logged against the breaker, which
   * opens at its threshold; a probe's counted failure opens it again.
   */
  async failed(task: RegisteredTask, job: Job, error: unknown, runId: string): Promise<void> {
    const breaker = task.options.circuitBreaker;
    if (!breaker || !counts(breaker, error, this.logger)) return;
    await this.report(breaker, () =>
      this.scripts.call(
        'fail',
        breaker.name,
        runId,
        job.id!,
        breaker.failureThreshold,
        breaker.windowMs,
        breaker.cooldownMs,
      ),
    );
  }

  private async report(
    breaker: ResolvedCircuitBreaker,
    call: () => Promise<BreakerReply>,
  ): Promise<void> {
    try {
      const reply = await call();
      this.learn(breaker.name, reply);
      if (!reply.changed) return;
      if (reply.state === 'open') {
        this.logger.warn(
          `circuit breaker '${breaker.name}' opened: its tasks' jobs wait ${breaker.cooldownMs} ms, then one runs as a probe`,
          { breaker: breaker.name, state: reply.state, cooldownMs: breaker.cooldownMs },
        );
      } else if (reply.state === 'closed') {
        this.logger.log(`circuit breaker '${breaker.name}' closed: its tasks run again`, {
          breaker: breaker.name,
          state: reply.state,
        });
      }
    } catch (error) {
      // The run's outcome stands; the breaker only misses one report.
      this.logger.warn(
        `cannot report to circuit breaker '${breaker.name}': ${(error as Error).message}`,
        { breaker: breaker.name, error: errorField(error) },
      );
    }
  }

  /**
   * Keeps the newest state of `name`, and sets its gate in the queues this process consumes
   * to match whenever it changed: closed opens the gate; open (again, or by hand for a while)
   * and half-open set when the line is next looked at.
   */
  private learn(name: string, reply: BreakerState): void {
    const known = this.states.get(name);
    if (known && known.gen >= reply.gen) return;
    const { state, until, redisUntil, gen } = reply;
    this.states.set(name, { state, until, redisUntil, gen });
    // Before any opening there is no gate anywhere to set.
    if (state === 'closed' && gen === 0) return;
    const queues = new Set(
      this.registry
        .breakers()
        .get(name)
        ?.tasks.flatMap((task) => this.registry.queuesOf(task))
        .filter((queue) => this.consumed.includes(queue)),
    );
    for (const queue of queues) {
      this.admission
        .setGate(queue, breakerGate(name), state === 'closed' ? 'open' : 'closed', gen, redisUntil)
        .catch((error: Error) =>
          this.logger.warn(
            `cannot set circuit breaker '${name}''s gate in queue '${queue}' (its jobs wait for the next probe): ${error.message}`,
            { breaker: name, queue, error: errorField(error) },
          ),
        );
    }
  }

  /** How long a probe holds its turn before another job may probe: its time limit, or a lease. */
  private probeMs(task: RegisteredTask): number {
    return task.options.hardTimeoutMs ?? task.options.timeoutMs ?? this.options.leaseMs;
  }
}

/** Whether a failed attempt counts against the breaker. */
function counts(breaker: ResolvedCircuitBreaker, error: unknown, logger: ConveyorLogger): boolean {
  if (error instanceof DelayedError || error instanceof WaitingError) return false;
  if (error instanceof TaskCancelledError || error instanceof TaskLockLostError) return false;
  const err = error instanceof Error ? error : new Error(String(error));
  if (breaker.isFailure) {
    try {
      return breaker.isFailure(err) === true;
    } catch (thrown) {
      logger.warn(
        `circuitBreaker.isFailure of '${breaker.name}' threw (${(thrown as Error).message}); the failure counts`,
        { breaker: breaker.name },
      );
      return true;
    }
  }
  return !(
    err instanceof UnrecoverableTaskError ||
    err instanceof UnrecoverableError ||
    err instanceof InvalidPayloadError ||
    err instanceof InvalidLimitKeyError
  );
}
