import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import type { Settings } from './settings';
import { DATABASE_URL } from './util';

/** Machine calibration: what the engines themselves do here, right now. */
export interface Calibration {
  redis: Record<string, number>;
  pgbench: Record<string, number>;
}

function redisBenchmark(args: string[]): number {
  const output = execFileSync('redis-benchmark', ['-h', '127.0.0.1', '-p', '6379', '-q', ...args], {
    encoding: 'utf8',
  });
  // "SET: 98765.43 requests per second, p50=0.255 msec" (last update wins; \r separates them)
  const match = /([\d.]+) requests per second/.exec(output.split('\r').pop() ?? output);
  if (!match) throw new Error(`cannot read redis-benchmark output: ${output}`);
  return Number(match[1]);
}

/** Transactions per second of `pgbench -f script` against the local `test` database. */
export function pgbenchTps(script: string, clients: number, seconds: number): number {
  const output = execFileSync(
    'pgbench',
    [
      ...['-n', '-f', script, '-c', String(clients), '-j', String(Math.min(clients, 2))],
      ...['-T', String(seconds), '-h', '127.0.0.1', '-p', '5432', '-U', 'root', 'test'],
    ],
    { encoding: 'utf8' },
  );
  const match = /tps = ([\d.]+)/.exec(output);
  if (!match) throw new Error(`cannot read pgbench output: ${output}`);
  return Number(match[1]);
}

export async function calibrate(settings: Settings): Promise<Calibration> {
  const n = String(settings.calibration.redisRequests);
  const sha = execFileSync('redis-cli', ['-h', '127.0.0.1', 'script', 'load', 'return 1'], {
    encoding: 'utf8',
  }).trim();
  const redis: Record<string, number> = {};
  // A key of this run only, deleted after (redis-benchmark's own key is `key:__rand_int__`).
  const key = `conveyor-bench-${randomUUID().slice(0, 8)}:calibration`;
  for (const pipeline of [1, 16]) {
    redis[`SET, pipeline ${pipeline}`] = redisBenchmark([
      '-n',
      n,
      '-P',
      String(pipeline),
      'set',
      key,
      'value',
    ]);
    redis[`EVALSHA (return 1), pipeline ${pipeline}`] = redisBenchmark([
      '-n',
      n,
      '-P',
      String(pipeline),
      'evalsha',
      sha,
      '0',
    ]);
  }
  execFileSync('redis-cli', ['-h', '127.0.0.1', 'del', key]);

  const schema = `conveyor_bench_${randomUUID().slice(0, 8)}`;
  const client = new Client({ connectionString: DATABASE_URL });
  await client.connect();
  const dir = mkdtempSync(path.join(tmpdir(), 'conveyor-bench-'));
  const pgbench: Record<string, number> = {};
  try {
    await client.query(`CREATE SCHEMA ${schema}`);
    await client.query(`CREATE TABLE ${schema}.t (id bigserial PRIMARY KEY, v text NOT NULL)`);
    const script = path.join(dir, 'insert.sql');
    writeFileSync(script, `INSERT INTO ${schema}.t (v) VALUES ('calibration');\n`);
    for (const clients of [1, 16]) {
      const tps = pgbenchTps(script, clients, settings.calibration.pgbenchSeconds);
      pgbench[`one-row INSERT, ${clients} client${clients > 1 ? 's' : ''}`] = tps;
    }
  } finally {
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
    rmSync(dir, { recursive: true, force: true });
  }
  return { redis, pgbench };
}
