import { Injectable } from '@nestjs/common';
import { QueueInspector, type TenantPage } from '@conveyor/tasks';
import { checkKnownQueue, TasksRegistry } from '@conveyor/tasks/internal';

/**
 * Every queue this app knows, with its tasks that have per-key limits (`concurrencyKey` or
 * `lock`) among those it has handlers for: a process without handlers still lists the queues
 * (and reads their keys), with no task named.
 */
export interface TenantQueues {
  queues: Array<{ queue: string; tasks: string[] }>;
}

/**
 * The tenants view: each key of a `concurrencyKey` or `lock` task with its running jobs, its
 * limit and its parked jobs, from `QueueInspector.tenants()` (a bounded read a page).
 */
@Injectable()
export class TenantsView {
  constructor(
    private readonly inspector: QueueInspector,
    private readonly registry: TasksRegistry,
  ) {}

  /** Every known queue, by name, with its keyed tasks. */
  queues(): TenantQueues {
    const byQueue = new Map<string, string[]>(
      this.registry.knownQueues().map((queue) => [queue, []]),
    );
    for (const task of this.registry.all()) {
      if (!task.options.limitKey) continue;
      for (const queue of this.registry.queuesOf(task)) {
        byQueue.set(queue, [...(byQueue.get(queue) ?? []), task.name].sort());
      }
    }
    return {
      queues: [...byQueue.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([queue, tasks]) => ({ queue, tasks })),
    };
  }

  /** One page of `queue`'s keys, most parked first. */
  page(queue: string, query: { limit: number; cursor?: string }): Promise<TenantPage> {
    const name = checkKnownQueue(queue, this.registry.knownQueues());
    return this.inspector.tenants(name, query);
  }
}
