import { Inject, Injectable } from '@nestjs/common';
import { InvalidTaskOptionsError } from '../errors';
import type { Duration } from '../interfaces/duration.interface';
import type { ResolvedModuleOptions } from '../options/module-options';
import { checkKnownKeys, checkObject, parseDuration, type Fail } from '../options/validation';
import { ConveyorQueues } from '../producer/conveyor-queues';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import { BreakerScripts } from './breaker-scripts';

/** A circuit breaker's state: see `TaskOptions.circuitBreaker`. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** One circuit breaker as `CircuitBreakers` reports it. */
export interface CircuitBreakerInfo {
  name: string;
  state: CircuitState;
  /** The tasks of this app that use it. */
  tasks: string[];
  /**
   * Open: when a probe may run; `null` when it was opened by hand until closed by hand.
   * Absent when closed or half-open.
   */
  probeAt?: Date | null;
  /** Failed attempts counted now, within the window (closed only). */
  failures: number;
  /** When it last opened; absent if it never has. */
  openedAt?: Date;
  /** How many times it has opened. */
  opens: number;
  /** Its last change was made by hand (`open()` / `close()`). */
  manual: boolean;
  failureThreshold: number;
  windowMs: number;
  cooldownMs: number;
}

/**
 * Looks at and steers this app's circuit breakers, from any process: their state, and
 * opening or closing one by hand. An opened breaker holds its tasks' jobs in every worker
 * process (they wait, parked, spending no attempt); closing it lets them all run.
 *
 * @example
 * constructor(private readonly breakers: CircuitBreakers) {}
 *
 * await this.breakers.open('smtp', { for: '10m' }); // the provider announced maintenance
 * await this.breakers.open('smtp');                 // until closed by hand
 * await this.breakers.close('smtp');
 * console.table(await this.breakers.list());
 */
@Injectable()
export class CircuitBreakers {
  private scriptsInstance?: BreakerScripts;

  constructor(
    private readonly registry: TasksRegistry,
    private readonly queues: ConveyorQueues,
    private readonly redis: RedisConnections,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
  ) {}

  private get scripts(): BreakerScripts {
    return (this.scriptsInstance ??= new BreakerScripts(this.redis.client, this.options.keys));
  }

  /** Every breaker of this app's tasks, by name. */
  async list(): Promise<CircuitBreakerInfo[]> {
    const names = [...this.registry.breakers().keys()].sort();
    return Promise.all(names.map((name) => this.state(name)));
  }

  /** One breaker's state. */
  async state(name: string): Promise<CircuitBreakerInfo> {
    const entry = this.registry.breaker(name);
    const key = this.scripts.key(name);
    const [fields, failures] = await this.queues.send(() =>
      Promise.all([
        this.redis.client.hgetall(key),
        this.redis.client.zcount(`${key}:failures`, Date.now() - entry.options.windowMs, '+inf'),
      ]),
    );
    const state = (fields.state as CircuitState | undefined) ?? 'closed';
    const until = Number(fields.until ?? 0);
    return {
      name,
      state,
      tasks: entry.tasks.map((task) => task.name).sort(),
      ...(state === 'open' ? { probeAt: until < 0 ? null : new Date(until) } : {}),
      failures: state === 'closed' ? failures : 0,
      ...(fields.openedAt ? { openedAt: new Date(Number(fields.openedAt)) } : {}),
      opens: Number(fields.opens ?? 0),
      manual: fields.manual === '1',
      failureThreshold: entry.options.failureThreshold,
      windowMs: entry.options.windowMs,
      cooldownMs: entry.options.cooldownMs,
    };
  }

  /**
   * Opens breaker `name` now, in every worker process: its tasks' jobs wait. With `for`, a
   * probe runs once that time has passed, as after an automatic opening; without it, the
   * breaker stays open until `close(name)`.
   */
  async open(name: string, options?: { for?: Duration }): Promise<void> {
    this.registry.breaker(name);
    const fail: Fail = (problem) => {
      throw new InvalidTaskOptionsError(undefined, `${problem} (circuit breaker '${name}')`);
    };
    let ms = -1;
    if (options !== undefined) {
      const o = checkObject(options, 'options', fail);
      checkKnownKeys(o, ['for'], 'options', fail);
      if (o.for !== undefined) {
        ms = parseDuration(o.for, 'options.for', fail);
        if (ms === 0) fail('options.for must be greater than 0');
      }
    }
    await this.queues.send(() => this.scripts.call('open', name, ms));
  }

  /**
   * Closes breaker `name` now: every worker process lets its tasks' jobs run again, the
   * waiting ones first, and its failure count starts from zero.
   */
  async close(name: string): Promise<void> {
    this.registry.breaker(name);
    await this.queues.send(() => this.scripts.call('close', name));
  }
}
