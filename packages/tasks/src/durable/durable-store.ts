import { join } from 'node:path';
import type { KeyLayout } from '../redis/key-layout';
import type { RedisClient } from '../redis/open-connection';
import { defineScripts } from '../redis/lua-scripts';

/** Conveyor's queue of durable workflow runs; its hash tag holds every workflow's state. */
export const DURABLE_QUEUE = 'conveyor.durable';

/** Where a durable workflow stands. */
export type WorkflowStatus =
  'running' | 'compensating' | 'completed' | 'failed' | 'compensated' | 'cancelled';

/** Every status, in the order a workflow goes through them. */
export const WORKFLOW_STATUSES: readonly WorkflowStatus[] = [
  'running',
  'compensating',
  'completed',
  'failed',
  'compensated',
  'cancelled',
];

/** The statuses a workflow ends in: nothing runs after them. */
export const FINAL_STATUSES: ReadonlySet<WorkflowStatus> = new Set([
  'completed',
  'failed',
  'compensated',
  'cancelled',
]);

/** How long an ended workflow's state stays, by default: `workflowRetention`. */
export const DEFAULT_RETENTION_MS = 7 * 86_400_000;

/** A journal entry's description, written once when it begins. User data is kept apart. */
export interface EntryMeta {
  kind: 'step' | 'sleep' | 'wait' | 'compensation';
  /** When it began (ms). */
  at: number;
  task?: string;
  queue?: string;
  signal?: string;
  /** A sleep's end, or a wait's timeout (ms). */
  until?: number;
  /** The step this compensation undoes. */
  step?: number;
  /** A step's compensation task, and its payload when not the step's own. */
  compensate?: { task: string; payload?: string };
}

/** The state of a workflow as read in one round trip. */
export interface StoredWorkflow {
  fields: Record<string, string>;
  journal: Record<string, string>;
}

const SCRIPTS = [
  'start',
  'begin',
  'settle',
  'wait',
  'signal',
  'timeout',
  'transition',
  'cancel',
] as const;

/**
 * The Redis side of durable workflows. Every key of a workflow lives in the hash tag of the
 * `conveyor.durable` queue, so each script below touches one slot: on Redis Cluster every
 * state change stays atomic. Per workflow: a hash (status, input, result, error, times), its
 * journal `<hash>:j` (one field group per entry: `<seq>` description, `<seq>:s` state,
 * `<seq>:in` payload, `<seq>:out` result or signal data, `<seq>:err` error, `<seq>:at` end),
 * and one inbox list per signal name (`<hash>:sig:<name>`, their names in `<hash>:sigs`). A
 * set per status lists the workflows in it. An ended workflow's keys expire after the
 * retention; its id leaves the status set when `list()` finds it gone.
 */
export class DurableStore {
  private scriptsInstance?: ReturnType<typeof defineScripts<(typeof SCRIPTS)[number]>>;

  constructor(
    private readonly redis: () => RedisClient,
    private readonly keys: KeyLayout,
    /** How long an ended workflow's keys stay (ms); 0 keeps them. */
    private readonly retentionMs = 0,
  ) {}

  /** The start of every durable key, `<prefix>:conveyor.durable:`. */
  get base(): string {
    return this.keys.queueKey(DURABLE_QUEUE);
  }

  hashKey(id: string): string {
    return `${this.base}wf:${id}`;
  }

  private get scripts() {
    return (this.scriptsInstance ??= defineScripts(this.redis(), join(__dirname, 'lua'), SCRIPTS));
  }

  async start(
    id: string,
    name: string,
    input: string,
  ): Promise<{ created: boolean; name: string }> {
    const [created, existing] = (await this.scripts.start(
      this.hashKey(id),
      this.base,
      id,
      name,
      input,
      Date.now(),
    )) as [number, string];
    return { created: created === 1, name: existing };
  }

  async read(id: string): Promise<StoredWorkflow | undefined> {
    const key = this.hashKey(id);
    const replies = await this.redis().pipeline().hgetall(key).hgetall(`${key}:j`).exec();
    const [fields, journal] = (replies ?? []).map(([error, value]) => {
      if (error) throw error;
      return value as Record<string, string>;
    });
    if (!fields || !Object.keys(fields).length) return undefined;
    return { fields, journal };
  }

