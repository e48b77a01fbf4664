import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import {
  type BeforeApplicationShutdown,
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { InvalidModuleOptionsError } from '../errors';
import { CLOSE_GRACE_MS, settleWithin } from '../lifecycle/settle-within';
import { ConveyorLogger } from '../logging/conveyor-logger';
import type { ResolvedModuleOptions } from '../options/module-options';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { TasksRegistry } from '../tasks.registry';
import { TaskWorkers } from '../worker/task-workers';
import { WorkerPresence } from '../worker-registry/worker-presence';

/** How long `/ready` waits for Redis's PING: under Kubernetes's default probe timeout (1 s). */
const REDIS_TIMEOUT_MS = 800;

/**
 * The `probe` option's HTTP server, on `node:http`, for processes with no HTTP app (workers):
 *
 * - `GET /live`: 200 while the process serves requests at all, which needs a free event loop
 *   (a loop blocked longer than the probe's timeout fails it); the body says the longest
 *   event-loop delay since the last `/live`.
 * - `GET /ready`: 200 when this process's workers run (started, none stopped, not shutting
 *   down) and Redis answers a PING within 800 ms; 503 otherwise, the body naming the check.
 *
 * Anything else is a 404. Started once the app has bootstrapped, closed at shutdown.
 */
@Injectable()
export class WorkerProbe
  implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new ConveyorLogger('Conveyor');
  private server?: Server;
  private delay?: IntervalHistogram;
  private stopping = false;

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
    private readonly workers: TaskWorkers,
    private readonly presence: WorkerPresence,
    private readonly registry: TasksRegistry,
    private readonly redis: RedisConnections,
  ) {}

  /** Where the server listens (the port chosen when `probe.port` is 0); `undefined` if none. */
  get address(): { host: string; port: number } | undefined {
    const address = this.server?.address() as AddressInfo | null | undefined;
    return address ? { host: address.address, port: address.port } : undefined;
  }

  async onApplicationBootstrap(): Promise<void> {
    const probe = this.options.probe;
    if (!probe) return;
    const server = createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(probe.port, probe.host, () => {
        server.off('error', reject);
        resolve();
      });
    }).catch((error: Error) => {
      throw new InvalidModuleOptionsError(
        `probe cannot listen on ${probe.host}:${probe.port}: ${error.message}`,
      );
    });
    this.server = server;
    this.delay = monitorEventLoopDelay({ resolution: 20 });
    this.delay.enable();
    const { host, port } = this.address!;
    this.logger.log(`probe listening on http://${host}:${port} (/live, /ready)`, { host, port });
  }

  beforeApplicationShutdown(): void {
    this.stopping = true;
  }

  async onApplicationShutdown(): Promise<void> {
    this.delay?.disable();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    await settleWithin(closed, CLOSE_GRACE_MS, () => server.closeAllConnections());
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return send(response, 405, { status: 'error', message: 'GET only' });
    }
    if (path === '/live') {
      const eventLoopDelayMs = this.delay ? Math.round(this.delay.max / 1e4) / 100 : 0;
      this.delay?.reset();
      return send(response, 200, {
        status: 'ok',
        pid: process.pid,
        uptimeMs: Math.round(process.uptime() * 1000),
        eventLoopDelayMs,
      });
    }
    if (path === '/ready') {
      const [redis, workers] = await Promise.all([this.redisCheck(), this.workersCheck()]);
      const ok = redis.status === 'up' && workers.status === 'up';
      return send(response, ok ? 200 : 503, { status: ok ? 'ok' : 'error', redis, workers });
    }
    send(response, 404, { status: 'error', message: 'try GET /live or GET /ready' });
  }

  private async redisCheck(): Promise<Record<string, unknown>> {
    const started = performance.now();
    const ping = this.redis.client.ping();
    ping.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`Redis did not answer within ${REDIS_TIMEOUT_MS} ms`)),
        REDIS_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([ping, timeout]);
      return { status: 'up', pingMs: Math.round((performance.now() - started) * 100) / 100 };
    } catch (error) {
      return { status: 'down', message: (error as Error).message };
    } finally {
      clearTimeout(timer);
    }
  }

  private workersCheck(): Record<string, unknown> {
    const queues = this.workers.queues;
    if (this.stopping) return { status: 'down', queues, message: 'shutting down' };
    // A process that consumes nothing is ready once Redis answers; one that does, once its
    // workers have started (the registry entry is written then) and while they all run.
    const consumes = this.options.workers !== 'none' && this.registry.handledQueues().size > 0;
    if (consumes && !this.presence.started) {
      return { status: 'down', queues, message: 'workers not started yet' };
    }
    if (!this.workers.isRunning()) {
      return { status: 'down', queues, message: 'a worker stopped' };
    }
    return { status: 'up', queues };
  }
}

function send(response: ServerResponse, status: number, body: Record<string, unknown>): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}
