import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { Client } from 'pg';
import { DATABASE_URL } from './outbox-app';
import { deletePrefix, uniquePrefix } from './redis';

const MAIN = path.join(__dirname, '..', '..', 'sample-app', 'dist', 'main.js');

export interface SampleApp {
  url: string;
  prefix: string;
  /** The app's process, for tests that signal it themselves. */
  process: ChildProcess;
  output: () => string;
  request(
    method: string,
    route: string,
    body?: unknown,
    token?: string,
  ): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/**
 * Starts the built sample app as a real process on a free port, with its own Redis prefix
 * and, on PostgreSQL, its own schema (dropped on stop).
 */
export async function startSampleApp(options: {
  database: 'pglite' | 'postgres';
  env?: Record<string, string>;
  /** How long to wait for "listening on" before the child is killed. @default 30_000 */
  startTimeoutMs?: number;
}): Promise<SampleApp> {
  const prefix = uniquePrefix();
  const port = await freePort();
  const schema = `sample_${prefix.replace(/-/g, '_')}`;
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    PORT: String(port),
    CONVEYOR_PREFIX: prefix,
    ADMIN_TOKEN: 'test-admin-token',
    MAIL_FAILURE_RATE: '0',
    ...options.env,
  };
  delete env.DATABASE_URL;
  if (options.database === 'postgres') {
    await withPg((pg) => pg.query(`CREATE SCHEMA ${schema}`));
    env.DATABASE_URL = `${DATABASE_URL}?options=-c%20search_path%3D${schema}`;
  }
  const child: ChildProcess = spawn(process.execPath, [MAIN], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const cleanUp = async () => {
    await deletePrefix(prefix);
    if (options.database === 'postgres')
      await withPg((pg) => pg.query(`DROP SCHEMA ${schema} CASCADE`));
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (!/listening on/.test(output)) {
    const failure = hasExited(child)
      ? 'exited'
      : Date.now() > deadline
        ? 'did not start'
        : undefined;
    if (failure) {
      // A child that never started has nothing to finish: kill it, and wait until it is gone
      // so it cannot hold its port, Redis prefix or schema past this test.
      if (!hasExited(child)) child.kill('SIGKILL');
      await exited;
      await cleanUp();
      throw new Error(`sample app ${failure}: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url,
    prefix,
    process: child,
    output: () => output,
    async request(method, route, body, token) {
      const response = await fetch(url + route, {
        method,
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = text ? JSON.parse(text) : undefined;
      } catch {
        // plain text (metrics)
      }
      return { status: response.status, body: parsed as never };
    },
    async stop() {
      if (!hasExited(child)) child.kill('SIGTERM');
      await exited;
      await cleanUp();
    },
  };
}

/** True once the child has exited, by itself or by a signal (then `exitCode` stays null). */
function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

export async function withPg<T>(fn: (pg: Client) => Promise<T>): Promise<T> {
  const pg = new Client({ connectionString: DATABASE_URL });
  await pg.connect();
  try {
    return await fn(pg);
  } finally {
    await pg.end();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}
