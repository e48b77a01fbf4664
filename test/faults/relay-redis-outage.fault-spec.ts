import { Queue } from 'bullmq';
import { Client } from 'pg';
import { Redis } from 'ioredis';
import type { Child } from '../support/child-process';
import { PrivatePostgres } from '../support/private-postgres';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';
import { items, Ledger, report, startWorker, until } from './ledger';
import {
  committed,
  outboxCounts,
  type OutboxNodeEnv,
  relayStats,
  startOutboxNode,
} from './outbox-support';

/** Sessions of the private PostgreSQL left inside a transaction they are not using. */
async function idleInTransaction(databaseUrl: string): Promise<string[]> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ session: string }>(
      `SELECT format('%s (%s): %s', pid, application_name, left(query, 120)) AS session
         FROM pg_stat_activity
        WHERE state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()`,
    );
    return rows.map((r) => r.session);
  } finally {
    await client.end();
  }
}

/** Unpublished rows whose publishing failed at least once. */
async function failedRows(databaseUrl: string, table: string): Promise<number> {
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "${table}" WHERE published_at IS NULL AND attempts > 0`,
    );
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

/** Jobs of the ledger queue in any state, by id (the relay's job ids). */
async function jobIds(redisUrl: string, prefix: string): Promise<string[]> {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const queue = new Queue('default', { connection, prefix: `{${prefix}}` });
  try {
    const jobs = await queue.getJobs(['completed', 'waiting', 'active', 'delayed', 'failed']);
    return jobs.map((job) => job.id!);
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** Resolves when the child has exited; rejects if it is still running after `ms`. */
function exited(child: Child, ms: number): Promise<void> {
  const { process: proc } = child;
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the relay was still running ${ms} ms after SIGTERM`)),
      ms,
    );
    proc.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** How many rounds in a row the relay child last reported as failed. */
const failures = (relay: Child) => Number(relayStats(relay.output())?.consecutiveFailures ?? 0);

