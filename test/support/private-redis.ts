import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { runningServers } from './exit-cleanup';

export interface PrivateRedisOptions {
  /**
   * Persist every write to an append-only file (`appendfsync always`) in the server's own temp
   * dir, so a SIGKILLed server comes back with every acknowledged write. @default false
   */
  appendonly?: boolean;
  /** `requirepass`: clients must authenticate. */
  password?: string;
  /** Further `redis-server` arguments, e.g. `['--maxmemory', '2mb']`. */
  args?: string[];
}

/** Killed when the test process exits (see `exit-cleanup.ts`). */
const running = runningServers();

/**
 * A throwaway `redis-server` on a free port, owned by one test, which can be stopped and
 * started again on the same port (and, with `appendonly`, the same data) to play an outage.
 * Needs `redis-server` on the PATH. Call `destroy()` at the end to remove its temp dir.
 */
export class PrivateRedis {
  private process?: ChildProcess;
  readonly dir: string;

  private constructor(
    readonly port: number,
    private readonly options: PrivateRedisOptions,
  ) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'conveyor-redis-'));
  }

  static async start(options: PrivateRedisOptions = {}): Promise<PrivateRedis> {
    const redis = new PrivateRedis(await freePort(), options);
    await redis.start();
    return redis;
  }

  get url(): string {
    const auth = this.options.password ? `:${encodeURIComponent(this.options.password)}@` : '';
    return `redis://${auth}127.0.0.1:${this.port}`;
  }

  /** A plain client on this server (disconnect it after). */
  client(): Redis {
    return new Redis(this.url, { maxRetriesPerRequest: null });
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', ''];
    args.push('--dir', this.dir);
    if (this.options.appendonly) {
      args.push('--appendonly', 'yes', '--appendfsync', 'always');
    } else {
      args.push('--appendonly', 'no');
    }
    if (this.options.password) args.push('--requirepass', this.options.password);
    args.push(...(this.options.args ?? []));
    const child = spawn('redis-server', args, { stdio: 'ignore' });
    child.unref();
    running.add(child);
    child.once('exit', () => running.delete(child));
    this.process = child;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = new Redis(this.url, { lazyConnect: true, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        await client.connect();
        // The port was free when chosen; a restart on it can find another test's server there.
        const pid = /process_id:(\d+)/.exec(await client.info('server'))?.[1];
        client.disconnect();
        if (Number(pid) !== child.pid) {
          child.kill('SIGKILL');
          throw new PortTakenError(
            `port ${this.port} is served by another redis-server (pid ${pid}), not this one`,
          );
        }
        return;
      } catch (error) {
        if (error instanceof PortTakenError) throw error;
        client.disconnect();
        if (Date.now() > deadline) {
          throw new Error(`redis-server did not start on ${this.port}`, { cause: error });
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  /** Freezes the server (SIGSTOP): connections stay open and nothing answers, as in a hang. */
  pause(): void {
    this.process?.kill('SIGSTOP');
  }

  /** Lets a paused server run again (SIGCONT). */
  resume(): void {
    this.process?.kill('SIGCONT');
  }

  /** Stops the server, by default with SIGKILL (a crash: no final save). */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }

  /** Stops the server and removes its data. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** A restart found its port taken by another process: the test cannot trust that server. */
class PortTakenError extends Error {
  override readonly name = 'PortTakenError';
}
