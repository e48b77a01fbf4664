import { spawn, type ChildProcess } from 'node:child_process';
import { openSync } from 'node:fs';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { sleep } from './util';

/**
 * A redis-server of the bench's own on a free port, so `INFO stats` counts only the bench's
 * commands (scripts' included): exact per-job figures whatever the machine's load.
 * MONITOR_FILE=<path> records every command it runs, to see where they come from.
 */
export class PrivateServer {
  private process?: ChildProcess;
  private monitor?: ChildProcess;
  constructor(readonly port: number) {}

  static async start(): Promise<PrivateServer> {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port: p } = server.address() as { port: number };
        server.close(() => resolve(p));
      });
    });
    const server = new PrivateServer(port);
    server.process = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    for (let i = 0; i < 200; i++) {
      const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null });
      probe.on('error', () => undefined);
      try {
        await probe.connect();
        await probe.ping();
        probe.disconnect();
        if (process.env.MONITOR_FILE) await server.record(process.env.MONITOR_FILE);
        return server;
      } catch {
        probe.disconnect();
        await sleep(50);
      }
    }
    throw new Error('redis-server did not start');
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Writes every command the server runs (scripts' included) to `file`: slow, for debugging. */
  private async record(file: string): Promise<void> {
    this.monitor = spawn('redis-cli', ['-p', String(this.port), 'monitor'], {
      stdio: ['ignore', openSync(file, 'w'), 'ignore'],
    });
    await sleep(300);
  }

  stop(): void {
    this.monitor?.kill('SIGKILL');
    this.process?.kill('SIGKILL');
  }
}

/** Commands the server has processed; every INFO call is one of them. */
export async function commands(redis: Redis): Promise<number> {
  const info = await redis.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)![1]);
}
