import { Inject, Injectable } from '@nestjs/common';
import {
  DuplicateTaskError,
  InvalidTaskOptionsError,
  UnknownCircuitBreakerError,
  UnknownTaskError,
} from './errors';
import type { TaskRef } from './interfaces/task-ref.interface';
import type { ResolvedModuleOptions } from './options/module-options';
import {
  type ResolvedCircuitBreaker,
  resolveTaskOptions,
  type ResolvedTaskOptions,
} from './options/task-options';
import { RESOLVED_TASKS_OPTIONS } from './tasks.constants';
import type { TaskContext } from './worker/task-context';

/** A task this process can run. */
export interface RegisteredTask {
  name: string;
  options: ResolvedTaskOptions;
  handler: (payload: unknown, ctx: TaskContext) => unknown;
  /** `Class.method`, for messages. */
  owner: string;
}

/** A task as a producer sees it: its name and resolved options. */
export interface TaskDefinition {
  name: string;
  options: ResolvedTaskOptions;
}

/** Task name → handler and options, filled by the explorer at startup. */
@Injectable()
export class TasksRegistry {
  private readonly tasks = new Map<string, RegisteredTask>();
  // A TaskRef whose handler lives in another service is resolved once, not per enqueue.
  private readonly remoteRefs = new WeakMap<TaskRef, TaskDefinition>();

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly moduleOptions: ResolvedModuleOptions,
  ) {}

  register(registered: RegisteredTask): void {
    const existing = this.tasks.get(registered.name);
    if (existing) throw new DuplicateTaskError(registered.name, existing.owner, registered.owner);
    const task = { ...registered, options: this.routed(registered.name, registered.options) };
    this.checkQueueDeclared(task.name, task.options.queue);
    this.checkSharedBreaker(task);
    this.tasks.set(task.name, task);
  }

  get(name: string): RegisteredTask | undefined {
    return this.tasks.get(name);
  }

  names(): string[] {
    return [...this.tasks.keys()];
  }

  all(): RegisteredTask[] {
    return [...this.tasks.values()];
  }

  /** Tasks with a handler in this app that subscribe to `event` (`@Task(ref, { on })`). */
  subscribers(event: string): RegisteredTask[] {
    return this.all().filter((task) => task.options.on.includes(event));
  }

  /** The circuit breakers of this app's tasks, by name, with the tasks that use each. */
  breakers(): Map<string, { options: ResolvedCircuitBreaker; tasks: RegisteredTask[] }> {
    const breakers = new Map<
      string,
      { options: ResolvedCircuitBreaker; tasks: RegisteredTask[] }
    >();
    for (const task of this.all()) {
      const options = task.options.circuitBreaker;
      if (!options) continue;
      const entry = breakers.get(options.name) ?? { options, tasks: [] };
      entry.tasks.push(task);
      breakers.set(options.name, entry);
    }
    return breakers;
  }

  /** Breaker `name` of this app's tasks; `UnknownCircuitBreakerError` naming the known ones. */
  breaker(name: unknown): { options: ResolvedCircuitBreaker; tasks: RegisteredTask[] } {
    const breakers = this.breakers();
    const entry = typeof name === 'string' ? breakers.get(name) : undefined;
    if (!entry) throw new UnknownCircuitBreakerError(String(name), [...breakers.keys()].sort());
    return entry;
  }

  /** True when a task of `queue` handled here has a run limit (slots, a rate, a breaker). */
  hasLimits(queue: string): boolean {
    return this.all().some(
      (task) =>
        this.queuesOf(task).includes(queue) &&
        (task.options.maxConcurrent !== undefined ||
          task.options.rateLimit !== undefined ||
          task.options.circuitBreaker !== undefined),
    );
  }

  /**
   * Queues that at least one handler in this process routes to: its routed queue, and every
   * declared queue when a `router` may send its jobs there.
   */
  handledQueues(): Set<string> {
    return new Set(this.all().flatMap((task) => this.queuesOf(task)));
  }

  /** Queues this app knows, sorted: those it declares and those its handlers route to. */
  knownQueues(): string[] {
    const declared = this.moduleOptions.queues?.keys() ?? [];
    return [...new Set([...declared, ...this.handledQueues()])].sort();
  }

  /** Every queue `task`'s jobs may be routed to. */
  queuesOf(task: TaskDefinition): string[] {
    return this.moduleOptions.routing.queuesOf(task.options.queue);
  }

  /**
   * What a producer needs to enqueue `task`. A name must belong to a handler in this app; a
   * `TaskRef` is its own definition, so a service may enqueue tasks that another runs.
   */
  definition(task: TaskRef | string): TaskDefinition {
    const name = typeof task === 'string' ? task : task?.name;
    const local = typeof name === 'string' ? this.tasks.get(name) : undefined;
    if (local) return local;
    if (typeof task === 'string' || typeof name !== 'string') {
      throw new UnknownTaskError(String(name), this.names());
    }
    let remote = this.remoteRefs.get(task);
    if (!remote) {
      remote = {
        name,
        options: this.routed(
          name,
          resolveTaskOptions(name, [this.moduleOptions.defaults, task.options]),
        ),
      };
      this.checkQueueDeclared(name, remote.options.queue);
      this.remoteRefs.set(task, remote);
    }
    return remote;
  }

  /** A task's options with the first matching `routes` glob applied (queue, priority). */
  private routed(name: string, options: ResolvedTaskOptions): ResolvedTaskOptions {
    const route = this.moduleOptions.routing.staticRoute(name);
    if (!route) return options;
    return { ...options, queue: route.queue, priority: route.priority ?? options.priority };
  }

  /** Tasks that share a breaker by name must agree on when it opens and for how long. */
  private checkSharedBreaker(task: RegisteredTask): void {
    const mine = task.options.circuitBreaker;
    if (!mine) return;
    const other = this.all().find((t) => t.options.circuitBreaker?.name === mine.name);
    const theirs = other?.options.circuitBreaker;
    if (!other || !theirs) return;
    const differs = (['failureThreshold', 'windowMs', 'cooldownMs', 'isFailure'] as const).filter(
      (key) => theirs[key] !== mine[key],
    );
    if (differs.length) {
      throw new InvalidTaskOptionsError(
        task.name,
        `circuitBreaker '${mine.name}' is shared with task '${other.name}', which gives a ` +
          `different ${differs.map((k) => k.replace(/Ms$/, '')).join(', ')}; a shared breaker ` +
          'needs the same settings in every task that names it',
      );
    }
  }

  private checkQueueDeclared(taskName: string, queue: string): void {
    const declared = this.moduleOptions.queues;
    if (declared && !declared.has(queue)) {
      throw new InvalidTaskOptionsError(
        taskName,
        `queue '${queue}' is not declared in TasksModule.forRoot({ queues }); declared: ${[...declared.keys()].join(', ')}`,
      );
    }
  }
}
