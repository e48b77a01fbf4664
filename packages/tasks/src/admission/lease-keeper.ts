import type { AdmissionScope } from './admission-plan';
import type { AdmissionScripts } from './lua-scripts';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';

/** The slot leases one run holds (see `lua/admit.lua`). */
export interface Lease {
  /** The queue's key prefix, `<prefix>:<queue>:`. */
  readonly queueKey: string;
  readonly jobId: string;
  /** Unique to one delivery of the job (BullMQ reuses a lock token for a worker's next job). */
  readonly runId: string;
  /** Scopes with a slot limit, where the run holds a lease. */
  readonly scopes: readonly AdmissionScope[];
  /** Per scope, whether admission gave the run a marked lease (a job may wait for it). */
  readonly marked: readonly boolean[];
}

/** The run's member in a scope's lease set (see `lua/includes/wakeScope.lua`). */
export function leaseMember(lease: Lease, scopeIndex: number): string {
  const member = `${lease.runId} ${lease.jobId}`;
  return lease.marked[scopeIndex] ? `w ${member}` : member;
}

interface Held {
  lease: Lease;
  onLost: () => void;
  renewedAt: number;
}

/**
 * Renews the leases of every run this process holds, every third of the lease, in one
 * script call per queue whatever the number of runs. A lease that Redis says is gone (it
 * expired and was taken over), or that could not be renewed for a whole lease period, is
 * reported through the run's `onLost`, once, and is not renewed again.
 */
export class LeaseKeeper {
  private readonly logger = new ConveyorLogger('Conveyor');
  private readonly held = new Map<Lease, Held>();
  private timer?: NodeJS.Timeout;
  private renewing = false;
  private lastErrorLog = 0;

  constructor(
    private readonly scripts: () => AdmissionScripts,
    private readonly leaseMs: number,
  ) {}

  get size(): number {
    return this.held.size;
  }

  hold(lease: Lease, onLost: () => void): void {
    if (!lease.scopes.length) return;
    this.held.set(lease, { lease, onLost, renewedAt: Date.now() });
    this.timer ??= setInterval(() => void this.renewAll(), Math.floor(this.leaseMs / 3));
    this.timer.unref();
  }

  drop(lease: Lease): void {
    this.held.delete(lease);
    if (!this.held.size) this.stop();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One renewal round; exposed for tests. */
  async renewAll(): Promise<void> {
    // A lease not renewed for a whole period has run out on Redis's clock too, even while the
    // renewal call hangs on a Redis that stopped answering.
    const now = Date.now();
    for (const entry of [...this.held.values()]) {
      if (now - entry.renewedAt >= this.leaseMs) this.lose(entry, 'Redis did not answer');
    }
    if (this.renewing) return;
    this.renewing = true;
    try {
      const byQueue = new Map<string, Held[]>();
      for (const entry of this.held.values()) {
        const list = byQueue.get(entry.lease.queueKey);
        if (list) list.push(entry);
        else byQueue.set(entry.lease.queueKey, [entry]);
      }
      await Promise.all([...byQueue].map(([queueKey, entries]) => this.renew(queueKey, entries)));
    } finally {
      this.renewing = false;
    }
  }

  private async renew(queueKey: string, entries: Held[]): Promise<void> {
    const pairs: Held[] = [];
    const args: string[] = [];
    for (const entry of entries) {
      entry.lease.scopes.forEach((scope, i) => {
        pairs.push(entry);
        args.push(scope.name, leaseMember(entry.lease, i));
      });
    }
    const startedAt = Date.now();
    try {
      const lost = await withDeadline(
        this.scripts().renew(`${queueKey}cv:wake`, queueKey, this.leaseMs, ...args),
        this.leaseMs,
      );
      const lostEntries = new Set(lost.map((position) => pairs[position - 1]));
      for (const entry of entries) {
        if (lostEntries.has(entry)) this.lose(entry, 'its lease expired before it was renewed');
        else entry.renewedAt = startedAt;
      }
    } catch (error) {
      const now = Date.now();
      if (now - this.lastErrorLog >= 10_000) {
        this.lastErrorLog = now;
        this.logger.warn(`could not renew run leases: ${(error as Error).message}`, {
          runs: entries.length,
          error: errorField(error),
        });
      }
      // Without an answer for a whole lease period, the lease has run out on Redis's clock too.
      for (const entry of entries) {
        if (now - entry.renewedAt >= this.leaseMs) this.lose(entry, 'Redis did not answer');
      }
    }
  }

  private lose(entry: Held, why: string): void {
    if (!this.held.has(entry.lease)) return;
    this.drop(entry.lease);
    this.logger.warn(
      `job ${entry.lease.jobId} lost its run lease (${why}); another run of it, or of its key, may start`,
      { jobId: entry.lease.jobId, reason: why, leaseMs: this.leaseMs },
    );
    entry.onLost();
  }
}

/** `promise`, or a rejection once `ms` have passed (the worker connection waits forever). */
function withDeadline<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}
