import { join } from 'node:path';
import type { KeyLayout } from '../redis/key-layout';
import { defineScripts } from '../redis/lua-scripts';
import type { RedisClient } from '../redis/open-connection';

/** Newest job ids kept per indexed value: enough to browse, bounded whatever the traffic. */
export const SEARCH_IDS_PER_VALUE = 1_000;
/** How long an index set lives after its last write. */
export const SEARCH_INDEX_TTL_S = 7 * 24 * 3600;
/** Values longer than this are not indexed (a search compares whole values). */
const MAX_VALUE_LENGTH = 200;

/** One job's entries: the job id and the (field, value) pairs its payload has. */
export interface SearchEntries {
  id: string;
  pairs: Array<[field: string, value: string]>;
}

/**
 * The (field, value) pairs `payload` has for `fields` (dot paths). A value is indexed as the
 * dashboard compares it, as text: numbers, strings and booleans; objects, arrays, null and
 * values over 200 characters are left out.
 */
export function searchPairs(
  fields: readonly string[],
  payload: unknown,
): Array<[field: string, value: string]> {
  const pairs: Array<[string, string]> = [];
  for (const field of fields) {
    let current: unknown = payload;
    for (const key of field.split('.')) {
      current =
        current !== null && typeof current === 'object' && !Array.isArray(current)
          ? (current as Record<string, unknown>)[key]
          : undefined;
    }
    if (typeof current !== 'string' && typeof current !== 'number' && typeof current !== 'boolean')
      continue;
    const value = String(current);
    if (value.length <= MAX_VALUE_LENGTH) pairs.push([field, value]);
  }
  return pairs;
}

/** Where `queue`'s index lives. */
export const searchKeys = (keys: KeyLayout, queue: string) => {
  const base = `${keys.queueKey(queue)}cv:idx`;
  return { fields: base, value: (field: string, value: string) => `${base}:${field}=${value}` };
};

/**
 * Writes and reads the payload-field index of tasks that declare `searchable` fields (see
 * `lua/index.lua`). A write is one script call per queue for any number of jobs.
 */
export class SearchIndex {
  private script?: (key: string, ...args: (string | number)[]) => Promise<unknown>;

  constructor(
    private readonly client: RedisClient,
    private readonly keys: KeyLayout,
  ) {}

  /** Adds `jobs` of `queue`, in that order, to the index. */
  async write(queue: string, jobs: readonly SearchEntries[]): Promise<void> {
    const args: Array<string | number> = [];
    jobs.forEach((job, k) => {
      for (const [field, value] of job.pairs) args.push(field, value, job.id, k);
    });
    if (!args.length) return;
    this.script ??= defineScripts(this.client, join(__dirname, 'lua'), ['index']).index;
    await this.script(
      searchKeys(this.keys, queue).fields,
      SEARCH_IDS_PER_VALUE,
      SEARCH_INDEX_TTL_S,
      ...args,
    );
  }

  /**
   * Whether jobs of `queue` were indexed by `field` within the index's TTL: a field a task
   * no longer declares stops counting once its last entries could have expired.
   */
  async has(queue: string, field: string): Promise<boolean> {
    const [written, [seconds]] = await Promise.all([
      this.client.hget(searchKeys(this.keys, queue).fields, field),
      this.client.time(),
    ]);
    return written !== null && Number(written) > (Number(seconds) - SEARCH_INDEX_TTL_S) * 1000;
  }

  /** The ids indexed under `field` = `value`, newest first, from `offset`. */
  ids(
    queue: string,
    field: string,
    value: string,
    offset: number,
    count: number,
  ): Promise<string[]> {
    return this.client.zrevrange(
      searchKeys(this.keys, queue).value(field, value),
      offset,
      offset + count - 1,
    );
  }

  /** Drops ids whose jobs are gone (removed, or never added). */
  async forget(queue: string, field: string, value: string, ids: readonly string[]): Promise<void> {
    if (ids.length)
      await this.client.zrem(searchKeys(this.keys, queue).value(field, value), ...ids);
  }
}
