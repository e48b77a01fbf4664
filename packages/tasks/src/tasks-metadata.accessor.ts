import { Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { TaskMetadata } from './decorators/task.decorator';
import { TASK_METADATA } from './tasks.constants';

/** The one place that reads `@Task()` metadata. */
@Injectable()
export class TasksMetadataAccessor {
  constructor(private readonly reflector: Reflector) {}

  getTaskMetadata(method: unknown): TaskMetadata | undefined {
    if (typeof method !== 'function') return undefined;
    return this.reflector.get<TaskMetadata | undefined>(TASK_METADATA, method);
  }
}
