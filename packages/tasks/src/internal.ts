// `@conveyor/tasks/internal`: what Conveyor's own packages (@conveyor/outbox, health, metrics)
// share with this one, so that, say, writing a job to the outbox runs exactly the checks of
// TaskProducer.enqueue. Not part of the stable API: any release may change it. Apps import
// from '@conveyor/tasks'.
export { checkPayload, checkSchema } from './payload/validate-payload';
export { buildJobOptions, payloadJobId } from './producer/job-options';
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
