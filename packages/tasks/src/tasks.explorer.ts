import { Inject, Injectable, type OnModuleInit, Optional } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { isTaskRef } from './define-task';
import type { TaskHandlerOptions, TaskMetadata } from './decorators/task.decorator';
import { InvalidTaskOptionsError } from './errors';
import type { TaskOptions } from './interfaces/task-options.interface';
import type { ResolvedModuleOptions } from './options/module-options';
import { checkTaskName, checkTaskOptions, resolveTaskOptions } from './options/task-options';
import { isPlainObject } from './options/validation';
import { resolveSchedule } from './schedules/schedule-spec';
import { TaskSchedules } from './schedules/task-schedules';
import { RESOLVED_TASKS_OPTIONS } from './tasks.constants';
import { TasksMetadataAccessor } from './tasks-metadata.accessor';
import { TasksRegistry } from './tasks.registry';
import { ConveyorLogger } from './logging/conveyor-logger';
import { TaskThreads } from './threads/task-threads';

/** Finds every `@Task()` method on the app's providers at startup and registers it. No I/O. */
@Injectable()
export class TasksExplorer implements OnModuleInit {
  private readonly logger = new ConveyorLogger('Conveyor');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly accessor: TasksMetadataAccessor,
    private readonly registry: TasksRegistry,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly schedules: TaskSchedules,
    // Absent in @conveyor/testing, which runs every handler inline.
    @Optional() private readonly threads?: TaskThreads,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) this.explore(wrapper);
    this.threads?.checkConfigured(this.registry.all());
    const tasks = this.registry.names();
    this.logger.log(`registered ${tasks.length} task handler(s)`, { tasks });
  }

  private explore(wrapper: InstanceWrapper): void {
    if (wrapper.isAlias) return;
    const isStatic = wrapper.isDependencyTreeStatic();
    const instance = isStatic ? (wrapper.instance as object | undefined) : undefined;
    // `useValue` and factory providers have no metatype; their instance knows its class.
    const prototype: object | undefined = instance
      ? Object.getPrototypeOf(instance)
      : (wrapper.metatype as { prototype?: object } | null)?.prototype;
    if (!prototype || prototype === Object.prototype) return;

    for (const methodName of this.scanner.getAllMethodNames(prototype)) {
      const method = (prototype as Record<string, unknown>)[methodName];
      const metadata = this.accessor.getTaskMetadata(method);
      if (!metadata) continue;
      const owner = `${prototype.constructor?.name ?? wrapper.name}.${methodName}`;
      if (!instance) {
        throw new InvalidTaskOptionsError(
          taskNameOf(metadata),
          `handler ${owner} is on a request-scoped (or transient-dependent) provider; ` +
            'task handlers must live on singleton providers',
        );
      }
      this.register(metadata, owner, (method as (...args: unknown[]) => unknown).bind(instance));
    }
  }

  private register(
    metadata: TaskMetadata,
    owner: string,
    handler: (...args: unknown[]) => unknown,
  ) {
    const { task, options: handlerOptions } = metadata;
    // `schedule` belongs to the handler's app, not to the task: split it off before the
    // task options are checked, so those keep rejecting unknown keys.
    const { schedule, ...rest }: TaskHandlerOptions = isPlainObject(handlerOptions)
      ? handlerOptions
      : {};
    const options = isPlainObject(handlerOptions) ? rest : handlerOptions;
    const name = isTaskRef(task) ? task.name : task;
    const fail = (problem: string): never => {
      throw new InvalidTaskOptionsError(
        typeof name === 'string' ? name : undefined,
        `${problem} (in @Task() on ${owner})`,
      );
    };
    checkTaskName(name, fail);
    checkTaskOptions(options, '', fail);
    const layers: (TaskOptions | undefined)[] = [this.options.defaults];
    if (isTaskRef(task)) layers.push(task.options);
    layers.push(options);
    this.registry.register({ name, options: resolveTaskOptions(name, layers), handler, owner });
    if (schedule !== undefined) this.schedules.declare(name, resolveSchedule(name, schedule));
  }
}

function taskNameOf(metadata: TaskMetadata): string | undefined {
  return isTaskRef(metadata.task) ? metadata.task.name : metadata.task;
}
