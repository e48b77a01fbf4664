import type { Child } from '../support/child-process';
import { PrivatePostgres } from '../support/private-postgres';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';
import { items, report, sleep, until } from './ledger';
import {
  committed,
  outboxCounts,
  type OutboxNodeEnv,
  queuedItems,
  startOutboxNode,
} from './outbox-support';

describe('fault 4: relays SIGKILLed mid-batch, two at a time', () => {
  let pg: PrivatePostgres;
  let redis: PrivateRedis;
  const children: Child[] = [];

  beforeAll(async () => {
    [pg, redis] = await Promise.all([
      PrivatePostgres.start(),
      PrivateRedis.start({ appendonly: true }),
    ]);
  });
  afterAll(async () => {
    await Promise.all(children.map((child) => child.kill()));
    await Promise.all([pg?.destroy(), redis?.destroy()]);
  });

  it('publishes every committed event as exactly one job while relays keep dying', async () => {
    const total = items(1_500, 10_000);
    const base = {
      databaseUrl: pg.url,
      redisUrl: redis.url,
      prefix: uniquePrefix(),
      table: 'outbox_relay_kills',
    };
    const relayEnv: OutboxNodeEnv = { ...base, role: 'relay', batchSize: 25 };
    // The committer creates the table first; the relays then start on it.
    const committer = await startOutboxNode({
      ...base,
      role: 'committer',
      count: total,
      paceMs: 5,
    });
    children.push(committer);
    const output = () => committer.output();
    const relays = await Promise.all([startOutboxNode(relayEnv), startOutboxNode(relayEnv)]);
    children.push(...relays);

    let kills = 0;
    const drained = async () =>
      /DONE/.test(output()) && (await outboxCounts(pg.url, base.table)).pending === 0;
    const deadline = Date.now() + 120_000;
    while (!(await drained()) && Date.now() < deadline) {
      await sleep(800);
      const victim = kills % relays.length;
      await relays[victim].kill('SIGKILL');
      kills += 1;
      relays[victim] = await startOutboxNode(relayEnv);
      children.push(relays[victim]);
    }
    await until(drained, 60_000, 'the outbox to drain');

    const acknowledged = committed(output());
    const counts = await outboxCounts(pg.url, base.table);
    const jobs = await queuedItems(redis, base.prefix);
    const jobsPerItem = new Map<number, number>();
    for (const job of jobs) jobsPerItem.set(job.n, (jobsPerItem.get(job.n) ?? 0) + 1);
    const lost = acknowledged.filter((n) => !jobsPerItem.has(n));
    const doubled = [...jobsPerItem.values()].filter((count) => count > 1).length;
    report({
      scenario: 'relays SIGKILLed mid-batch (2 relays)',
      items: acknowledged.length,
      faults: kills,
      ran: jobsPerItem.size,
      lost: lost.length,
      runs: jobs.length,
      duplicatesAbsorbed: 0,
      outboxRows: counts.rows,
      itemsWithTwoJobs: doubled,
    });
    expect(acknowledged).toHaveLength(total);
    expect(kills).toBeGreaterThan(1);
    expect(lost).toEqual([]);
    // One job per event: a row re-published after a crash hits the same job id.
    expect(counts).toEqual({ rows: total, pending: 0 });
    expect(jobs).toHaveLength(total);
    expect(new Set(jobs.map((job) => job.id)).size).toBe(total);
  });
});
