import { Queue } from 'bullmq';
import { Client } from 'pg';
import { type Child, startChild } from '../support/child-process';
import type { PrivateRedis } from '../support/private-redis';

export interface OutboxNodeEnv {
  role: 'relay' | 'committer';
  databaseUrl: string;
  redisUrl: string;
  prefix: string;
  table: string;
  from?: number;
  count?: number;
  batchSize?: number;
  paceMs?: number;
  /** Relay options over the child's defaults. */
  relay?: Record<string, unknown>;
  /** Print `RELAY_STATS {…}` lines (see `relayStats`). */
  reportStats?: boolean;
}

/** Starts an outbox child (relay or committer) and waits until its app is up. */
export async function startOutboxNode(env: OutboxNodeEnv): Promise<Child> {
  const child = startChild('outbox-node.ts', {
    ROLE: env.role,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    CONVEYOR_PREFIX: env.prefix,
    OUTBOX_TABLE: env.table,
    FROM: String(env.from ?? 0),
    COUNT: String(env.count ?? 0),
    BATCH_SIZE: String(env.batchSize ?? 50),
    PACE_MS: String(env.paceMs ?? 0),
    RELAY_OPTIONS: JSON.stringify(env.relay ?? {}),
    REPORT_STATS: env.reportStats ? '1' : '0',
  });
  await child.waitFor(/READY/, 60_000);
  return child;
}

/** The item numbers a committer printed as committed so far. */
export function committed(output: string): number[] {
  return [...output.matchAll(/^COMMITTED (\d+)$/gm)].map((match) => Number(match[1]));
}

/** The last `RELAY_STATS` a relay child printed (`OutboxRelay.stats()`), if any. */
export function relayStats(output: string): Record<string, unknown> | undefined {
  const lines = [...output.matchAll(/^RELAY_STATS (.*)$/gm)];
  return lines.length
    ? (JSON.parse(lines[lines.length - 1]![1]!) as Record<string, unknown>)
    : undefined;
}

/** Rows of the outbox table: total and still unpublished. */
export async function outboxCounts(
  databaseUrl: string,
  table: string,
): Promise<{ rows: number; pending: number }> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ rows: string; pending: string }>(
      `SELECT count(*) AS rows, count(*) FILTER (WHERE published_at IS NULL) AS pending FROM "${table}"`,
    );
    return { rows: Number(rows[0].rows), pending: Number(rows[0].pending) };
  } finally {
    await client.end();
  }
}

/** Every job of the queue: its id and item number. */
export async function queuedItems(
  redis: PrivateRedis,
  prefix: string,
): Promise<Array<{ id: string; n: number }>> {
  const connection = redis.client();
  const queue = new Queue('default', { connection, prefix: `{${prefix}}` });
  try {
    const jobs = await queue.getJobs(['waiting', 'delayed', 'prioritized']);
    return jobs.map((job) => ({ id: job.id!, n: (job.data as { n: number }).n }));
  } finally {
    await queue.close();
    connection.disconnect();
  }
}
