import { join } from 'node:path';
import type { KeyLayout } from '../redis/key-layout';
import { defineScripts } from '../redis/lua-scripts';
import type { RedisClient } from '../redis/open-connection';

/**
 * Where a queue's run history lives (see `lua/record.lua`): in the queue's hash tag, so one
 * script call per queue writes it atomically on any Redis topology.
 */
export const statsKeys = (keys: KeyLayout, queue: string) => {
  const base = `${keys.queueKey(queue)}cv:stats`;
  return {
    queue: base,
    tasks: `${base}:tasks`,
    task: (task: string) => `${base}:t:${task}`,
    errors: (task: string) => `${base}:e:${task}`,
  };
};

/** `lua/record.lua` on `redis`: adds figures to a queue's history; answers the minute. */
export function recordScript(
  redis: RedisClient,
): (queueKey: string, retentionMinutes: number, entries: string) => Promise<unknown> {
  return defineScripts(redis, join(__dirname, 'lua'), ['record']).record;
}

/**
 * Run times are counted in buckets a quarter of a power of two wide: bucket `i` holds runs of
 * (2^((i-1)/4), 2^(i/4)] ms, bucket 0 runs of 1 ms or less. A percentile read from them is
 * the bucket's geometric middle: within 9% of the true run time.
 */
export function bucketOf(ms: number): number {
  return ms <= 1 ? 0 : Math.ceil(4 * Math.log2(ms));
}

/** The run time a bucket stands for, in ms: its geometric middle. */
export function bucketMs(bucket: number): number {
  return bucket === 0 ? 1 : 2 ** ((bucket - 0.5) / 4);
}

/**
 * The key under which failures are grouped: the error's name and message with numbers, ids
 * (UUIDs, hex ids), e-mail addresses and quoted values replaced, so that "card declined for order 41" and "… order 42" are one
 * line. At most 200 characters.
 */
export function errorSignature(name: string, message: string): string {
  const shape = message
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>')
    .replace(/[^\s@<>"'`]+@[^\s@<>"'`]+\.[a-z]{2,}/gi, '<email>')
    // Hex ids (Mongo ObjectIds, hashes): 8 or more hex digits with a digit among them.
    .replace(/\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b/gi, '<id>')
    .replace(/(["'`]).*?\1/g, '<value>')
    .replace(/\b0x[0-9a-f]+\b/gi, '<n>')
    .replace(/\d+(\.\d+)?/g, '<n>')
    .replace(/\s+/g, ' ')
    .trim();
  return `${name}: ${shape}`.slice(0, 200);
}
