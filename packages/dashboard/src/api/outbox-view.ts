import { Injectable, NotFoundException } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { findOutboxStats } from '@conveyor/tasks/internal';
import type { Actor } from '../auth/actor';
import { DashboardService } from './dashboard.service';

/**
 * What the dashboard uses of `@conveyor/outbox`'s `OutboxRelay`, found by the `OUTBOX_STATS`
 * token: importing the package would load `nestjs-cls` (async hooks for every promise) into
 * apps that have no outbox. `failedRows` and `replaySetAside` are absent in older relays.
 */
interface OutboxRelayLike {
  stats(): Promise<OutboxCounts & Record<string, unknown>>;
  failedRows?(limit: number): Promise<OutboxFailedRow[]>;
  replaySetAside?(ids: readonly string[]): Promise<string[]>;
}

/** The outbox's counts, as `OutboxRelay.stats()` gives them. */
export interface OutboxCounts {
  /** Rows waiting to be published (not set aside). */
  pending: number;
  /** Age of the oldest pending row, ms: the relay's lag. */
  oldestPendingAgeMs: number;
  /** Pending rows that failed at least once. */
  failing: number;
  /** Rows set aside after `relay.maxAttempts` failures of their own. */
  setAside: number;
  /** Published rows still kept (retention deletes older ones). */
  published: number;
  /** Whether a relay loop runs in the process that answered. */
  running?: boolean;
  /** Failed relay rounds in a row (Redis or the database away), in that process. */
  consecutiveFailures?: number;
  lastError?: string | null;
}

/** A row that failed to publish, as `OutboxRelay.failedRows()` lists it. */
export interface OutboxFailedRow {
  id: string;
  kind: 'task' | 'event';
  name: string;
  queue: string | null;
  attempts: number;
  lastError: string | null;
  createdAt: Date | string;
  nextAttemptAt: Date | string | null;
  setAside: boolean;
}

/** What `GET outbox` answers. */
export type OutboxOverview =
  | { enabled: false }
  | {
      enabled: true;
      stats: OutboxCounts;
      /** The most recent failed rows, newest first; `null` when the store cannot list them. */
      failures: OutboxFailedRow[] | null;
      /** Why `failures` is `null`. */
      failuresUnavailable?: string;
      /** Whether set-aside rows can be replayed from here (the relay can, and not read-only). */
      canReplay: boolean;
    };

/** The outbox view: counts, lag and recent failures; replays set-aside rows. */
@Injectable()
export class OutboxView {
  constructor(
    private readonly moduleRef: ModuleRef,
    private readonly dashboard: DashboardService,
  ) {}

  private get relay(): OutboxRelayLike | undefined {
    return findOutboxStats<OutboxRelayLike>(this.moduleRef);
  }

  async overview(failures: number): Promise<OutboxOverview> {
    const relay = this.relay;
    if (!relay) return { enabled: false };
    const stats = pickCounts(await relay.stats());
    let rows: OutboxFailedRow[] | null = null;
    let unavailable: string | undefined;
    if (typeof relay.failedRows !== 'function') {
      unavailable = 'this version of @conveyor/outbox does not list failed rows';
    } else {
      try {
        rows = await relay.failedRows(failures);
      } catch (error) {
        // A custom OutboxStore without failedRows(): show the counts, say why no rows.
        if ((error as Error).name !== 'OutboxStoreUnsupportedError') throw error;
        unavailable = (error as Error).message;
      }
    }
    return {
      enabled: true,
      stats,
      failures: rows,
      ...(unavailable ? { failuresUnavailable: unavailable } : {}),
      canReplay: typeof relay.replaySetAside === 'function' && !this.dashboard.readOnly,
    };
  }

  /** Makes set-aside rows available again with fresh attempts: a logged, refusable action. */
  replaySetAside(actor: Actor, ids: string[]): Promise<{ replayed: string[] }> {
    return this.dashboard.act(actor, 'replay set-aside outbox rows', { ids }, async () => {
      const relay = this.relay;
      if (!relay) throw new NotFoundException('this app has no OutboxModule');
      if (typeof relay.replaySetAside !== 'function') {
        throw new NotFoundException('this version of @conveyor/outbox cannot replay rows');
      }
      return { replayed: await relay.replaySetAside(ids) };
    });
  }
}

/** The counts only: `stats()` may carry more than the page needs. */
function pickCounts(stats: OutboxCounts): OutboxCounts {
  const {
    pending,
    oldestPendingAgeMs,
    failing,
    setAside,
    published,
    running,
    consecutiveFailures,
    lastError,
  } = stats;
  return {
    pending,
    oldestPendingAgeMs,
    failing,
    setAside,
    published,
    running,
    consecutiveFailures,
    lastError,
  };
}
