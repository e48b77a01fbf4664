import type { ModuleRef } from '@nestjs/core';
import type { OutboxRelayStats } from '@conveyor/outbox';

/** What the gauges read from the outbox. */
export interface OutboxStatsSource {
  stats(): Promise<OutboxRelayStats>;
}

/**
 * The app's `OutboxRelay` when `@conveyor/outbox` is installed and `OutboxModule` imported;
 * `undefined` otherwise (the outbox is optional, so its package is loaded only if present).
 */
export async function findOutbox(moduleRef: ModuleRef): Promise<OutboxStatsSource | undefined> {
  let outbox: typeof import('@conveyor/outbox');
  try {
    outbox = await import('@conveyor/outbox');
  } catch {
    return undefined;
  }
  try {
    return moduleRef.get(outbox.OutboxRelay, { strict: false });
  } catch {
    return undefined;
  }
}
