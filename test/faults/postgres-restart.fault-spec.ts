import type { Child } from '../support/child-process';
import { PrivatePostgres } from '../support/private-postgres';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';
import { items, report, sleep, until } from './ledger';
import { committed, outboxCounts, queuedItems, startOutboxNode } from './outbox-support';

describe('fault 3: PostgreSQL crashes while requests commit and the relay runs', () => {
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

  it('turns every acknowledged commit into a job', async () => {
    const total = items(800, 5_000);
    const outages = items(2, 6);
    const base = {
      databaseUrl: pg.url,
      redisUrl: redis.url,
      prefix: uniquePrefix(),
      table: 'outbox_pg_restart',
    };
    // Two committers stand in for API processes taking requests.
    const half = Math.floor(total / 2);
    const committers = [
      await startOutboxNode({ ...base, role: 'committer', count: half, paceMs: 5 }),
      await startOutboxNode({
        ...base,
        role: 'committer',
        from: half,
        count: total - half,
        paceMs: 5,
      }),
    ];
    const outputs = committers.map((committer) => () => committer.output());
    const relay = await startOutboxNode({ ...base, role: 'relay' });
    children.push(...committers, relay);

    for (let i = 0; i < outages; i += 1) {
      await sleep(1_500);
      await pg.stop('immediate');
      await sleep(1_500);
      await pg.start();
    }
    const allDone = () => outputs.every((output) => /DONE/.test(output()));
    await until(allDone, 120_000, 'the committers to finish');
    await until(
      async () => (await outboxCounts(pg.url, base.table)).pending === 0,
      60_000,
      'the relay to drain the outbox',
    );

    const acknowledged = outputs.flatMap((output) => committed(output()));
    const retried = outputs.reduce(
      (sum, output) => sum + (output().match(/^RETRY/gm) ?? []).length,
      0,
    );
    const counts = await outboxCounts(pg.url, base.table);
    const jobs = await queuedItems(redis, base.prefix);
    const queued = new Set(jobs.map((job) => job.n));
    const lost = acknowledged.filter((n) => !queued.has(n));
    report({
      scenario: 'postgres crash (immediate stop) + restart',
      items: acknowledged.length,
      faults: outages,
      ran: queued.size,
      lost: lost.length,
      runs: jobs.length,
      duplicatesAbsorbed: 0,
      outboxRows: counts.rows,
      transactionsRetried: retried,
    });
    expect(new Set(acknowledged).size).toBe(total);
    expect(lost).toEqual([]);
    // Every row, including any whose commit was in doubt and retried, became exactly one job.
    expect(counts.pending).toBe(0);
    expect(jobs).toHaveLength(counts.rows);
  });
});