describe('fault 8: the relay against a Redis that is unreachable, hung or refusing its password', () => {
  let pg: PrivatePostgres;
  const children: Child[] = [];
  const servers: PrivateRedis[] = [];

  beforeAll(async () => {
    pg = await PrivatePostgres.start();
  });
  afterEach(async () => {
    // Each test's processes go with it, so one test's relay never shows up in the next.
    await Promise.all(children.splice(0).map((child) => child.kill()));
    await Promise.all(servers.splice(0).map((server) => server.destroy()));
  });
  afterAll(async () => {
    await pg?.destroy();
  });

  /**
   * Waits until the relay has tried (and failed) at least twice more, or a session sits idle
   * in a transaction (the relay holding claimed rows across a Redis call), then checks that
   * none does and that every committed row is still there.
   */
  async function holdsNothingWhileRedisFails(
    relay: Child,
    table: string,
    expected: { rows: number; pending: number },
  ) {
    const before = failures(relay);
    await until(
      async () => failures(relay) >= before + 2 || (await idleInTransaction(pg.url)).length > 0,
      60_000,
      'the relay to try and fail twice more',
    );
    expect(await idleInTransaction(pg.url)).toEqual([]);
    expect(await outboxCounts(pg.url, table)).toEqual(expected);
  }

  /** Commits `count` ledger items from `from` through a committer child (real Outbox writes). */
  async function commit(env: Omit<OutboxNodeEnv, 'role'>, from: number, count: number) {
    const committer = await startOutboxNode({ ...env, role: 'committer', from, count });
    children.push(committer);
    await until(() => /DONE/.test(committer.output()), 60_000, 'the committer to finish');
    return committed(committer.output());
  }

  /**
   * Commits `count` more items as copies of the first row (same task and stored job options,
   * as `Outbox.enqueue` wrote them), from the test: a committer child would not boot while
   * its Redis is frozen.
   */
  async function commitCopies(table: string, from: number, count: number): Promise<number[]> {
    const client = new Client({ connectionString: pg.url });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO "${table}" (kind, name, queue, payload, options)
         SELECT kind, name, queue, jsonb_build_object('n', n), options
           FROM (SELECT * FROM "${table}" ORDER BY id LIMIT 1) first,
                generate_series($1::int, $2::int) n`,
        [from, from + count - 1],
      );
    } finally {
      await client.end();
    }
    return Array.from({ length: count }, (_, i) => from + i);
  }

  it('publishes every row committed while Redis was down or hung once it answers, holding no transaction meanwhile, and stops in time', async () => {
    const redis = await PrivateRedis.start({ appendonly: true });
    servers.push(redis);
    await redis.stop(); // nothing answers on its port until it starts again
    const down = items(200, 2_000);
    const hung = items(200, 2_000);
    const base = {
      databaseUrl: pg.url,
      redisUrl: redis.url,
      prefix: uniquePrefix(),
      table: 'outbox_redis_outage',
    };
    const ledger = new Ledger(base.prefix);
    try {
      const relayEnv: OutboxNodeEnv = {
        ...base,
        role: 'relay',
        reportStats: true,
        relay: { publishTimeout: '1s', lease: '3s' },
      };
      const [relay, doomed] = await Promise.all([
        startOutboxNode(relayEnv),
        startOutboxNode(relayEnv),
      ]);
      children.push(relay, doomed);

      // 1. Redis was never up: commits go through, the relays hold nothing and lose nothing.
      const acknowledged = await commit(base, 0, down);
      expect(acknowledged).toHaveLength(down);
      await holdsNothingWhileRedisFails(relay, base.table, { rows: down, pending: down });
      // A relay stopped during the outage stops in time, leaving nothing open behind it.
      doomed.process.kill('SIGTERM');
      await exited(doomed, 20_000);
      expect(await idleInTransaction(pg.url)).toEqual([]);

      // 2. Redis starts: everything is published, without a restart of the relay.
      await redis.start();
      const worker = await startWorker({ redisUrl: redis.url, prefix: base.prefix });
      children.push(worker);
      await until(
        async () =>
          (await outboxCounts(pg.url, base.table)).pending === 0 && (await ledger.done()) === down,
        60_000,
        'the rows committed during the outage to run',
      );

      // 3. Redis hangs (SIGSTOP) with the connection up: the relay claims rows and its
      // addBulk gets no answer. No transaction may stay open across that call.
      redis.pause();
      let resumed = false;
      try {
        acknowledged.push(...(await commitCopies(base.table, down, hung)));
        await holdsNothingWhileRedisFails(relay, base.table, { rows: down + hung, pending: hung });
        // The relay did claim rows and wait on the frozen Redis (their addBulk timed out).
        expect(await failedRows(pg.url, base.table)).toBeGreaterThan(0);
      } finally {
        redis.resume();
        resumed = true;
      }
      expect(resumed).toBe(true);
      await until(
        async () =>
          (await outboxCounts(pg.url, base.table)).pending === 0 &&
          (await ledger.done()) === down + hung,
        60_000,
        'the rows committed while Redis hung to run',
      );

      const check = await ledger.check(acknowledged);
      const ids = await jobIds(redis.url, base.prefix);
      report({
        scenario: 'relay against Redis down at start, then hung',
        items: acknowledged.length,
        faults: 2,
        ran: check.ran,
        lost: check.lost.length,
        runs: check.runs,
        duplicatesAbsorbed: check.duplicatesAbsorbed,
        jobs: ids.length,
      });
      expect(check.lost).toEqual([]);
      // One job per row: a row published twice (a timed-out addBulk that landed late) is
      // the same job id.
      expect(ids).toHaveLength(down + hung);
      expect(new Set(ids).size).toBe(down + hung);

      // 4. app.close() returns: SIGTERM ends the relay within a bound.
      relay.process.kill('SIGTERM');
      await exited(relay, 20_000);
      expect(await idleInTransaction(pg.url)).toEqual([]);
    } finally {
      await ledger.close();
    }
  });

  it('recovers by itself from a wrong Redis password once Redis accepts it', async () => {
    const redis = await PrivateRedis.start({ password: 'the-right-one' });
    servers.push(redis);
    const relayUrl = `redis://:the-old-one@127.0.0.1:${redis.port}`;
    const count = items(100, 1_000);
    const base = {
      databaseUrl: pg.url,
      redisUrl: relayUrl,
      prefix: uniquePrefix(),
      table: 'outbox_redis_wrongpass',
    };
    const ledger = new Ledger(base.prefix);
    try {
      const relay = await startOutboxNode({
        ...base,
        role: 'relay',
        reportStats: true,
        relay: { publishTimeout: '1s', lease: '3s' },
      });
      children.push(relay);
      const acknowledged = await commit(base, 0, count);
      await holdsNothingWhileRedisFails(relay, base.table, { rows: count, pending: count });
      expect(relayStats(relay.output())?.lastError).toMatch(/WRONGPASS|NOAUTH/);

      // The operator rotates the password to the one the app has (the admin stays logged in).
      const admin = redis.client();
      try {
        await admin.config('SET', 'requirepass', 'the-old-one');
      } finally {
        admin.disconnect();
      }
      const worker = await startWorker({ redisUrl: relayUrl, prefix: base.prefix });
      children.push(worker);
      await until(
        async () =>
          (await outboxCounts(pg.url, base.table)).pending === 0 && (await ledger.done()) === count,
        60_000,
        'the rows to be published and run after the password was fixed',
      );
      const check = await ledger.check(acknowledged);
      report({
        scenario: 'relay against Redis refusing its password, then accepting it',
        items: acknowledged.length,
        faults: 1,
        ran: check.ran,
        lost: check.lost.length,
        runs: check.runs,
        duplicatesAbsorbed: check.duplicatesAbsorbed,
      });
      expect(check.lost).toEqual([]);
      relay.process.kill('SIGTERM');
      await exited(relay, 20_000);
    } finally {
      await ledger.close();
    }
  });
});
