import { isMainThread, workerData } from 'node:worker_threads';

/** The key of a Conveyor thread's `workerData`: what it boots, and the mark that it is one. */
export const THREAD_DATA_KEY = 'conveyorThread';

/**
 * True inside a worker thread of Conveyor's pool. A `TasksModule` booted there (the thread's
 * module may import it, for `TaskProducer`) consumes no queue and declares no schedule: the
 * process that started the thread does both.
 */
export function insideConveyorThread(): boolean {
  return (
    !isMainThread &&
    typeof workerData === 'object' &&
    workerData !== null &&
    THREAD_DATA_KEY in workerData
  );
}
