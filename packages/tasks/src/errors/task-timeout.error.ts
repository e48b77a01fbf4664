import { ConveyorError } from './conveyor.error';

/** A run passed its time limit. The soft limit aborts `ctx.signal` with this error as reason. */
export class TaskTimeoutError extends ConveyorError {
  override readonly name = 'TaskTimeoutError';

  constructor(
    readonly taskName: string,
    readonly limitMs: number,
    readonly kind: 'soft' | 'hard',
  ) {
    super(`Task "${taskName}" passed its ${kind} time limit of ${limitMs} ms`);
  }
}
