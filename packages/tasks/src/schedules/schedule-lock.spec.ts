import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ScheduleLockError } from '../errors';
import { ScheduleLock } from './schedule-lock';

// Against the real Redis (REDIS_URL, 127.0.0.1:6379 by default), each test on a key of its own.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('ScheduleLock', () => {
  let redis: Redis;
  let key: string;
  beforeEach(() => {
    redis = new Redis(REDIS_URL);
    key = `conveyor-test-${randomUUID().slice(0, 8)}:lock`;
  });
  afterEach(async () => {
    await redis.del(key);
    redis.disconnect();
  });

  it('keeps the lock for work that outlasts its TTL, and releases it after', async () => {
    const lock = new ScheduleLock(redis, key, { ttlMs: 300, waitMs: 1_000 });
    const owners: Array<string | null> = [];
    await lock.run(async (held) => {
      // Three TTLs of work: the lock must still be ours all along.
      for (let i = 0; i < 6; i++) {
        await sleep(150);
        owners.push(await redis.get(key));
        held();
      }
    });
    expect(owners.every((owner) => owner !== null && owner === owners[0])).toBe(true);
    expect(await redis.exists(key)).toBe(0);
  });

  it('makes a second holder wait, and gives up with a typed error after waitMs', async () => {
    await redis.set(key, 'another-process', 'PX', 60_000);
    const lock = new ScheduleLock(redis, key, { ttlMs: 300, waitMs: 200 });
    const error = await lock.run(async () => 'never').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ScheduleLockError);
    expect(error).toMatchObject({ reason: 'timeout' });
    expect(await redis.get(key)).toBe('another-process');
  });

  it('tells the work when the lock was taken from it, and leaves the new owner its lock', async () => {
    const lock = new ScheduleLock(redis, key, { ttlMs: 300, waitMs: 1_000 });
    const error = await lock
      .run(async (held) => {
        await redis.set(key, 'another-process', 'PX', 60_000);
        // Until the next renewal finds the lock gone.
        for (let i = 0; i < 20; i++) {
          await sleep(50);
          held();
        }
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'ScheduleLockError', reason: 'lost' });
    expect(await redis.get(key)).toBe('another-process');
  });
});
