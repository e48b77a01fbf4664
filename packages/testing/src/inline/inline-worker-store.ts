import { Injectable } from '@nestjs/common';
import type { PingReply, WorkerInfo } from '@conveyor/tasks';
import type { WorkerStore } from '@conveyor/tasks/internal';

type WorkerStoreApi = Pick<WorkerStore, 'list' | 'ping'>;

/**
 * `Workers`' store in memory: a unit test has no worker processes (jobs run in the test's
 * own process), so `list()` and `active()` are empty and `ping()` resolves at once with no
 * answer. The real `Workers` still checks its arguments as on Redis.
 */
@Injectable()
export class InlineWorkerStore implements WorkerStoreApi {
  async list(): Promise<WorkerInfo[]> {
    return [];
  }

  async ping(): Promise<PingReply[]> {
    return [];
  }
}
