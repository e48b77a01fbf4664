import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TransactionHost } from '@nestjs-cls/transactional';
import type { INestApplicationContext } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Client, Pool } from 'pg';
import {
  Outbox,
  OutboxRelay,
  OutboxModule,
  type OutboxModuleOptions,
  type OutboxTransactionalAdapter,
} from '@conveyor/outbox';
import { defineTask, Task, TasksModule } from '@conveyor/tasks';
import { pgbenchTps } from './calibrate';
import type { ScenarioResult } from './queue-scenarios';
import type { Settings } from './settings';
import {
  collectGarbage,
  DATABASE_URL,
  deferred,
  deletePrefix,
  now,
  percentile,
  REDIS_URL,
  relayListener,
  sleep,
  summarize,
  uniquePrefix,
  within,
} from './util';

const OutboxJob = defineTask<{ i: number }, void>('bench.outbox', { queue: 'outbox-bench' });
let onJob: (payload: { i: number }) => void = () => undefined;

@Injectable()
class OutboxBenchTasks {
  @Task(OutboxJob)
  async run(payload: { i: number }): Promise<void> {
    onJob(payload);
  }
}

interface Env {
  prefix: string;
  table: string;
  business: string;
  sql: Client;
}

interface App {
  app: INestApplicationContext;
  txHost: TransactionHost<OutboxTransactionalAdapter>;
  outbox: Outbox;
  relay: OutboxRelay;
}

/** A Nest app with Conveyor's tasks and outbox on this run's prefix and table. */
async function startApp(
  env: Env,
  workers: boolean,
  outbox: Partial<OutboxModuleOptions>,
): Promise<App> {
  @Module({
    imports: [
      TasksModule.forRoot({
        connection: REDIS_URL,
        prefix: env.prefix,
        queues: { 'outbox-bench': { concurrency: 50 } },
        workers: workers ? 'all' : 'none',
      }),
      OutboxModule.forRoot({
        ...(outbox.pool ? {} : { url: DATABASE_URL }),
        table: env.table,
        createTable: true,
        ...outbox,
      }),
    ],
    providers: [OutboxBenchTasks],
  })
  class OutboxBenchModule {}
  const app = await NestFactory.createApplicationContext(OutboxBenchModule, {
    logger: false,
    abortOnError: false,
  });
  return {
    app,
    txHost: app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost),
    outbox: app.get(Outbox),
    relay: app.get(OutboxRelay),
  };
}

/** The `options` column of a task row, as the raw side reads it. */
interface RowOptions {
  job: { opts: Record<string, unknown> };
}

type TxKind =
  | 'without outbox'
  | 'with 1 outbox event'
  | 'the same, no relay listening'
  | 'the same row by hand (raw pg)';

/** The job options an outbox row of this scenario stores (what `Outbox.enqueue` writes). */
const OUTBOX_ROW_OPTIONS = JSON.stringify({
  job: { task: 'bench.outbox', queue: 'outbox-bench', opts: { removeOnComplete: { age: 86_400 } } },
});

/**
 * One business transaction: insert a row and, beside it, nothing, one `Outbox.enqueue`, or
 * the outbox's INSERT written by hand (its SQL, unprepared, as a raw `pg` user would).
 */
function transaction(a: App, env: Env, i: number, kind: TxKind): Promise<unknown> {
  return a.txHost.withTransaction(async () => {
    await a.txHost.tx.query(`INSERT INTO ${env.business} (v) VALUES ($1)`, [`order ${i}`]);
    if (kind === 'with 1 outbox event' || kind === 'the same, no relay listening') {
      await a.outbox.enqueue(OutboxJob, { i });
    }
    if (kind === 'the same row by hand (raw pg)') {
      await a.txHost.tx.query(
        `INSERT INTO ${env.table} (kind, name, queue, payload, options, trace)
         VALUES ('task', $1, 'outbox-bench', $2::text::jsonb, $3::text::jsonb, NULL) RETURNING id::text AS id`,
        [OutboxJob.name, JSON.stringify({ i }), OUTBOX_ROW_OPTIONS],
      );
    }
  });
}

export async function outboxScenarios(settings: Settings): Promise<ScenarioResult[]> {
  const id = randomUUID().slice(0, 8);
  const sql = new Client({ connectionString: DATABASE_URL });
  await sql.connect();
  const env: Env = {
    prefix: uniquePrefix(),
    table: `conveyor_bench_${id}.outbox`,
    business: `conveyor_bench_${id}.orders`,
    sql,
  };
  await sql.query(`CREATE SCHEMA conveyor_bench_${id}`);
  await sql.query(`CREATE TABLE ${env.business} (id bigserial PRIMARY KEY, v text NOT NULL)`);
  try {
    return [
      ...(await transactionCost(settings, env)),
      ...(await relayThroughput(settings, env)),
      ...(await commitLatency(settings, env)),
      ...(await commitRate(settings, env)),
    ];
  } finally {
    await sql.query(`DROP SCHEMA IF EXISTS conveyor_bench_${id} CASCADE`);
    await sql.end();
    await deletePrefix(env.prefix);
  }
}

