import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../redis/open-connection';
import { ScheduleLockError } from '../errors';

const RENEW =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0";
const RELEASE =
  "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0";

/** How long the lock lasts, and how long a caller waits for it. */
export interface LockTiming {
  ttlMs: number;
  waitMs: number;
}

/**
 * A Redis lock that belongs to a random token: taken with `SET NX PX`, renewed every third of
 * its TTL while the work runs (so work may outlast one TTL, and a dead holder's lock still
 * expires soon), released only by its owner, so a lock that expired and was taken by another
 * process is left to that process.
 */
export class ScheduleLock {
  constructor(
    private readonly client: RedisClient,
    readonly key: string,
    private readonly timing: LockTiming,
  ) {}

  /**
   * Runs `work` holding the lock, waiting up to `waitMs` for it (`ScheduleLockError`
   * 'timeout' past that). `work` calls `held()` before each write: it throws
   * `ScheduleLockError` 'lost' once the lock is no longer ours.
   */
  async run<T>(work: (held: () => void) => Promise<T>): Promise<T> {
    const { ttlMs, waitMs } = this.timing;
    const token = randomUUID();
    const deadline = Date.now() + waitMs;
    while ((await this.client.set(this.key, token, 'PX', ttlMs, 'NX')) !== 'OK') {
      if (Date.now() > deadline) throw new ScheduleLockError(this.key, 'timeout', waitMs);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    let lost = false;
    const renewal = setInterval(
      () => {
        this.client.eval(RENEW, 1, this.key, token, ttlMs).then(
          (renewed) => {
            if (renewed === 0) lost = true;
          },
          // A failed renewal is tried again at the next tick; if the lock expires meanwhile,
          // that tick finds it gone.
          () => undefined,
        );
      },
      Math.max(1, Math.floor(ttlMs / 3)),
    );
    renewal.unref();
    try {
      return await work(() => {
        if (lost) throw new ScheduleLockError(this.key, 'lost');
      });
    } finally {
      clearInterval(renewal);
      // With Redis gone the lock expires by itself; the work's own outcome is what counts.
      await this.client.eval(RELEASE, 1, this.key, token).catch(() => undefined);
    }
  }
}
