import { BadRequestException, Inject, Injectable } from '@nestjs/common';
import { ConveyorQueues } from '@conveyor/tasks';
import type { JobType, Queue } from 'bullmq';
import { checkKnownQueue, SearchIndex, TasksRegistry } from '@conveyor/tasks/internal';
import { DASHBOARD_OPTIONS } from '../dashboard.constants';
import type { ResolvedDashboardOptions } from '../dashboard.options';
import {
  BULL_TYPES,
  type JobSummary,
  SEARCH_STATES,
  type SearchState,
  stateName,
} from './job-view';

/** What to look for; every given field must match. */
export interface JobQuery {
  queue: string;
  state?: SearchState;
  task?: string;
  /** A payload field, as a dot path: `orderId`, `customer.id`. */
  field?: string;
  /** The field's value, compared as text (`42` finds the number 42 and the string '42'). */
  value?: string;
  cursor?: string;
  limit?: number;
}

/** A page of matches, and where to go on from (null once every job was read). */
export interface JobPage {
  jobs: JobSummary[];
  cursor: string | null;
  /** How many jobs this request read. */
  scanned: number;
  /**
   * True when the producer's index of a `searchable` field answered (one index read, no
   * scan); the index keeps the newest 1,000 jobs per value. Its last page's cursor starts the
   * bounded scan, for jobs the index does not hold.
   */
  indexed?: boolean;
}

/** The part of an ioredis pipeline this uses (BullMQ types its client loosely). */
interface HashPipeline {
  hmget(key: string, ...fields: string[]): unknown;
  exec(): Promise<Array<[Error | null, unknown]> | null>;
}

// Ids are read in slices of this many, each slice's records in one pipeline.
const SLICE = 200;

/**
 * Finds jobs by state, task and payload field by reading the state lists a bounded slice at a
 * time: one request reads at most `searchScanLimit` jobs, then answers with what it found and
 * a cursor (the state and the offset it stopped at). No KEYS, no unbounded SCAN: Redis is
 * never held for more than one slice's pipeline. Offsets move while jobs change state, so a
 * job moving during a long search may be seen twice or missed: this is a browse, not a count.
 */
@Injectable()
export class JobSearch {
  constructor(
    private readonly queues: ConveyorQueues,
    private readonly registry: TasksRegistry,
    @Inject(DASHBOARD_OPTIONS) private readonly options: ResolvedDashboardOptions,
  ) {}

  async find(query: JobQuery): Promise<JobPage> {
    const name = checkKnownQueue(query.queue, this.registry.knownQueues());
    const limit = query.limit ?? 50;
    if (query.field && query.value !== undefined && !query.cursor?.match(/^\d/)) {
      const index = this.queues.searchIndex;
      if (await index.has(name, query.field)) {
        return this.fromIndex(
          index,
          name,
          { ...query, field: query.field, value: query.value },
          limit,
        );
      }
    }
    const types = (query.state ? [query.state] : SEARCH_STATES).flatMap((state) =>
      BULL_TYPES[state].map((type) => ({ state, type })),
    );
    let [index, offset] = parseCursor(query.cursor, types.length);
    const queue = this.queues.queue(name);
    const jobs: JobSummary[] = [];
    let scanned = 0;
    const budget = this.options.searchScanLimit;
    while (index < types.length && scanned < budget && jobs.length < limit) {
      const size = Math.min(SLICE, budget - scanned);
      const ids = await queue.getRanges(
        [types[index].type as JobType],
        offset,
        offset + size - 1,
        false,
      );
      const records = await readRecords(queue, ids);
      let read = 0;
      for (let i = 0; i < ids.length && jobs.length < limit; i++, read++) {
        const record = records[i];
        if (!record) continue; // removed between the two reads
        if (query.task && record.task !== query.task) continue;
        if (query.field && !fieldMatches(record.payload, query.field, query.value)) continue;
        jobs.push({ id: ids[i], queue: name, state: stateName(types[index].type), ...record });
      }
      scanned += read;
      offset += read;
      if (read === ids.length && ids.length < size) {
        index++;
        offset = 0;
      }
    }
    return { jobs, cursor: index < types.length ? `${index}.${offset}` : null, scanned };
  }

