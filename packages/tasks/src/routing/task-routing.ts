import type { EnqueueOptions } from '../interfaces/enqueue-options.interface';
import type { TaskRouter } from '../interfaces/module-options.interface';
import { checkQueueName, MAX_PRIORITY } from '../options/task-options';
import {
  checkInteger,
  checkKnownKeys,
  describe,
  type Fail,
  isPlainObject,
} from '../options/validation';

/** Where one job goes: a queue, and the priority the route gives it, if any. */
export interface Route {
  queue: string;
  priority?: number;
}

interface CompiledRoute {
  pattern: string;
  segments: Array<RegExp | '**'>;
  target: Route;
}

// Letters, digits and `_ - /` as in task names, plus `*` wildcards.
const SEGMENT = /^[A-Za-z0-9_\-/*]+$/;

/**
 * The module's routing, resolved once at startup: `routes` globs (static, one answer per task
 * name) and the `router` function (dynamic, asked at every enqueue).
 *
 * Precedence for one job: the call site's `{ queue }` > the `router` > the first matching
 * `routes` glob > the task's own `queue` > `'default'`. The first two are chosen at enqueue
 * time, so they may only name declared queues, and a process that handles tasks consumes every
 * declared queue when the app has a `router`: a job is never put where no worker looks.
 */
export class TaskRouting {
  private readonly cache = new Map<string, Route | undefined>();

  constructor(
    private readonly routes: readonly CompiledRoute[] = [],
    private readonly router?: TaskRouter,
    private readonly declared?: ReadonlyMap<string, unknown>,
  ) {}

  /** True when a `router` may send a task's jobs to any declared queue. */
  get dynamic(): boolean {
    return this.router !== undefined;
  }

  /** The first `routes` entry whose glob matches `taskName`. */
  staticRoute(taskName: string): Route | undefined {
    if (!this.cache.has(taskName)) {
      const found = this.routes.find((route) => matchSegments(route.segments, taskName.split('.')));
      this.cache.set(taskName, found?.target);
    }
    return this.cache.get(taskName);
  }

  /**
   * Every queue a task whose static queue is `queue` may be routed to: with a `router`, every
   * declared queue; else its own.
   */
  queuesOf(queue: string): string[] {
    return this.dynamic && this.declared ? [...this.declared.keys()] : [queue];
  }

  /**
   * The queue of one job of `taskName`, whose static queue (its own `queue` after `routes`) is
   * `staticQueue`: the call site's `queue`, else the router's answer, else `undefined` (the
   * static queue and priority stand). Failures name the task through `fail`.
   */
  route(
    taskName: string,
    staticQueue: string,
    payload: unknown,
    options: EnqueueOptions | undefined,
    fail: Fail,
  ): Route | undefined {
    if (options?.queue !== undefined) {
      const queue = checkQueueName(options.queue, 'queue', fail);
      if (queue === staticQueue) return { queue };
      this.checkDeclared(queue, `queue '${queue}' was given`, fail);
      if (!this.dynamic) {
        fail(
          `queue '${queue}' is declared, but workers of this task consume only '${staticQueue}': ` +
            `route it there with TasksModule.forRoot({ routes }), or give a router (every declared ` +
            `queue is then consumed wherever tasks run)`,
        );
      }
      return { queue };
    }
    if (!this.router) return undefined;
    const { queue: _, ...rest } = options ?? {};
    const answer = this.router(taskName, payload, rest);
    if (answer === undefined) return undefined;
    const route = checkTarget(answer, "the router's answer", fail);
    if (route.queue !== staticQueue)
      this.checkDeclared(route.queue, `the router chose queue '${route.queue}'`, fail);
    return route;
  }

  /** `subject` is how the message names the queue: `queue 'x'`, `the router chose queue 'x'`. */
  private checkDeclared(queue: string, subject: string, fail: Fail): void {
    if (!this.declared) {
      fail(
        `${subject}, but a queue chosen at enqueue time must be declared in ` +
          `TasksModule.forRoot({ queues }), so that workers consume it`,
      );
    }
    if (!this.declared.has(queue)) {
      fail(
        `${subject}, which is not declared in TasksModule.forRoot({ queues }); ` +
          `declared: ${[...this.declared.keys()].join(', ')}`,
      );
    }
  }
}

/**
 * Checks `routes` and `router` at startup and compiles the globs. A pattern is task-name
 * segments separated by `.`: `*` matches one whole segment (and within a segment, any run of
 * characters: `send*`), `**` any number of segments, including none.
 */
export function resolveRouting(
  routes: unknown,
  router: unknown,
  declared: ReadonlyMap<string, unknown> | undefined,
  fail: Fail,
): TaskRouting {
  const compiled: CompiledRoute[] = [];
  if (routes !== undefined) {
    if (!isPlainObject(routes)) {
      fail(`routes must be an object of glob → queue, got ${describe(routes)}`);
    }
    for (const [pattern, target] of Object.entries(routes)) {
      const path = `routes['${pattern}']`;
      const segments = compileGlob(pattern, (problem) => fail(`${path}: ${problem}`));
      const route = checkTarget(target, path, fail);
      if (declared && !declared.has(route.queue)) {
        fail(
          `${path} targets queue '${route.queue}', which is not declared in queues; ` +
            `declared: ${[...declared.keys()].join(', ')}`,
        );
      }
      compiled.push({ pattern, segments, target: route });
    }
  }
  if (router !== undefined) {
    if (typeof router !== 'function') {
      fail(`router must be a function (task, payload, options) => queue, got ${describe(router)}`);
    }
    if (!declared) {
      fail(
        'router needs queues: the queues it returns must be declared in TasksModule.forRoot({ queues }), ' +
          'so that every one of them has workers',
      );
    }
  }
  return new TaskRouting(compiled, router as TaskRouter | undefined, declared);
}

/** A glob's segments: `'**'`, or a regular expression for one segment. */
export function compileGlob(pattern: string, fail: Fail): Array<RegExp | '**'> {
  if (typeof pattern !== 'string' || pattern === '') {
    fail(`a route pattern must be a non-empty string, got ${describe(pattern)}`);
  }
  return pattern.split('.').map((segment) => {
    if (segment === '**') return '**';
    if (segment === '') fail(`'${pattern}' has an empty segment (two dots, or one at an end)`);
    if (!SEGMENT.test(segment)) {
      fail(
        `segment '${segment}' of '${pattern}' may hold only letters, digits, _ - / and * wildcards`,
      );
    }
    if (segment.includes('**')) {
      fail(`'**' must be a whole segment ('a.**.b'), as in '${pattern}' it is not`);
    }
    const body = segment
      .split('*')
      .map((part) => part.replace(/[-/]/g, '\\$&'))
      .join('[^.]*');
    return new RegExp(`^${body}$`);
  });
}

/** True when `glob` (from `compileGlob`) matches every segment of `name`. */
export function matchSegments(
  glob: ReadonlyArray<RegExp | '**'>,
  name: readonly string[],
): boolean {
  if (glob.length === 0) return name.length === 0;
  const [head, ...rest] = glob;
  if (head === '**') {
    for (let skip = 0; skip <= name.length; skip++) {
      if (matchSegments(rest, name.slice(skip))) return true;
    }
    return false;
  }
  return name.length > 0 && head.test(name[0]) && matchSegments(rest, name.slice(1));
}

function checkTarget(target: unknown, path: string, fail: Fail): Route {
  if (typeof target === 'string') return { queue: checkQueueName(target, `${path} queue`, fail) };
  if (!isPlainObject(target)) {
    return fail(`${path} must be a queue name or { queue, priority }, got ${describe(target)}`);
  }
  checkKnownKeys(target, ['queue', 'priority'], path, fail);
  const route: Route = { queue: checkQueueName(target.queue, `${path}.queue`, fail) };
  if (target.priority !== undefined) {
    route.priority = checkInteger(target.priority, `${path}.priority`, 0, MAX_PRIORITY, fail);
  }
  return route;
}
