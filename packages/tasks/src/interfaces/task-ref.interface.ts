import type { TaskOptions } from './task-options.interface';

/**
 * A typed reference to a task, created once with `defineTask()` and shared by the code that
 * enqueues it and the handler that runs it. `P` is the payload a producer sends, `R` the
 * handler's result, and `H` the payload the handler receives: the schema's output when the
 * task has a schema that transforms or fills defaults, otherwise `P`.
 */
export interface TaskRef<P = unknown, R = unknown, H = P> {
  readonly name: string;
  readonly options: Readonly<TaskOptions<P>>;
  /** Type carriers only; never set at run time. */
  readonly __payload?: P;
  readonly __result?: R;
  readonly __handlerPayload?: H;
}

/** Payload type of a task reference. */
export type PayloadOf<T> = T extends TaskRef<infer P, unknown, unknown> ? P : never;
/** Result type of a task reference. */
export type ResultOf<T> = T extends TaskRef<unknown, infer R, unknown> ? R : never;
