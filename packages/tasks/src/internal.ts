// `@conveyor/tasks/internal`: what Conveyor's own packages (@conveyor/outbox, health, metrics)
// share with this one, so that, say, writing a job to the outbox runs exactly the checks of
// TaskProducer.enqueue. Not part of the stable API: any release may change it. Apps import
// from '@conveyor/tasks'.
export { checkPayload, checkSchema } from './payload/validate-payload';
export { buildJobOptions, payloadJobId, routeJob } from './producer/job-options';
export { TaskRouting, type Route } from './routing/task-routing';
export { checkKnownKeys, nearest, parseDuration, type Fail } from './options/validation';
export { CLOSE_GRACE_MS, settleWithin, type Settlement } from './lifecycle/settle-within';
export { ConveyorRedis } from './redis/conveyor-redis';
export { KeyLayout, WORKFLOW_QUEUE } from './redis/key-layout';
export { openConnection, type RedisClient, type ResolvedConnection } from './redis/open-connection';
export { TasksRegistry, type RegisteredTask, type TaskDefinition } from './tasks.registry';
export { RESOLVED_TASKS_OPTIONS } from './tasks.constants';
export { TASKS_MODULE_OPTIONS } from './tasks.module-definition';
export type { ResolvedModuleOptions, ResolvedQueueOptions } from './options/module-options';
export type { ResolvedTaskOptions } from './options/task-options';
export { OUTBOX_STATS, findOutboxStats } from './instrumentation/outbox-stats';
export {
  captureTrace,
  conveyorTracer,
  restoreTrace,
  type TraceCarrier,
} from './instrumentation/task-tracing';
export { eventNameOf } from './define-event';

// What @conveyor/testing runs tasks inline with: the same discovery, option checks, hooks,
// time limits, retry decisions and workflow planning as a worker.
export { resolveModuleOptions } from './options/module-options';
export { TasksExplorer } from './tasks.explorer';
export { TasksMetadataAccessor } from './tasks-metadata.accessor';
export {
  TaskSchedules,
  DECLARED_SCHEDULE_PREFIX,
  checkScheduleId,
  checkSchedulePayload,
} from './schedules/task-schedules';
export { nextRunOf, resolveSchedule, type ResolvedSchedule } from './schedules/schedule-spec';
export { STEP_ENVELOPE_KEY } from './workflows/step-input';
export { TaskHooksRunner, type DeadLetteredJob } from './worker/task-hooks-runner';
export { InFlightRun } from './worker/in-flight-run';
export type { ContextJob } from './worker/task-context';
export { backoffDelay, retryDelayOf } from './worker/backoff';
export { isFinalFailure } from './outcome/run-outcome';
export {
  handleQueue,
  prepareEnqueue,
  prepareEnqueueMany,
  type PreparedJob,
} from './producer/job-options';
export type { TaskHandleSource } from './producer/task-handle';
export { WorkflowPlanner, type PlannedStep, type WorkflowPlan } from './workflows/workflow-plan';
export type { WorkflowSource } from './workflows/workflow-handle';
export {
  checkKnownQueue,
  checkPage,
  matchesDeadLetter,
  purgeEach,
  replayEach,
} from './dead-letters/dead-letters.service';

// Conveyor's structured log lines, for every package's logs.
export { ConveyorLogger, errorField, type LogFields } from './logging/conveyor-logger';

// @conveyor/testing stores run-time controls in memory in ControlStore's place.
export {
  ControlStore,
  type StoredControls,
  type StoredRate,
  type TaskOverrides,
} from './control/control-store';
export { BreakerRuns } from './breakers/breaker-runs';
export { RunControls } from './control/run-controls';
export { resultTimeoutMs } from './producer/job-results';

// @conveyor/testing keeps the worker registry in memory in WorkerStore's place; the probe
// server's address is read by tests.
export { WorkerStore, type StoredWorker } from './worker-registry/worker-store';
export { WorkerProbe } from './probe/worker-probe';
// The thread pool of isolated tasks: how many threads are alive (tests, health probes).
export { TaskThreads } from './threads/task-threads';

// The payload-field index: written by the producer and the outbox relay, read by the dashboard.
export { SearchIndex, searchPairs, type SearchEntries } from './search/search-index';
export { SEARCHABLE_FIELD } from './options/task-options';
