import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import type { TasksModuleOptions } from './interfaces/module-options.interface';
import { resolveModuleOptions } from './options/module-options';
import { ConveyorQueues } from './producer/conveyor-queues';
import { DeadLetters } from './dead-letters/dead-letters.service';
import { JobResults } from './producer/job-results';
import { TaskCancellation } from './producer/task-cancellation';
import { TaskProducer } from './producer/task-producer';
import { RedisConnections } from './redis/redis-connections';
import { TaskSchedules } from './schedules/task-schedules';
import { RESOLVED_TASKS_OPTIONS } from './tasks.constants';
import { TasksExplorer } from './tasks.explorer';
import { TasksMetadataAccessor } from './tasks-metadata.accessor';
import { ConfigurableTasksModule, TASKS_MODULE_OPTIONS } from './tasks.module-definition';
import { TasksRegistry } from './tasks.registry';
import { TaskHooksRunner } from './worker/task-hooks-runner';
import { TaskInstrumentation } from './instrumentation/task-instrumentation';
import { QueueInspector } from './instrumentation/queue-inspector';
import { RunAdmission } from './admission/run-admission';
import { RunOutcome } from './outcome/run-outcome';
import { TaskRunner } from './worker/task-runner';
import { TaskWorkers } from './worker/task-workers';
import { TaskThreads } from './threads/task-threads';
import { WorkflowProducer } from './workflows/workflow-producer';
import { WorkflowWorker } from './workflows/workflow-worker';
import { ControlStore } from './control/control-store';
import { TaskControl } from './control/task-control';
import { RunControls } from './control/run-controls';
import { WorkflowFailures } from './workflows/workflow-failures';
import { SkippedSteps } from './workflows/skipped-steps';
import { BreakerRuns } from './breakers/breaker-runs';
import { CircuitBreakers } from './breakers/circuit-breakers';
import { WorkerStore } from './worker-registry/worker-store';
import { WorkerPresence } from './worker-registry/worker-presence';
import { RunHistory } from './stats/run-history';
import { TaskStats } from './stats/task-stats';
import { Workers } from './worker-registry/workers';
import { WorkerProbe } from './probe/worker-probe';
import { DurableState } from './durable/durable-state';
import { DurableRuns } from './durable/durable-runs';
import { DurableWorker } from './durable/durable-worker';
import { Workflows } from './durable/workflows.service';
import { WorkflowInstrumentation } from './durable/workflow-instrumentation';

/**
 * Background tasks on BullMQ. Import once in the root module; it is global by default.
 *
 * @example
 * TasksModule.forRoot({
 *   connection: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
 *   defaults: { attempts: 5, backoff: { type: 'exponential', delay: '1s', max: '10m', jitter: 0.2 } },
 *   queues: { email: { concurrency: 20, rateLimit: { max: 60, per: '1m' } } },
 * });
 *
 * @example
 * TasksModule.forRootAsync({
 *   imports: [ConfigModule],
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ connection: config.getOrThrow('REDIS_URL') }),
 * });
 */
@Module({
  imports: [DiscoveryModule],
  providers: [
    {
      provide: RESOLVED_TASKS_OPTIONS,
      inject: [TASKS_MODULE_OPTIONS],
      useFactory: (options: TasksModuleOptions) => resolveModuleOptions(options),
    },
    RedisConnections,
    TasksMetadataAccessor,
    TasksRegistry,
    TasksExplorer,
    ConveyorQueues,
    JobResults,
    TaskCancellation,
    DeadLetters,
    TaskSchedules,
    TaskProducer,
    TaskInstrumentation,
    QueueInspector,
    TaskHooksRunner,
    RunAdmission,
    RunOutcome,
    TaskThreads,
    TaskRunner,
    TaskWorkers,
    WorkflowProducer,
    WorkflowWorker,
    WorkflowFailures,
    SkippedSteps,
    ControlStore,
    TaskControl,
    RunControls,
    BreakerRuns,
    CircuitBreakers,
    WorkerStore,
    WorkerPresence,
    Workers,
    WorkerProbe,
    RunHistory,
    TaskStats,
    DurableState,
    DurableRuns,
    DurableWorker,
    Workflows,
    WorkflowInstrumentation,
  ],
  exports: [
    TaskProducer,
    TaskControl,
    CircuitBreakers,
    Workers,
    TaskStats,
    Workflows,
    WorkflowInstrumentation,
    DeadLetters,
    TasksRegistry,
    TaskWorkers,
    ConveyorQueues,
    TaskInstrumentation,
    QueueInspector,
    RESOLVED_TASKS_OPTIONS,
  ],
})
export class TasksModule extends ConfigurableTasksModule {}