/**
 * Serial transactions per second, rotated: without outbox; with one outbox event, a relay
 * listening (so commits are announced) and none; and with the same row inserted by hand
 * through the same `pg` transaction (raw pg). Beside them, the floor PostgreSQL itself sets:
 * `pgbench` running the same one-row transaction, and the same with the very INSERT the
 * outbox makes into its table (no Node, no driver), in the same rounds. An outbox cannot
 * cost less than that second table's row does.
 */
async function transactionCost(settings: Settings, env: Env): Promise<ScenarioResult[]> {
  const { txWarmup, txMeasured } = settings.outbox;
  const a = await startApp(env, false, { relay: false });
  // The default deployment: a relay somewhere listens, so each commit is announced. Beside
  // it, the same writer on a table of its own whose channel nobody listens on.
  const listener = await relayListener(env.table);
  const unheard = await startApp({ ...env, table: `${env.table}_unheard` }, false, {
    relay: false,
  });
  const kinds: TxKind[] = [
    'without outbox',
    'with 1 outbox event',
    'the same, no relay listening',
    'the same row by hand (raw pg)',
  ];
  const appFor = (kind: TxKind) => (kind === 'the same, no relay listening' ? unheard : a);
  const rates = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<
    TxKind,
    number[]
  >;
  // Node CPU per transaction: what the rate means on a machine that others share.
  const cpu = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<TxKind, number[]>;
  const floor: Record<string, number[]> = { 'pgbench, one row': [], 'pgbench, + outbox row': [] };
  const dir = mkdtempSync(path.join(tmpdir(), 'conveyor-bench-'));
  const scripts = {
    'pgbench, one row': path.join(dir, 'without.sql'),
    'pgbench, + outbox row': path.join(dir, 'with.sql'),
  };
  const business = `INSERT INTO ${env.business} (v) VALUES ('pgbench');`;
  writeFileSync(scripts['pgbench, one row'], `BEGIN;\n${business}\nCOMMIT;\n`);
  // The outbox's own row, sent as it sends it (writeAtCommit): in one query with the COMMIT
  // (pgbench's `\;` joins the two). Its id comes from the sequence as the outbox's do.
  const options = OUTBOX_ROW_OPTIONS;
  writeFileSync(
    scripts['pgbench, + outbox row'],
    `BEGIN;\n${business}\nINSERT INTO ${env.table} (kind, name, queue, payload, options, trace) ` +
      `VALUES ('task', '${OutboxJob.name}', 'outbox-bench', '{"i":0}'::jsonb, ` +
      `'${options}'::jsonb, NULL) \\; COMMIT;\n`,
  );
  const seconds = Math.max(1, Math.round(settings.calibration.pgbenchSeconds / 2));
  try {
    let i = 0;
    for (let round = 0; round < settings.rounds; round++) {
      // Rotated each round, so none always runs first.
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + round) % kinds.length];
        const app = appFor(kind);
        collectGarbage();
        for (let w = 0; w < txWarmup; w++) await transaction(app, env, i++, kind);
        const start = now();
        const cpu0 = process.cpuUsage();
        for (let m = 0; m < txMeasured; m++) await transaction(app, env, i++, kind);
        const used = process.cpuUsage(cpu0);
        rates[kind].push(txMeasured / ((now() - start) / 1000));
        cpu[kind].push((used.user + used.system) / txMeasured);
      }
      const order = Object.keys(scripts) as (keyof typeof scripts)[];
      for (const name of round % 2 ? order.reverse() : order) {
        floor[name].push(pgbenchTps(scripts[name], 1, seconds));
      }
      process.stderr.write(`  outbox tx cost: round ${round + 1}/${settings.rounds} done\n`);
    }
  } finally {
    await a.app.close();
    await unheard.app.close();
    await listener.end();
    await env.sql.query(`TRUNCATE ${env.table}`);
    rmSync(dir, { recursive: true, force: true });
  }
  return [
    {
      group: 'outbox',
      scenario: 'one-row transaction, serial',
      unit: 'tx/s',
      higherIsBetter: true,
      baseline: 'without outbox',
      contenders: Object.fromEntries(kinds.map((k) => [k, summarize(rates[k])])),
    },
    {
      group: 'outbox',
      scenario: 'one-row transaction, Node CPU per tx',
      unit: 'µs/tx',
      higherIsBetter: false,
      baseline: 'without outbox',
      contenders: Object.fromEntries(kinds.map((k) => [k, summarize(cpu[k])])),
    },
    {
      group: 'outbox',
      scenario: 'the same in pgbench (PostgreSQL floor)',
      unit: 'tx/s',
      higherIsBetter: true,
      baseline: 'pgbench, one row',
      contenders: {
        'pgbench, one row': summarize(floor['pgbench, one row']),
        'pgbench, + outbox row': summarize(floor['pgbench, + outbox row']),
      },
    },
  ];
}