  async begin(
    id: string,
    field: string,
    meta: EntryMeta,
    state: string,
    payload = '',
  ): Promise<{ meta: EntryMeta; state: string }> {
    const [entry, now] = (await this.scripts.begin(
      this.hashKey(id),
      field,
      JSON.stringify(meta),
      state,
      payload,
    )) as [string, string];
    return { meta: JSON.parse(entry) as EntryMeta, state: now };
  }

  /** Notes the queue a step's job went to (`<field>:q`). */
  async placed(id: string, field: string, queue: string): Promise<void> {
    await this.redis().hset(`${this.hashKey(id)}:j`, `${field}:q`, queue);
  }

  async settle(id: string, field: string, ok: boolean, value: string): Promise<boolean> {
    const done = await this.scripts.settle(
      this.hashKey(id),
      field,
      ok ? 'ok' : 'failed',
      value,
      Date.now(),
    );
    return done === 1;
  }

  async wait(
    id: string,
    seq: number,
    meta: EntryMeta,
    signal: string,
  ): Promise<{ state: string; data: string }> {
    const [state, data] = (await this.scripts.wait(
      this.hashKey(id),
      seq,
      JSON.stringify(meta),
      signal,
      Date.now(),
    )) as [string, string];
    return { state, data };
  }

  async timeout(id: string, seq: number): Promise<{ state: string; data: string }> {
    const [state, data] = (await this.scripts.timeout(this.hashKey(id), seq, Date.now())) as [
      string,
      string,
    ];
    return { state, data };
  }

  /** The seq of the wait it ended, `'kept'` (in the inbox), `'unknown'` or `'ended'`. */
  async signal(
    id: string,
    name: string,
    data: string,
  ): Promise<number | 'kept' | 'unknown' | 'ended'> {
    const outcome = (await this.scripts.signal(this.hashKey(id), name, data, Date.now())) as number;
    if (outcome >= 0) return outcome;
    return outcome === -1 ? 'unknown' : outcome === -2 ? 'ended' : 'kept';
  }

  async transition(
    id: string,
    to: WorkflowStatus,
    from: readonly WorkflowStatus[],
    fields: Record<string, string> = {},
  ): Promise<boolean> {
    const moved = await this.scripts.transition(
      this.hashKey(id),
      this.base,
      id,
      to,
      from.join(','),
      Date.now(),
      this.retentionMs,
      FINAL_STATUSES.has(to) ? '1' : '0',
      ...Object.entries(fields).flat(),
    );
    return moved === 1;
  }

  async cancel(id: string, reason: string): Promise<'requested' | 'ended' | 'unknown'> {
    const outcome = await this.scripts.cancel(this.hashKey(id), reason, Date.now());
    return outcome === 1 ? 'requested' : outcome === 0 ? 'ended' : 'unknown';
  }

  async summary(
    id: string,
  ): Promise<{ name: string; status: WorkflowStatus; createdAt: Date } | undefined> {
    const [name, status, createdAt] = await this.redis().hmget(
      this.hashKey(id),
      'name',
      'status',
      'createdAt',
    );
    if (!name || !status) return undefined;
    return { name, status: status as WorkflowStatus, createdAt: new Date(Number(createdAt)) };
  }

  /** Ids of the newest workflows (by start), newest first, from `offset`. */
  newest(offset: number, count: number): Promise<string[]> {
    return this.redis().zrevrange(`${this.base}created`, offset, offset + count - 1);
  }

  /** Drops from the start-time index ids whose keys expired. */
  async forgetNewest(ids: string[]): Promise<void> {
    if (ids.length) await this.redis().zrem(`${this.base}created`, ...ids);
  }

  ids(status: WorkflowStatus): Promise<string[]> {
    return this.redis().smembers(`${this.base}status:${status}`);
  }

  /** Drops ids whose keys expired from a status set. */
  async forget(status: WorkflowStatus, ids: string[]): Promise<void> {
    if (ids.length) await this.redis().srem(`${this.base}status:${status}`, ...ids);
  }
}
