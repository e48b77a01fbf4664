import type { ModuleRef } from '@nestjs/core';

/**
 * The token under which `OutboxModule` provides its relay to `@conveyor/health` and
 * `@conveyor/metrics`. They look it up instead of importing `@conveyor/outbox`: an app
 * without the outbox must not load it (its `nestjs-cls` turns on async hooks for the whole
 * process, which costs every promise, every job included).
 */
export const OUTBOX_STATS = Symbol.for('@conveyor/outbox:stats');

/** The provider behind `OUTBOX_STATS`, or `undefined` when the app has no `OutboxModule`. */
export function findOutboxStats<T>(moduleRef: ModuleRef): T | undefined {
  try {
    return moduleRef.get<T>(OUTBOX_STATS, { strict: false });
  } catch {
    return undefined;
  }
}
