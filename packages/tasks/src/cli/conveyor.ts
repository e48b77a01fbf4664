#!/usr/bin/env node
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { ConveyorRedis } from '../redis/conveyor-redis';
import { KeyLayout } from '../redis/key-layout';
import { parseDuration } from '../options/validation';
import { registryKeys, WorkerPings } from '../worker-registry/worker-pings';
import type { PingReply } from '../worker-registry/worker-info.interface';

/** Exit codes of `conveyor`, for scripts and exec probes. */
export const EXIT = { ok: 0, noAnswer: 1, usage: 2, redis: 3 } as const;

const USAGE = `Usage: conveyor ping [options]

Asks the app's worker processes to answer over Redis and exits 0 when one that matches
answered within the timeout: by default a worker on this host (an exec probe in a worker's
container).

Options:
  --redis <url>      Redis URL (default: $REDIS_URL or redis://127.0.0.1:6379)
  --prefix <p>       the app's TasksModule prefix (default: $CONVEYOR_PREFIX or conveyor)
  --timeout <t>      how long to wait: 2s, 500ms, ... (default: 2s)
  --pid <n>          only the worker process with this pid (on this host)
  --host <name>      only workers on this host (default: this host, ${hostname()})
  --any              any worker process of the app, on any host
  --json             print the answers as JSON

Exit codes: 0 answered, 1 no matching worker answered, 2 bad usage, 3 Redis unreachable.`;

interface Output {
  out(line: string): void;
  err(line: string): void;
}

const STDIO: Output = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

class UsageError extends Error {}

/** `conveyor ping`'s options, checked; `help` alone when `--help` was given. */
type Options =
  | { help: true }
  | {
      help: false;
      url: string;
      prefix: string;
      timeoutMs: number;
      pid?: number;
      host?: string;
      json: boolean;
    };

/** Runs `conveyor <args>`; resolves with the exit code. */
export async function main(
  args: string[],
  io: Output = STDIO,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  let options: Options;
  try {
    options = parse(args, env);
  } catch (error) {
    io.err(`conveyor: ${(error as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (options.help) {
    io.out(USAGE);
    return EXIT.ok;
  }
  const { url, prefix, timeoutMs, pid, host, json } = options;
  const redisOptions = {
    lazyConnect: true,
    connectionName: 'conveyor:cli',
    // A probe must answer within its timeout: no retry, no queue while disconnected.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectTimeout: timeoutMs,
  };
  const publisher = new ConveyorRedis(url, redisOptions);
  const subscriber = new ConveyorRedis(url, redisOptions);
  publisher.on('error', () => undefined);
  subscriber.on('error', () => undefined);
  try {
    try {
      await Promise.all([publisher.connect(), subscriber.connect()]);
    } catch (error) {
      io.err(`conveyor: cannot reach Redis at ${redacted(url)}: ${(error as Error).message}`);
      return EXIT.redis;
    }
    const matches = (reply: PingReply) =>
      (host === undefined || reply.host === host) && (pid === undefined || reply.pid === pid);
    const pings = new WorkerPings(subscriber, publisher, registryKeys(new KeyLayout(prefix)));
    let replies: PingReply[];
    try {
      replies = await pings.ping(timeoutMs, (answers) => answers.some(matches));
    } catch (error) {
      io.err(`conveyor: Redis at ${redacted(url)} failed: ${(error as Error).message}`);
      return EXIT.redis;
    }
    const matched = replies.filter(matches);
    const target =
      (pid === undefined ? 'a worker process' : `worker process ${pid}`) +
      (host === undefined ? '' : ` on ${host}`) +
      ` of prefix '${prefix}'`;
    if (json) io.out(JSON.stringify(matched.length ? matched : replies));
    if (!matched.length) {
      const others = replies.length
        ? `; ${replies.length} other(s) answered: ${replies.map((r) => `${r.host}:${r.pid}`).join(', ')}`
        : '';
      io.err(`conveyor: no answer from ${target} within ${timeoutMs} ms${others}`);
      return EXIT.noAnswer;
    }
    if (!json) {
      for (const r of matched) {
        io.out(
          `${r.host}:${r.pid} answered in ${r.latencyMs} ms (queues: ${r.queues.join(', ') || 'none'}; running ${r.running}; @conveyor/tasks ${r.version})`,
        );
      }
    }
    return EXIT.ok;
  } finally {
    publisher.disconnect();
    subscriber.disconnect();
  }
}

function parse(args: string[], env: NodeJS.ProcessEnv): Options {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      redis: { type: 'string' },
      prefix: { type: 'string' },
      timeout: { type: 'string' },
      pid: { type: 'string' },
      host: { type: 'string' },
      any: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { help: true };
  const fail = (problem: string): never => {
    throw new UsageError(problem);
  };
  if (positionals.length !== 1 || positionals[0] !== 'ping') {
    fail(positionals.length ? `unknown command '${positionals.join(' ')}'` : 'no command given');
  }
  const url = values.redis ?? env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(url)) fail('--redis must be a redis:// or rediss:// URL');
  const prefix = values.prefix ?? env.CONVEYOR_PREFIX ?? 'conveyor';
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(prefix)) {
    fail(`--prefix must be 1–100 letters, digits and . _ -, got '${prefix}'`);
  }
  const timeoutMs = parseDuration(values.timeout ?? '2s', '--timeout', fail);
  if (timeoutMs < 1 || timeoutMs > 60_000) fail('--timeout must be from 1ms to 60s');
  let pid: number | undefined;
  if (values.pid !== undefined) {
    pid = Number(values.pid);
    if (!Number.isInteger(pid) || pid < 1) fail(`--pid must be a process id, got '${values.pid}'`);
  }
  if (values.any && (values.host !== undefined || pid !== undefined)) {
    fail('--any goes alone: it accepts a worker on any host, with any pid');
  }
  const host = values.any ? undefined : (values.host ?? hostname());
  return { help: false, url, prefix, timeoutMs, pid, host, json: values.json === true };
}

/** The URL without its password, for messages. */
function redacted(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the given URL';
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => process.exit(code));
}
