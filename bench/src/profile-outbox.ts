import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { TransactionHost } from '@nestjs-cls/transactional';
import { Queue } from 'bullmq';
import { Client } from 'pg';
import {
  Outbox,
  OutboxModule,
  OutboxRelay,
  type OutboxModuleOptions,
  type OutboxTransactionalAdapter,
} from '@conveyor/outbox';
import { defineTask, Task, TasksModule } from '@conveyor/tasks';
import {
  DATABASE_URL,
  deletePrefix,
  median,
  now,
  REDIS_URL,
  relayListener,
  uniquePrefix,
} from './util';

/**
 * Load-independent readings of the outbox's two hot paths, alone in this process: counts that
 * do not move with the machine's load (statements and round trips per transaction, Node CPU
 * µs per transaction or row, the PostgreSQL backend's CPU, WAL records and bytes, buffers)
 * beside the rates.
 *
 *   WHAT=tx N=2000 ROUNDS=5 node bench/profile-outbox.js      # one-row transaction variants
 *   WHAT=relay N=20000 ROUNDS=3 node bench/profile-outbox.js  # relay drain, split by phase
 */
const OutboxJob = defineTask<{ i: number }, void>('bench.outbox', { queue: 'outbox-bench' });

@Injectable()
class ProfileTasks {
  @Task(OutboxJob)
  async run(): Promise<void> {}
}

const OUTBOX_ROW_OPTIONS = JSON.stringify({
  job: { task: 'bench.outbox', queue: 'outbox-bench', opts: { removeOnComplete: { age: 86_400 } } },
});

async function startApp(prefix: string, table: string, outbox: Partial<OutboxModuleOptions>) {
  @Module({
    imports: [
      TasksModule.forRoot({ connection: REDIS_URL, prefix, workers: 'none' }),
      OutboxModule.forRoot({ url: DATABASE_URL, table, createTable: true, ...outbox }),
    ],
    providers: [ProfileTasks],
  })
  class ProfileModule {}
  const app = await NestFactory.createApplicationContext(ProfileModule, { logger: false });
  return {
    app,
    txHost: app.get<TransactionHost<OutboxTransactionalAdapter>>(TransactionHost),
    outbox: app.get(Outbox),
    relay: app.get(OutboxRelay),
  };
}

/** Counts every statement a pg Client sends, by its first word. */
const statements = new Map<string, number>();
/** Wall time from send to answer, summed by the same key (queueing on the client included). */
const statementMs = new Map<string, number>();
const claimTimes: number[] = [];
const originalQuery = Client.prototype.query;
Client.prototype.query = function (this: Client, ...args: unknown[]) {
  const q = args[0] as string | { text: string; name?: string };
  const text = typeof q === 'string' ? q : q.text;
  const key = `${(text.trim().split(/\s+/)[0] ?? '').toUpperCase()}${typeof q === 'object' && q.name ? ' (prepared)' : ''}`;
  statements.set(key, (statements.get(key) ?? 0) + 1);
  const t0 = now();
  const result = (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
  if (result instanceof Promise) {
    void result.then(
      () => {
        statementMs.set(key, (statementMs.get(key) ?? 0) + now() - t0);
        if (key === 'SELECT') claimTimes.push(now() - t0);
      },
      () => undefined,
    );
  }
  return result;
} as typeof Client.prototype.query;

/** CPU ticks (user + system) of one PostgreSQL backend, from /proc. */
function backendTicks(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return NaN;
  }
}

async function walStats(sql: Client): Promise<{ records: number; bytes: number; syncs: number }> {
  const { rows } = await sql.query(
    'SELECT wal_records::float8 AS records, wal_bytes::float8 AS bytes, wal_sync::float8 AS syncs FROM pg_stat_wal',
  );
  return rows[0];
}

