import { SetMetadata } from '@nestjs/common';
import type {
  EventPayloadOf,
  EventSubscription,
  SubscribableBy,
} from '../interfaces/event-ref.interface';
import type { TaskOptions } from '../interfaces/task-options.interface';
import type { TaskRef } from '../interfaces/task-ref.interface';
import type { TaskSchedule } from '../schedules/schedule-spec';
import { TASK_METADATA } from '../tasks.constants';
import type { TaskContext } from '../worker/task-context';

/** Options of `@Task()`: the task's options, plus a schedule for the handler's app. */
export type TaskHandlerOptions<P = unknown> = TaskOptions<P> & {
  /**
   * Run the task by itself: `{ cron: '0 3 * * *', tz: 'Europe/Paris' }` or `{ every: '5m' }`.
   * Registered as a BullMQ job scheduler at startup; one job per tick across all processes.
   */
  schedule?: TaskSchedule<P>;
};

/** What `@Task()` records on a method; read back by the explorer at startup. */
export interface TaskMetadata {
  task: TaskRef | string;
  options?: TaskHandlerOptions;
}

/** The shape a handler for a task with payload `P` and result `R` must have. */
export type TaskHandlerFn<P, R> = (payload: P, ctx: TaskContext) => R | Promise<R>;

// Generic in the method's own type, so the check is "the method fits the handler shape"
// (a descriptor of the exact shape would be invariant and reject fewer parameters).
type TypedMethodDecorator<F> = <M extends F>(
  target: object,
  propertyKey: string | symbol,
  descriptor: TypedPropertyDescriptor<M>,
) => void;

/**
 * Marks a provider method as the handler of a task. Handlers are found when the app starts;
 * the method receives the payload and a `TaskContext`. With a `TaskRef`, the compiler checks
 * that the method's payload and return types match the definition, and that the payload of
 * every `defineEvent()` reference in `on` fits the task's payload. With a task name, the
 * method's payload must accept the payload of every event reference in `on`.
 *
 * @example
 * @Injectable()
 * export class EmailTasks {
 *   @Task(SendWelcome)
 *   async sendWelcome(payload: { userId: string }, ctx: TaskContext): Promise<void> {
 *     ctx.log.log(`welcoming ${payload.userId}`);
 *   }
 *
 *   @Task(NightlyReport, { schedule: { cron: '0 3 * * *', tz: 'Europe/Paris' } })
 *   async nightly(): Promise<void> {}
 *
 *   @Task(WelcomeOnSignup, { on: UserSignedUp }) // one job per outbox.emit(UserSignedUp, …)
 *   async welcomeOnSignup(payload: { userId: string }): Promise<void> {}
 * }
 */
export function Task<P, R, H, E extends EventSubscription = never>(
  task: TaskRef<P, R, H>,
  // `on` is typed apart from `P`, so an event never widens the payload inferred from the ref;
  // a mismatch leaves it a type no value has, and the error names both payloads.
  options?: Omit<TaskHandlerOptions<P>, 'on'> & { on?: E & SubscribableBy<E, P> },
): TypedMethodDecorator<TaskHandlerFn<H, R>>;
export function Task<E extends EventSubscription = never>(
  name: string,
  options?: Omit<TaskHandlerOptions, 'on'> & { on?: E },
): [EventPayloadOf<E>] extends [never]
  ? MethodDecorator
  : TypedMethodDecorator<TaskHandlerFn<EventPayloadOf<E>, unknown>>;
export function Task(task: TaskRef | string, options?: TaskHandlerOptions): MethodDecorator {
  return SetMetadata<string, TaskMetadata>(TASK_METADATA, { task, options });
}
