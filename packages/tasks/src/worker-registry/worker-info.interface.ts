/** A job a worker process runs now, as its last heartbeat listed it. */
export interface RunningJob {
  task: string;
  jobId: string;
  queue: string;
  /** When the worker took the job (its clock). */
  startedAt: Date;
}

/** A running job and the worker process that runs it, as `Workers.active()` lists them. */
export interface ActiveJob extends RunningJob {
  /** The worker process's id, as in `WorkerInfo.id`. */
  worker: string;
  host: string;
  pid: number;
}

/** One queue a worker process consumes. */
export interface WorkerQueue {
  name: string;
  /** Jobs of this queue the process runs at once now (declared, or set by `TaskControl`). */
  concurrency: number;
  /** Jobs of this queue it runs now. */
  running: number;
  /** Runs of this queue it finished (succeeded or failed) within the last `windowMs`. */
  finished: number;
  /** Average run time of those runs, in ms; 0 when none finished. */
  averageRunMs: number;
  /** The time `finished` covers: a minute, or less for a process that started since. */
  windowMs: number;
}

/** A live worker process of the app (one with the same `prefix`). */
export interface WorkerInfo {
  /** `<host>:<pid>:<random>`: unique even when two processes share host and pid (containers). */
  id: string;
  host: string;
  pid: number;
  /** Its `@conveyor/tasks` version. */
  version: string;
  /** When its workers started (its clock). */
  startedAt: Date;
  /** Its last heartbeat (Redis's clock). */
  lastSeenAt: Date;
  /** When its entry expires unless it beats again (Redis's clock). */
  expiresAt: Date;
  /** Shutting down: it takes no new job and finishes (or hands back) those it runs. */
  stopping: boolean;
  queues: WorkerQueue[];
  /** The jobs it runs, oldest first (at most 100; `queues[].running` has the counts). */
  running: RunningJob[];
}

/** A worker process's answer to `Workers.ping()`. */
export interface PingReply {
  id: string;
  host: string;
  pid: number;
  version: string;
  /** Queues it consumes. */
  queues: string[];
  /** Jobs it runs now. */
  running: number;
  /** Time from the ping to this answer, in ms. */
  latencyMs: number;
}