  /**
   * Jobs of a `searchable` field's value from the producer's index, newest first: a page of
   * ids, their records in one pipeline, then the state of each match. Ids whose job is gone
   * (removed on completion, say) are dropped from the index as they are met. The cursor is
   * `i<offset>` in the index, then `0.0` (the scan's start) once the index is read; state and
   * task filters apply to what the index gives.
   */
  private async fromIndex(
    index: SearchIndex,
    name: string,
    query: JobQuery & { field: string; value: string },
    limit: number,
  ): Promise<JobPage> {
    let offset = query.cursor ? Number(query.cursor.slice(1)) : 0;
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new BadRequestException(
        `cursor ${JSON.stringify(query.cursor)} is not one this search gave`,
      );
    }
    const queue = this.queues.queue(name);
    const jobs: JobSummary[] = [];
    let scanned = 0;
    let done = false;
    while (!done && jobs.length < limit && scanned < this.options.searchScanLimit) {
      const ids = await index.ids(name, query.field, query.value, offset, SLICE);
      done = ids.length < SLICE;
      const records = await readRecords(queue, ids);
      const gone: string[] = [];
      const found: JobSummary[] = [];
      let read = 0;
      for (let i = 0; i < ids.length && jobs.length + found.length < limit; i++, read++) {
        const record = records[i];
        if (!record) {
          gone.push(ids[i]);
          continue;
        }
        if (query.task && record.task !== query.task) continue;
        if (!fieldMatches(record.payload, query.field, query.value)) continue;
        found.push({ id: ids[i], queue: name, state: 'unknown', ...record });
      }
      const states = await Promise.all(found.map((job) => queue.getJobState(job.id)));
      found.forEach((job, i) => (job.state = stateName(states[i])));
      jobs.push(...found.filter((job) => !query.state || job.state === query.state));
      await index.forget(name, query.field, query.value, gone);
      scanned += read;
      // Forgotten ids leave the set: the next page starts that many places earlier.
      offset += read - gone.length;
      if (read < ids.length) done = false;
    }
    // Once the index has given all it holds, the bounded scan goes on from the start: it finds
    // the jobs the index does not hold (enqueued before the field was declared, a failed index
    // write, a schedule's runs). The page leaves out the jobs it has shown already.
    return { jobs, cursor: done ? '0.0' : `i${offset}`, scanned, indexed: true };
  }
}

/**
 * The task, payload and enqueue time of each job in `ids`, in one pipeline; `undefined` for a
 * job that is gone (or whose read failed).
 */
async function readRecords(
  queue: Queue,
  ids: readonly string[],
): Promise<Array<Pick<JobSummary, 'task' | 'payload' | 'enqueuedAt'> | undefined>> {
  if (!ids.length) return [];
  const pipeline = (await queue.backend.client).pipeline() as unknown as HashPipeline;
  for (const id of ids) pipeline.hmget(`${queue.qualifiedName}:${id}`, 'name', 'data', 'timestamp');
  const replies = (await pipeline.exec()) ?? [];
  return ids.map((_, i) => {
    const [error, reply] = replies[i] ?? [];
    const [task, data, timestamp] = (error ? [] : (reply ?? [])) as Array<string | null>;
    if (!task) return undefined;
    return {
      task,
      payload: parse(data ?? null),
      enqueuedAt: timestamp ? Number(timestamp) : undefined,
    };
  });
}

function parseCursor(cursor: string | undefined, types: number): [number, number] {
  if (cursor === undefined || cursor === '') return [0, 0];
  const match = /^(\d+)\.(\d+)$/.exec(cursor);
  if (!match || Number(match[1]) >= types) {
    throw new BadRequestException(`cursor ${JSON.stringify(cursor)} is not one this search gave`);
  }
  return [Number(match[1]), Number(match[2])];
}

function parse(data: string | null): unknown {
  if (data === null) return undefined;
  try {
    return JSON.parse(data);
  } catch {
    return data;
  }
}

/** Whether `payload` has `field` (a dot path), equal as text to `value` when one is given. */
export function fieldMatches(payload: unknown, field: string, value: string | undefined): boolean {
  let current: unknown = payload;
  for (const key of field.split('.')) {
    if (current === null || typeof current !== 'object' || !(key in current)) return false;
    current = (current as Record<string, unknown>)[key];
  }
  if (value === undefined) return true;
  if (current === null || typeof current === 'object') return JSON.stringify(current) === value;
  return String(current) === value;
}
