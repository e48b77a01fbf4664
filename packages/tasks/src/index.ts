export { TasksModule } from './tasks.module';
export { Task, type TaskHandlerFn, type TaskHandlerOptions } from './decorators/task.decorator';
export { defineTask } from './define-task';
export { TaskProducer } from './producer/task-producer';
export {
  TaskHandle,
  type ForgetOutcome,
  type TaskInfo,
  type TaskState,
} from './producer/task-handle';
export type { CancelOutcome } from './producer/task-cancellation';
export { DeadLetters } from './dead-letters/dead-letters.service';
export {
  TaskControl,
  type QueueLimits,
  type TaskLimits,
  type TaskLimitsChange,
} from './control/task-control';
export {
  CircuitBreakers,
  type CircuitBreakerInfo,
  type CircuitState,
} from './breakers/circuit-breakers';
export { Workers } from './worker-registry/workers';
export {
  TaskStats,
  type FailureGroup,
  type MinuteFigures,
  type QueueStats,
  type StatsTotals,
  type StatsWindow,
  type TaskStatsDetail,
  type TaskStatsSummary,
} from './stats/task-stats';
export type {
  ActiveJob,
  PingReply,
  RunningJob,
  WorkerInfo,
  WorkerQueue,
} from './worker-registry/worker-info.interface';
export type {
  DeadLetter,
  DeadLetterFilter,
  ReplayReport,
} from './dead-letters/dead-letter.interface';
export type { TaskEvent, TaskFailureEvent, TaskHooks } from './interfaces/task-hooks.interface';
export { TaskContext, type TaskLogger } from './worker/task-context';
export { TaskWorkers } from './worker/task-workers';
export { ConveyorQueues } from './producer/conveyor-queues';
export type { CronSchedule, IntervalSchedule, TaskSchedule } from './schedules/schedule-spec';
export type { ScheduleInfo } from './schedules/task-schedules';
export { TaskInstrumentation, type Sending } from './instrumentation/task-instrumentation';
export type { TaskFailure, TaskObserver } from './instrumentation/task-observer.interface';
export { QueueInspector, type QueueSnapshot } from './instrumentation/queue-inspector';
export type { TenantInfo, TenantPage, TenantQuery } from './instrumentation/queue-tenants';
export type { Duration, DurationString } from './interfaces/duration.interface';
export type { EnqueueOptions } from './interfaces/enqueue-options.interface';
export type {
  QueueOptions,
  RateLimit,
  HeartbeatOptions,
  StatsOptions,
  ProbeOptions,
  RateLimitString,
  RedisConnection,
  RouteTarget,
  TaskRouter,
  TasksModuleOptions,
  WorkersSelection,
} from './interfaces/module-options.interface';
export type {
  TaskIsolation,
  TaskThreadsOptions,
  ThreadModuleRef,
} from './interfaces/thread-options.interface';
export type {
  BackoffFunction,
  BackoffOptions,
  CircuitBreakerOptions,
  KeepJobs,
  TaskDefaults,
  TaskOptions,
} from './interfaces/task-options.interface';
export type { PayloadOf, ResultOf, TaskRef } from './interfaces/task-ref.interface';
export {
  chain,
  chord,
  group,
  step,
  type ChainOptions,
  type ChordOptions,
  type GroupOptions,
  type StepOptions,
  type LastResult,
  type MemberFailurePolicy,
  type NodeResult,
  type NodeResults,
  type WorkflowChain,
  type WorkflowChord,
  type WorkflowGroup,
  type WorkflowNode,
  type WorkflowStep,
} from './workflows/workflow-nodes';
export { WorkflowHandle, type WorkflowStepInfo } from './workflows/workflow-handle';
export type { RecentWorkflow } from './workflows/workflow-producer';
export { isStepFailure, type StepFailure } from './workflows/step-input';
export {
  compensateWith,
  defineWorkflow,
  type Compensation,
  type WorkflowContext,
  type WorkflowStepOptions,
  type WorkflowDefinition,
  type WorkflowFn,
} from './durable/define-workflow';
export {
  Workflows,
  type DurableWorkflowHandle,
  type WorkflowHistoryEntry,
  type WorkflowInfo,
} from './durable/workflows.service';
export type { WorkflowStatus } from './durable/durable-store';
export type { StoredError as WorkflowError } from './durable/workflow-replay';
export { WorkflowInstrumentation, type WorkflowObserver } from './durable/workflow-instrumentation';
export * from './errors';

// What a payload check runs (also used by TaskPayloadPipe), for apps that check early.
export { validatePayload } from './payload/validate-payload';
export type { HashTags } from './redis/key-layout';

// HTTP
export {
  ConveyorExceptionFilter,
  type ConveyorExceptionFilterOptions,
} from './http/conveyor-exception.filter';
export { TaskPayloadPipe } from './http/task-payload.pipe';
export type { TaskBadRequestBody, TaskUnavailableBody } from './http/error-bodies';

// Events
export { defineEvent, isEventRef } from './define-event';
export type { EventPayloadOf, EventRef, EventSubscription } from './interfaces/event-ref.interface';
export { InvalidEventError } from './errors/invalid-event.error';
