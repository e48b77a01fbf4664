import type { Redis } from 'ioredis';
import type { ResolvedTaskOptions } from '../options/task-options';

/**
 * One atomic check before a run: a stored idempotent result, a free run slot (locks,
 * `maxConcurrent`, per key) and a rate-limit token. Every key shares the module's hash tag,
 * so the script also runs on Redis Cluster.
 *
 * KEYS: 1 slot zset (member → lease expiry), 2 rate zset (member → start time), 3 result key.
 * An empty key name skips that check. ARGV: now, holder, slot max, lease ms, rate max,
 * rate window ms, unique rate member.
 * Returns [2, stored] for a stored result, [0, retryMs] when the slot is full, [1, retryMs]
 * when the rate is spent, [3] when admitted.
 */
const ADMIT = `
local now = tonumber(ARGV[1])
if KEYS[3] ~= '' then
  local stored = redis.call('GET', KEYS[3])
  if stored then return {2, stored} end
end
if KEYS[1] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if not redis.call('ZSCORE', KEYS[1], ARGV[2]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
    local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
    return {0, tostring(math.min(tonumber(first[2]) - now, 1000))}
  end
end
if KEYS[2] ~= '' then
  local window = tonumber(ARGV[6])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
    local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    return {1, tostring(tonumber(oldest[2]) + window - now)}
  end
  redis.call('ZADD', KEYS[2], now, ARGV[7])
  redis.call('PEXPIRE', KEYS[2], window)
end
if KEYS[1] ~= '' then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4]) * 2)
end
return {3}
`;

/** Extends a lease while its holder still has it. KEYS: slot zset; ARGV: holder, expiry, ttl. */
const RENEW = `
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0
`;

type AdmitCommand = (
  slot: string,
  rate: string,
  result: string,
  ...args: (string | number)[]
) => Promise<[number, string?]>;

export type Admission =
  | { kind: 'admitted'; release: () => Promise<void> }
  | { kind: 'stored'; result: unknown }
  | { kind: 'wait'; ms: number; why: 'slot' | 'rate' };

let sequence = 0;

/** Redis-backed run admission shared by every worker process. */
export class RunAdmission {
  private readonly admit: AdmitCommand;
  private readonly renew: (
    slot: string,
    holder: string,
    expiry: number,
    ttl: number,
  ) => Promise<number>;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly leaseMs: number,
  ) {
    redis.defineCommand('conveyorAdmit', { numberOfKeys: 3, lua: ADMIT });
    redis.defineCommand('conveyorRenew', { numberOfKeys: 1, lua: RENEW });
    const commands = redis as unknown as Record<string, (...args: unknown[]) => Promise<never>>;
    this.admit = (...args) => commands.conveyorAdmit(...args);
    this.renew = (...args) => commands.conveyorRenew(...args);
  }

  /** Whether a task needs a trip to Redis before it runs at all. */
  static needed(task: ResolvedTaskOptions, idempotentJob: boolean): boolean {
    return idempotentJob || task.maxConcurrent !== undefined || task.rateLimit !== undefined;
  }

  resultKey(jobId: string): string {
    return `${this.prefix}:conveyor:result:${jobId}`;
  }

  async enter(
    taskName: string,
    task: ResolvedTaskOptions,
    payload: unknown,
    jobId: string,
    idempotentJob: boolean,
  ): Promise<Admission> {
    const scope = task.slotKey ? `${taskName}:${task.slotKey(payload)}` : taskName;
    const slotKey =
      task.maxConcurrent !== undefined ? `${this.prefix}:conveyor:slots:${scope}` : '';
    const rateKey = task.rateLimit ? `${this.prefix}:conveyor:rate:${scope}` : '';
    // A job enqueued with an idempotency key also holds a slot of one under its own id, so
    // two workers never run it at once (a redelivered job overlapping a slow first run).
    const idemSlot = idempotentJob ? `${this.prefix}:conveyor:slots:job:${jobId}` : '';
    const now = Date.now();
    const [code, value] = await this.admit(
      slotKey || idemSlot,
      rateKey,
      idempotentJob ? this.resultKey(jobId) : '',
      now,
      jobId,
      slotKey ? task.maxConcurrent! : 1,
      this.leaseMs,
      task.rateLimit?.max ?? 0,
      task.rateLimit?.perMs ?? 0,
      `${jobId}:${now}:${process.pid}:${++sequence}`,
    );
    if (code === 2) return { kind: 'stored', result: (JSON.parse(value!) as { v: unknown }).v };
    if (code === 0) return { kind: 'wait', ms: Math.max(50, Number(value)), why: 'slot' };
    if (code === 1) return { kind: 'wait', ms: Math.max(10, Number(value)), why: 'rate' };

    const held = slotKey || idemSlot;
    if (!held) return { kind: 'admitted', release: async () => undefined };
    const timer = setInterval(
      () => {
        this.renew(held, jobId, Date.now() + this.leaseMs, this.leaseMs * 2).catch(() => undefined);
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    timer.unref();
    return {
      kind: 'admitted',
      release: async () => {
        clearInterval(timer);
        await this.redis.zrem(held, jobId);
      },
    };
  }

  /** Keeps a successful result for re-runs of the same idempotent job. */
  async storeResult(jobId: string, result: unknown, ttlMs: number): Promise<void> {
    if (ttlMs <= 0) return;
    await this.redis.set(this.resultKey(jobId), JSON.stringify({ v: result ?? null }), 'PX', ttlMs);
  }
}