async function tx(n: number, rounds: number): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const schema = `conveyor_profile_${id}`;
  const sql = new Client({ connectionString: DATABASE_URL });
  await sql.connect();
  await sql.query(`CREATE SCHEMA ${schema}`);
  await sql.query(`CREATE TABLE ${schema}.orders (id bigserial PRIMARY KEY, v text NOT NULL)`);
  const prefix = uniquePrefix();
  const table = `${schema}.outbox`;
  const withNotify = await startApp(prefix, table, { relay: false });
  const noNotify = await startApp(prefix, table, { relay: false, notify: false });
  const atCall = await startApp(prefix, table, { relay: false, writeAtCommit: false });
  // A second table whose channel has a listener, named as a relay's LISTEN connection is.
  const listened = await startApp(prefix, `${schema}.outbox_listened`, { relay: false });
  const listener = await relayListener(`${schema}.outbox_listened`);
  let heard = 0;
  listener.on('notification', () => heard++);
  type A = typeof withNotify;
  const handSql = `INSERT INTO ${table} (kind, name, queue, payload, options, trace) VALUES ('task', $1, 'outbox-bench', $2::text::jsonb, $3::text::jsonb, NULL) RETURNING id::text AS id`;
  // txHost.tx is typed as the query both drivers share; on pg it is a PoolClient.
  const hand = (a: A, i: number, prepared: boolean) =>
    (a.txHost.tx as unknown as Client).query({
      ...(prepared ? { name: 'hand_insert' } : {}),
      text: handSql,
      values: [OutboxJob.name, JSON.stringify({ i }), OUTBOX_ROW_OPTIONS],
    });
  const variants: Record<string, { a: A; body: (a: A, i: number) => Promise<unknown> }> = {
    'without outbox': { a: withNotify, body: async () => undefined },
    'Outbox.enqueue, NOTIFY on': {
      a: withNotify,
      body: (a, i) => a.outbox.enqueue(OutboxJob, { i }),
    },
    'Outbox.enqueue, NOTIFY on, a listener': {
      a: listened,
      body: (a, i) => a.outbox.enqueue(OutboxJob, { i }),
    },
    'Outbox.enqueue, notify: false': {
      a: noNotify,
      body: (a, i) => a.outbox.enqueue(OutboxJob, { i }),
    },
    'Outbox.enqueue, writeAtCommit: false': {
      a: atCall,
      body: (a, i) => a.outbox.enqueue(OutboxJob, { i }),
    },
    'by hand, unprepared': { a: noNotify, body: (a, i) => hand(a, i, false) },
    'by hand, prepared': { a: noNotify, body: (a, i) => hand(a, i, true) },
  };
  const only = process.env.ONLY?.split(',');
  const names = Object.keys(variants).filter((k) => !only || only.some((o) => k.includes(o)));
  const out: Record<string, Record<string, number[]>> = {};
  let i = 0;
  const run = (v: (typeof variants)[string], k: number) =>
    v.a.txHost.withTransaction(async () => {
      await v.a.txHost.tx.query(`INSERT INTO ${schema}.orders (v) VALUES ($1)`, [`order ${k}`]);
      await v.body(v.a, k);
    });
  // The backend a serial transaction runs on (pg-pool hands back the same idle client).
  const pidOf = async (a: A) =>
    a.txHost.withTransaction(async () => {
      const { rows } = await a.txHost.tx.query('SELECT pg_backend_pid() AS pid');
      return (rows as { pid: number }[])[0]!.pid;
    });
  try {
    for (let round = 0; round < rounds; round++) {
      for (let k = 0; k < names.length; k++) {
        const name = names[(k + round) % names.length]!;
        const v = variants[name]!;
        for (let w = 0; w < 200; w++) await run(v, i++);
        const pid = await pidOf(v.a);
        statements.clear();
        const wal0 = await walStats(sql);
        const ticks0 = backendTicks(pid);
        const cpu0 = process.cpuUsage();
        const start = now();
        for (let m = 0; m < n; m++) await run(v, i++);
        const seconds = (now() - start) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const ticks = backendTicks(pid) - ticks0;
        const wal1 = await walStats(sql);
        const r = (out[name] ??= {});
        const push = (key: string, value: number) => (r[key] ??= []).push(value);
        push('tx/s', n / seconds);
        push('node cpu µs/tx', (cpu.user + cpu.system) / n);
        push('backend cpu µs/tx', (ticks * 10_000) / n);
        push('wal records/tx', (wal1.records - wal0.records) / n);
        push('wal bytes/tx', (wal1.bytes - wal0.bytes) / n);
        for (const [s, c] of statements) push(`stmts ${s}/tx`, c / n);
        if (v.a === listened) push('notifications heard/tx', heard / n);
        heard = 0;
      }
      process.stderr.write(`round ${round + 1}/${rounds}\n`);
    }
    for (const name of names) {
      const row = Object.fromEntries(
        Object.entries(out[name]!).map(([k, v]) => [k, Number(median(v).toFixed(2))]),
      );
      console.log(name.padEnd(32), JSON.stringify(row));
    }
  } finally {
    await withNotify.app.close();
    await noNotify.app.close();
    await atCall.app.close();
    await listened.app.close();
    await listener.end();
    await sql.query(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
    await deletePrefix(prefix);
  }
}

