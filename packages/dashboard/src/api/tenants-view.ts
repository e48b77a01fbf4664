import { Injectable } from '@nestjs/common';
import { QueueInspector, type TenantPage } from '@conveyor/tasks';
import { checkKnownQueue, TasksRegistry } from '@conveyor/tasks/internal';

/** Queues of this app whose tasks have per-key limits (`concurrencyKey` or `lock`). */
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

  /** The queues that have keyed tasks, with those tasks, by name. */
  queues(): TenantQueues {
    const byQueue = new Map<string, string[]>();
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
