import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix no other test uses. */
export function uniquePrefix(): string {
  return `conveyor-test-${randomUUID().slice(0, 8)}`;
}

/** Deletes every key under a test prefix (Conveyor wraps the prefix in a hash tag). */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** Counts the keys under a test prefix: 0 means nothing was ever written there. */
export async function countKeys(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    let count = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
    return count;
  } finally {
    redis.disconnect();
  }
}

/** A raw BullMQ queue under a test prefix, to look at what Conveyor wrote. Close it after. */
export function rawQueue(prefix: string, name: string): Queue {
  return new Queue(name, {
    connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }),
    prefix: `{${prefix}}`,
  });
}

/** Closes a raw queue and its connection. */
export async function closeRawQueue(queue: Queue): Promise<void> {
  await queue.close();
  (queue.opts.connection as Redis).disconnect();
}

/**
 * Jobs in the given queues under a test prefix, in every state. Unlike a key count, this
 * ignores the bookkeeping keys BullMQ workers write on their own (meta, stalled checks).
 */
export async function countJobs(prefix: string, queues: Iterable<string>): Promise<number> {
  let total = 0;
  for (const name of queues) {
    const queue = rawQueue(prefix, name);
    try {
      const counts = await queue.getJobCounts();
      total += Object.values(counts).reduce((a, b) => a + b, 0);
    } finally {
      await closeRawQueue(queue);
    }
  }
  return total;
}