async function relay(n: number, rounds: number): Promise<void> {
  const id = randomUUID().slice(0, 8);
  const schema = `conveyor_profile_${id}`;
  const sql = new Client({ connectionString: DATABASE_URL });
  await sql.connect();
  await sql.query(`CREATE SCHEMA ${schema}`);
  const prefix = uniquePrefix();
  const table = `${schema}.outbox`;
  const a = await startApp(prefix, table, { relay: false });
  const queue = new Queue('outbox-bench-raw', {
    connection: { host: '127.0.0.1', port: 6379, maxRetriesPerRequest: null },
    prefix: `{${prefix}}`,
  });
  const results: Record<string, number[]> = {};
  const push = (key: string, value: number) => (results[key] ??= []).push(value);
  try {
    for (let round = 0; round < rounds; round++) {
      await sql.query(`TRUNCATE ${table}`);
      for (let done = 0; done < n; done += 500) {
        await a.txHost.withTransaction(async () => {
          for (let k = done; k < Math.min(n, done + 500); k++)
            await a.outbox.enqueue(OutboxJob, { i: k });
        });
      }
      await sql.query(`VACUUM ANALYZE ${table}`);
      const plan = async () => {
        const { rows } = await sql.query(
          `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT id FROM ${table}
            WHERE published_at IS NULL AND available_at <= now() ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED`,
        );
        const p = (
          rows[0] as { 'QUERY PLAN': [{ Plan: Record<string, unknown>; 'Execution Time': number }] }
        )['QUERY PLAN'][0];
        if (process.env.DEBUG) console.log(JSON.stringify(p.Plan).slice(0, 1500));
        return { ms: p['Execution Time'], hit: Number(p.Plan['Shared Hit Blocks']) };
      };
      const before = await plan();
      statements.clear();
      statementMs.clear();
      const cpu0 = process.cpuUsage();
      const start = now();
      const published = await a.relay.drain();
      const seconds = (now() - start) / 1000;
      const cpu = process.cpuUsage(cpu0);
      const after = await plan();
      const again = await plan();
      push('claim (empty) buffers, second time', again.hit);
      const { rows: holders } = await sql.query(
        `SELECT pid, backend_xid::text AS xid, backend_xmin::text AS xmin, state, left(query, 40) AS q FROM pg_stat_activity WHERE backend_xid IS NOT NULL OR backend_xmin IS NOT NULL`,
      );
      if (process.env.DEBUG) console.log(holders);
      if (process.env.DEBUG) {
        const tenth = Math.ceil(claimTimes.length / 10);
        console.log(
          'claim ms by tenth of the drain',
          Array.from({ length: 10 }, (_, k) =>
            median(claimTimes.slice(k * tenth, (k + 1) * tenth)).toFixed(2),
          ).join(' '),
        );
      }
      claimTimes.length = 0;
      if (published !== n) throw new Error(`published ${published} of ${n}`);
      push('relay rows/s', n / seconds);
      push('relay node cpu µs/row', (cpu.user + cpu.system) / n);
      for (const [s, c] of statements) push(`stmts ${s}/batch`, (c * 100) / n);
      for (const [s, ms] of statementMs) push(`ms in ${s} per batch`, (ms * 100) / n);
      push('claim (empty) ms before drain', before.ms);
      push('claim (empty) ms after drain', after.ms);
      push('claim (empty) buffers after drain', after.hit);
      // Raw addBulk of the jobs the relay adds (same options), for the Redis side alone.
      const { rows } = await sql.query<{
        id: string;
        payload: unknown;
        options: { job: { opts: object } };
      }>(`SELECT id::text AS id, payload, options FROM ${table} ORDER BY id`);
      for (const [label, opts] of [
        ['raw addBulk {jobId}', (r: (typeof rows)[number]) => ({ jobId: `raw-${r.id}` })],
        [
          'raw addBulk relay opts',
          (r: (typeof rows)[number]) => ({ ...r.options.job.opts, jobId: `rawo-${r.id}` }),
        ],
      ] as const) {
        const c0 = process.cpuUsage();
        const t0 = now();
        for (let b = 0; b < rows.length; b += 100) {
          await queue.addBulk(
            rows
              .slice(b, b + 100)
              .map((r) => ({ name: 'bench.outbox', data: r.payload, opts: opts(r) })),
          );
        }
        const c = process.cpuUsage(c0);
        push(`${label} rows/s`, n / ((now() - t0) / 1000));
        push(`${label} node cpu µs/row`, (c.user + c.system) / n);
      }
      await deletePrefix(prefix);
      process.stderr.write(`round ${round + 1}/${rounds}\n`);
    }
    for (const [k, v] of Object.entries(results))
      console.log(k.padEnd(40), Number(median(v).toFixed(2)));
  } finally {
    await queue.close();
    await a.app.close();
    await sql.query(`DROP SCHEMA ${schema} CASCADE`);
    await sql.end();
    await deletePrefix(prefix);
  }
}

const what = process.env.WHAT ?? 'tx';
const n = Number(process.env.N ?? (what === 'tx' ? 2_000 : 3_000));
const rounds = Number(process.env.ROUNDS ?? 3);
(what === 'tx' ? tx(n, rounds) : relay(n, rounds)).then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
