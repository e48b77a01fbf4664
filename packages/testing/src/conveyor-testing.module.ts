import { type DynamicModule, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import {
  CircuitBreakers,
  DeadLetters,
  TaskControl,
  TaskInstrumentation,
  TaskProducer,
  Workers,
  WorkflowInstrumentation,
  Workflows,
} from '@conveyor/tasks';
import {
  ControlStore,
  RESOLVED_TASKS_OPTIONS,
  TaskHooksRunner,
  TaskSchedules,
  TasksExplorer,
  TasksMetadataAccessor,
  TasksRegistry,
  WorkerStore,
} from '@conveyor/tasks/internal';
import { InlineControlStore } from './inline/inline-control-store';
import { InlineCircuitBreakers } from './inline/inline-circuit-breakers';
import { InlineDeadLetters } from './inline/inline-dead-letters';
import { InlineJobs } from './inline/inline-jobs';
import { InlineSchedules } from './inline/inline-schedules';
import { InlineTaskProducer } from './inline/inline-task-producer';
import { InlineWorkerStore } from './inline/inline-worker-store';
import { InlineWorkflows } from './inline/inline-workflows';
import { UnsupportedWorkflows } from './inline/unsupported-workflows';
import { TestTasks } from './test-tasks';
import {
  type ConveyorTestingOptions,
  type ResolvedTestingOptions,
  resolveTestingOptions,
  TESTING_OPTIONS,
} from './testing-options';

/**
 * `TasksModule` for unit tests: the same `@Task()` discovery and checks, with jobs run in the
 * test's process instead of on Redis. Provides `TaskProducer` and `DeadLetters` (in memory)
 * and `TestTasks`, the test's view of the jobs. Opens no connection.
 *
 * @example
 * const moduleRef = await Test.createTestingModule({
 *   imports: [ConveyorTestingModule.forRoot()],
 *   providers: [SignupService, EmailTasks],
 * }).compile();
 * await moduleRef.init();
 */
@Module({})
export class ConveyorTestingModule {
  static forRoot(options: ConveyorTestingOptions = {}): DynamicModule {
    const resolved = resolveTestingOptions(options);
    return {
      module: ConveyorTestingModule,
      global: resolved.isGlobal,
      imports: [DiscoveryModule],
      providers: [
        { provide: TESTING_OPTIONS, useValue: resolved },
        {
          provide: RESOLVED_TASKS_OPTIONS,
          inject: [TESTING_OPTIONS],
          useFactory: (testing: ResolvedTestingOptions) => testing.tasks,
        },
        TasksMetadataAccessor,
        TasksRegistry,
        TasksExplorer,
        TaskInstrumentation,
        TaskHooksRunner,
        InlineSchedules,
        { provide: TaskSchedules, useExisting: InlineSchedules },
        InlineJobs,
        InlineWorkflows,
        InlineTaskProducer,
        { provide: TaskProducer, useExisting: InlineTaskProducer },
        InlineDeadLetters,
        { provide: DeadLetters, useExisting: InlineDeadLetters },
        InlineControlStore,
        { provide: ControlStore, useExisting: InlineControlStore },
        TaskControl,
        InlineCircuitBreakers,
        { provide: CircuitBreakers, useExisting: InlineCircuitBreakers },
        InlineWorkerStore,
        { provide: WorkerStore, useExisting: InlineWorkerStore },
        Workers,
        UnsupportedWorkflows,
        { provide: Workflows, useExisting: UnsupportedWorkflows },
        WorkflowInstrumentation,
        TestTasks,
      ],
      exports: [
        TaskProducer,
        DeadLetters,
        TaskControl,
        CircuitBreakers,
        Workers,
        Workflows,
        WorkflowInstrumentation,
        TasksRegistry,
        TaskInstrumentation,
        RESOLVED_TASKS_OPTIONS,
        TestTasks,
      ],
    };
  }
}