/**
 * Relay: committed rows → jobs in Redis, by `OutboxRelay.drain()` (the relay's own batch
 * loop, batch 100). Raw ceiling, same rows and batch size: claim-and-mark in plain SQL, and
 * raw BullMQ `addBulk` of the same jobs; the ceiling is the slower of the two.
 */
async function relayThroughput(settings: Settings, env: Env): Promise<ScenarioResult[]> {
  const rows = settings.outbox.relayRows;
  const a = await startApp(env, false, { relay: false });
  const copy = `${env.table}_raw`;
  const queue = new Queue('outbox-bench-raw', {
    connection: { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null },
    prefix: `{${env.prefix}}`,
  });
  const rates: Record<string, number[]> = {
    'raw claim (SQL)': [],
    'raw addBulk': [],
    'raw ceiling': [],
    'conveyor relay': [],
  };
  try {
    for (let round = 0; round < settings.rounds; round++) {
      await env.sql.query(`TRUNCATE ${env.table}`);
      for (let done = 0; done < rows; done += 500) {
        await a.txHost.withTransaction(async () => {
          for (let i = done; i < Math.min(rows, done + 500); i++) {
            await a.outbox.enqueue(OutboxJob, { i });
          }
        });
      }
      await env.sql.query(`DROP TABLE IF EXISTS ${copy}`);
      await env.sql.query(`CREATE TABLE ${copy} (LIKE ${env.table} INCLUDING ALL)`);
      await env.sql.query(`INSERT INTO ${copy} SELECT * FROM ${env.table}`);
      await env.sql.query(`VACUUM ANALYZE ${env.table}`);
      await env.sql.query(`VACUUM ANALYZE ${copy}`);

      const relayFirst = round % 2 === 0;
      const runRelay = async () => {
        const start = now();
        const published = await a.relay.drain();
        if (published !== rows) throw new Error(`relay published ${published} of ${rows}`);
        rates['conveyor relay'].push(rows / ((now() - start) / 1000));
      };
      const runRaw = async () => {
        // Claim and mark, batch after batch, as a minimal relay would (no Redis).
        const claimed: { id: string; payload: unknown; options: RowOptions }[] = [];
        let start = now();
        for (;;) {
          await env.sql.query('BEGIN');
          const { rows: batch } = await env.sql.query<{
            id: string;
            payload: unknown;
            options: RowOptions;
          }>(
            `SELECT id, name, queue, payload, options FROM ${copy}
              WHERE published_at IS NULL AND available_at <= now()
              ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED`,
          );
          if (batch.length) {
            await env.sql.query(`UPDATE ${copy} SET published_at = now() WHERE id = ANY($1)`, [
              batch.map((r) => r.id),
            ]);
          }
          await env.sql.query('COMMIT');
          claimed.push(...batch);
          if (batch.length < 100) break;
        }
        const claimRate = rows / ((now() - start) / 1000);
        // The same jobs, 100 at a time, straight into Redis: with the options the row
        // stores (the relay must add them; BullMQ keeps them in the job hash), not just a
        // job id.
        start = now();
        for (let b = 0; b < claimed.length; b += 100) {
          await queue.addBulk(
            claimed.slice(b, b + 100).map((r) => ({
              name: 'bench.outbox',
              data: r.payload,
              opts: { ...r.options.job.opts, jobId: `outbox-${r.id}` },
            })),
          );
        }
        const addRate = rows / ((now() - start) / 1000);
        rates['raw claim (SQL)'].push(claimRate);
        rates['raw addBulk'].push(addRate);
        rates['raw ceiling'].push(Math.min(claimRate, addRate));
      };
      for (const run of relayFirst ? [runRelay, runRaw] : [runRaw, runRelay]) await run();
      await deletePrefix(env.prefix);
      process.stderr.write(`  outbox relay: round ${round + 1}/${settings.rounds} done\n`);
    }
  } finally {
    await queue.close();
    await a.app.close();
    await env.sql.query(`DROP TABLE IF EXISTS ${copy}`);
    await env.sql.query(`TRUNCATE ${env.table}`);
  }
  return [
    {
      group: 'outbox',
      scenario: `relay ${rows} committed rows → jobs in Redis`,
      unit: 'rows/s',
      higherIsBetter: true,
      baseline: 'raw ceiling',
      contenders: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, summarize(v)])),
    },
  ];
}

