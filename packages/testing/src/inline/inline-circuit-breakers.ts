import { Injectable } from '@nestjs/common';
import { type CircuitBreakerInfo, type CircuitBreakers, type Duration } from '@conveyor/tasks';
import { TasksRegistry } from '@conveyor/tasks/internal';
import { InlineJobs } from './inline-jobs';

type CircuitBreakersApi = Pick<CircuitBreakers, 'list' | 'state' | 'open' | 'close'>;

/**
 * `CircuitBreakers` in memory. Inline jobs never open a breaker by failing (they run one at a
 * time, in the test's order); a breaker opened by hand holds its tasks' jobs until it is
 * closed, as on Redis, so a test can check what an app does while a dependency is cut off.
 */
@Injectable()
export class InlineCircuitBreakers implements CircuitBreakersApi {
  private readonly opened = new Map<string, { at: Date }>();
  private readonly opens = new Map<string, number>();

  constructor(
    private readonly registry: TasksRegistry,
    private readonly jobs: InlineJobs,
  ) {}

  async list(): Promise<CircuitBreakerInfo[]> {
    const names = [...this.registry.breakers().keys()].sort();
    return Promise.all(names.map((name) => this.state(name)));
  }

  async state(name: string): Promise<CircuitBreakerInfo> {
    const entry = this.registry.breaker(name);
    const opened = this.opened.get(name);
    const opens = this.opens.get(name) ?? 0;
    return {
      name,
      state: opened ? 'open' : 'closed',
      tasks: entry.tasks.map((task) => task.name).sort(),
      ...(opened ? { probeAt: null, openedAt: opened.at } : {}),
      failures: 0,
      opens,
      manual: opens > 0,
      failureThreshold: entry.options.failureThreshold,
      windowMs: entry.options.windowMs,
      cooldownMs: entry.options.cooldownMs,
    };
  }

  /** Holds the breaker's tasks' jobs until `close()`; `for` is accepted and not timed. */
  async open(name: string, _options?: { for?: Duration }): Promise<void> {
    const entry = this.registry.breaker(name);
    this.opened.set(name, { at: new Date() });
    this.opens.set(name, (this.opens.get(name) ?? 0) + 1);
    for (const task of entry.tasks) this.jobs.pauseTask(task.name);
  }

  async close(name: string): Promise<void> {
    const entry = this.registry.breaker(name);
    this.opened.delete(name);
    for (const task of entry.tasks) await this.jobs.resumeTask(task.name);
  }
}
