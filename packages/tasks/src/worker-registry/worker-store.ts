import { join } from 'node:path';
import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { ConveyorQueues } from '../producer/conveyor-queues';
import { defineScripts } from '../redis/lua-scripts';
import type { RedisClient } from '../redis/open-connection';
import { quit, RedisConnections } from '../redis/redis-connections';
import type { PingReply, WorkerInfo } from './worker-info.interface';
import { registryKeys, type StoredPingReply, WorkerPings } from './worker-pings';

/** A worker process's entry as it writes it (JSON in the `info` field of its hash). */
export interface StoredWorker {
  host: string;
  pid: number;
  version: string;
  startedAt: number;
  stopping: boolean;
  queues: Array<{
    name: string;
    concurrency: number;
    running: number;
    finished: number;
    runMs: number;
    windowMs: number;
  }>;
  running: Array<{ task: string; jobId: string; queue: string; startedAt: number }>;
}

type Scripts = Record<
  'beat' | 'workers' | 'leave',
  (routeKey: string, ...args: (string | number)[]) => Promise<unknown>
>;

/**
 * The worker registry in Redis (`Workers` reads it, `WorkerPresence` writes this process's
 * entry; `@conveyor/testing` puts one in memory in its place):
 *
 * - `{<prefix>}:conveyor:workers`, a sorted set: worker id → when its entry expires, on
 *   Redis's clock (`TIME`), so hosts with skewed clocks agree;
 * - `{<prefix>}:conveyor:workers:<id>`, a hash per worker process (`info` JSON, `seen`,
 *   `expires`) with a TTL of `heartbeat.ttl`: a process that dies leaves nothing behind.
 *
 * Every write and read is one script on the index key, which prunes the ids whose entry
 * expired first: reads cost what the live processes cost. Pings go over pub/sub:
 * `{<prefix>}:conveyor:workers-ping` carries `{ reply }`, and each worker process answers
 * on that reply channel. Everything shares the app's hash tag: single-slot on a cluster.
 */
@Injectable()
export class WorkerStore implements OnApplicationShutdown {
  private scripts?: Scripts;
  private pings?: { pings: WorkerPings; subscriber: RedisClient };

  constructor(
    private readonly queues: ConveyorQueues,
    private readonly redis: RedisConnections,
  ) {}

  get keys(): { index: string; ping: string; pong: string } {
    return registryKeys(this.queues.keys);
  }

  /** Whether the connection the registry writes on is up now. */
  get connected(): boolean {
    return this.redis.client.status === 'ready';
  }

  /** Writes this process's entry for `ttlMs`; resolves with Redis's time. */
  async beat(id: string, worker: StoredWorker, ttlMs: number): Promise<number> {
    const now = await this.script('beat', id, JSON.stringify(worker), ttlMs);
    return Number(now);
  }

  /** Answers a ping on its reply channel. */
  async answer(reply: string, answer: StoredPingReply): Promise<void> {
    await this.redis.client.publish(reply, JSON.stringify(answer));
  }

  async leave(id: string): Promise<void> {
    await this.script('leave', id);
  }

  /** Every live worker process, within `enqueueTimeout`. */
  async list(): Promise<WorkerInfo[]> {
    const reply = (await this.queues.send(() => this.script('workers'))) as string[];
    return parseWorkers(reply);
  }

  /** Answers of every worker process within `timeoutMs`. */
  ping(timeoutMs: number): Promise<PingReply[]> {
    if (!this.pings) {
      const subscriber = this.redis.create('workers-ping', {});
      this.pings = { pings: new WorkerPings(subscriber, this.redis.client, this.keys), subscriber };
    }
    return this.pings.pings.ping(timeoutMs);
  }

  async onApplicationShutdown(): Promise<void> {
    const pings = this.pings;
    this.pings = undefined;
    pings?.pings.close();
    await quit(pings?.subscriber);
  }

  private script(name: keyof Scripts, ...args: (string | number)[]): Promise<unknown> {
    this.scripts ??= defineScripts(this.redis.client, join(__dirname, 'lua'), [
      'beat',
      'workers',
      'leave',
    ]);
    return this.scripts[name](this.keys.index, ...args);
  }
}

/**
 * Reads the reply of `workers.lua`. An entry this version cannot read (a later version's,
 * damaged) is skipped rather than failing the whole list.
 */
export function parseWorkers(reply: string[]): WorkerInfo[] {
  const workers: WorkerInfo[] = [];
  for (let i = 1; i + 3 < reply.length; i += 4) {
    const [id, info, seen, expires] = reply.slice(i, i + 4);
    try {
      const w = JSON.parse(info) as StoredWorker;
      workers.push({
        id,
        host: w.host,
        pid: w.pid,
        version: w.version,
        startedAt: new Date(w.startedAt),
        lastSeenAt: new Date(Number(seen)),
        expiresAt: new Date(Number(expires)),
        stopping: w.stopping === true,
        queues: w.queues.map((q) => ({
          name: q.name,
          concurrency: q.concurrency,
          running: q.running,
          finished: q.finished,
          averageRunMs: q.finished ? Math.round((q.runMs / q.finished) * 10) / 10 : 0,
          windowMs: q.windowMs,
        })),
        running: w.running.map((r) => ({ ...r, startedAt: new Date(r.startedAt) })),
      });
    } catch {
      // skipped, see above
    }
  }
  return workers.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime());
}