/**
 * Commit → handler start. A writer app (no relay) commits at a fixed rate; a second app
 * (relay + worker, as another process would be) picks the rows up either on LISTEN/NOTIFY
 * or by polling alone. Latency runs from the resolved commit to the handler's first line.
 */
async function commitLatency(settings: Settings, env: Env): Promise<ScenarioResult[]> {
  const { latencyRate, latencySeconds, pollInterval } = settings.outbox;
  const total = Math.round(latencyRate * latencySeconds);
  const warm = Math.round(total / 10);
  const modes = [
    { label: 'LISTEN/NOTIFY', listen: true },
    { label: `polling only (every ${pollInterval} ms)`, listen: false },
  ];
  const measured: Record<string, Record<string, number[]>> = {};
  for (let round = 0; round < settings.rounds; round++) {
    for (const mode of round % 2 ? [...modes].reverse() : modes) {
      const committed = new Float64Array(total);
      const started = new Float64Array(total);
      let seen = 0;
      const done = deferred();
      onJob = ({ i }) => {
        started[i] = now();
        if (++seen === total) done.resolve();
      };
      const relayApp = await startApp(env, true, {
        notify: false,
        relay: { listen: mode.listen, pollInterval: pollInterval, retention: false },
      });
      const writer = await startApp(env, false, { relay: false, notify: mode.listen });
      try {
        await sleep(200);
        const start = now();
        for (let i = 0; i < total; i++) {
          const wait = start + (i * 1000) / latencyRate - now();
          if (wait > 0) await sleep(wait);
          await transaction(writer, env, i, 'with 1 outbox event');
          committed[i] = now();
        }
        await within(done.promise, 60_000, `outbox latency (${mode.label})`);
      } finally {
        await writer.app.close();
        await relayApp.app.close();
        onJob = () => undefined;
        await env.sql.query(`TRUNCATE ${env.table}`);
        await deletePrefix(env.prefix);
      }
      const latencies = Array.from(started.subarray(warm), (t, k) => t - committed[warm + k]).sort(
        (x, y) => x - y,
      );
      for (const p of [50, 99]) {
        const key = `commit → handler start p${p} @${latencyRate}/s`;
        measured[key] ??= {};
        (measured[key][mode.label] ??= []).push(percentile(latencies, p));
      }
    }
    process.stderr.write(`  outbox latency: round ${round + 1}/${settings.rounds} done\n`);
  }
  return Object.entries(measured).map(([scenario, byMode]) => ({
    group: 'outbox',
    scenario,
    unit: 'ms',
    higherIsBetter: false,
    contenders: Object.fromEntries(Object.entries(byMode).map(([k, v]) => [k, summarize(v)])),
  }));
}

/**
 * Highest commit rate: 16 connections committing as fast as they can for a few seconds,
 * with and without one outbox event per transaction (after-commit NOTIFY on, the default,
 * and a relay listening, so it is sent). The first fifth of the time is warm-up, excluded
 * from count and time.
 */
async function commitRate(settings: Settings, env: Env): Promise<ScenarioResult[]> {
  const { connections, commitSeconds } = settings.outbox;
  const pool = new Pool({ connectionString: DATABASE_URL, max: connections });
  const a = await startApp(env, false, { relay: false, pool });
  // A relay listens, so the after-commit NOTIFYs this scenario is about are really sent.
  const listener = await relayListener(env.table);
  const kinds: TxKind[] = ['without outbox', 'with 1 outbox event'];
  const rates = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as Record<
    TxKind,
    number[]
  >;
  try {
    let i = 0;
    for (let round = 0; round < settings.rounds; round++) {
      for (const withOutbox of round % 2 ? [true, false] : [false, true]) {
        const start = now();
        const warmEnd = start + commitSeconds * 200;
        const end = start + commitSeconds * 1000;
        let counted = 0;
        await Promise.all(
          Array.from({ length: connections }, async () => {
            while (now() < end) {
              await transaction(a, env, i++, withOutbox ? 'with 1 outbox event' : 'without outbox');
              const t = now();
              if (t >= warmEnd && t < end) counted++;
            }
          }),
        );
        const rate = counted / ((end - warmEnd) / 1000);
        rates[withOutbox ? 'with 1 outbox event' : 'without outbox'].push(rate);
        await env.sql.query(`TRUNCATE ${env.table}`);
      }
      process.stderr.write(`  outbox commit rate: round ${round + 1}/${settings.rounds} done\n`);
    }
  } finally {
    await listener.end();
    await a.app.close();
    await pool.end().catch(() => undefined);
  }
  return [
    {
      group: 'outbox',
      scenario: `one-row transactions, ${connections} connections`,
      unit: 'tx/s',
      higherIsBetter: true,
      baseline: 'without outbox',
      contenders: Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, summarize(v)])),
    },
  ];
}
