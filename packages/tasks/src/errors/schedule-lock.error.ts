import { ConveyorError } from './conveyor.error';

/**
 * Schedules are changed under one Redis lock per prefix, so that processes booting or calling
 * `TaskProducer.schedule()` at once take turns. `timeout`: another process held it for the
 * whole wait (it expires by itself if that process died). `lost`: this process held it but
 * could not renew it in time (Redis unreachable, event loop blocked), so it stopped before
 * changing more. Either way nothing is half-written that a retry does not fix: retry.
 */
export class ScheduleLockError extends ConveyorError {
  override readonly name = 'ScheduleLockError';

  constructor(
    readonly key: string,
    readonly reason: 'timeout' | 'lost',
    waitedMs?: number,
  ) {
    super(
      reason === 'timeout'
        ? `could not take the schedule lock ${key} within ${waitedMs} ms: another process is ` +
            'changing schedules (a lock left by a dead process expires by itself); retry'
        : `lost the schedule lock ${key} while changing schedules (Redis unreachable or the ` +
            'event loop blocked for longer than the lock lasts); retry',
    );
  }
}
