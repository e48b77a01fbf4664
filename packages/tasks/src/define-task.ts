import type { StandardSchemaV1 } from '@standard-schema/spec';
import { InvalidTaskOptionsError } from './errors';
import type { TaskOptions } from './interfaces/task-options.interface';
import type { TaskRef } from './interfaces/task-ref.interface';
import { checkTaskName, checkTaskOptions } from './options/task-options';

/**
 * Declares a task once, with its payload type `P`, result type `R` and options, for both the
 * producer (`TaskProducer.enqueue(ref, payload)`) and the handler (`@Task(ref)`). Options are
 * checked here, so a typo fails at import time with the task's name in the message.
 *
 * @example
 * export const SendWelcome = defineTask<{ userId: string }, void>('email.send-welcome', {
 *   queue: 'email',
 *   attempts: 3,
 *   backoff: { type: 'exponential', delay: '1s', max: '1m', jitter: 0.2 },
 * });
 *
 * @example
 * // With a schema, the payload types come from it: producers send its input, the handler
 * // receives its output. Give the schema's type first to name the result type too.
 * const Charge = defineTask<typeof ChargeSchema, Receipt>('payment.charge', { schema: ChargeSchema });
 */
export function defineTask<S extends StandardSchemaV1, R = unknown>(
  name: string,
  options: TaskOptions<StandardSchemaV1.InferInput<S>> & { schema: S },
): TaskRef<StandardSchemaV1.InferInput<S>, R, StandardSchemaV1.InferOutput<S>>;
export function defineTask<P = unknown, R = unknown>(
  name: string,
  options?: TaskOptions<P>,
): TaskRef<P, R>;
export function defineTask(name: string, options: TaskOptions = {}): TaskRef {
  checkTaskName(name, (problem) => {
    throw new InvalidTaskOptionsError(undefined, problem);
  });
  checkTaskOptions(options, '', (problem) => {
    throw new InvalidTaskOptionsError(name, problem);
  });
  return Object.freeze({ name, options: Object.freeze({ ...options }) });
}

export function isTaskRef(value: unknown): value is TaskRef {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as TaskRef).name === 'string' &&
    typeof (value as TaskRef).options === 'object'
  );
}
