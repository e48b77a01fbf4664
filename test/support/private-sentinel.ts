import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import {
  HOST,
  ServerProcess,
  parseInfo,
  query,
  startOnFreePort,
  waitForReplicas,
  waitUntil,
} from './private-cluster';

export interface PrivateSentinelOptions {
  /** Replicas of the master. @default 1 */
  replicas?: number;
  /** Sentinels watching it; the quorum is 2 (1 with a single sentinel). @default 3 */
  sentinels?: number;
  /** The name the sentinels know the master by. @default 'mymaster' */
  masterName?: string;
}

/**
 * A throwaway Redis Sentinel setup on loopback, owned by one test: a master (append-only,
 * `appendfsync always`), its replicas and the sentinels watching it, each a `redis-server`
 * process on a free port with its own temp dir. The master can be killed (SIGKILL) and the
 * sentinels' failover awaited. Needs `redis-server` on the PATH. Call `destroy()` at the end.
 */
export class PrivateSentinel {
  private constructor(
    readonly name: string,
    /** The master and its replicas, the master first. */
    private readonly servers: ServerProcess[],
    private readonly watchers: ServerProcess[],
  ) {}

  static async start(options: PrivateSentinelOptions = {}): Promise<PrivateSentinel> {
    const replicas = options.replicas ?? 1;
    const sentinels = options.sentinels ?? 3;
    const name = options.masterName ?? 'mymaster';
    const setup = new PrivateSentinel(name, [], []);
    try {
      const master = await startOnFreePort((port) => dataServer(port, []));
      setup.servers.push(master);
      const replicaServers = await settle(
        Array.from({ length: replicas }, () =>
          startOnFreePort((port) => dataServer(port, ['--replicaof', HOST, String(master.port)])),
        ),
        setup.servers,
      );
      await waitUntil(
        `replicas ${replicaServers.map((replica) => replica.port).join(', ')} to sync with master ${master.port}`,
        30_000,
        async () => {
          for (const replica of replicaServers) {
            const info = parseInfo(await query(replica.port, (redis) => redis.info('replication')));
            if (info.master_link_status !== 'up' || info.master_sync_in_progress !== '0') {
              return `replica ${replica.port}: master_link_status:${info.master_link_status}`;
            }
          }
          return undefined;
        },
      );

      const quorum = Math.min(2, sentinels);
      await settle(
        Array.from({ length: sentinels }, () =>
          startOnFreePort((port) => {
            const dir = mkdtempSync(path.join(tmpdir(), 'conveyor-sentinel-'));
            const conf = path.join(dir, 'sentinel.conf');
            writeFileSync(
              conf,
              [
                `port ${port}`,
                `bind ${HOST}`,
                `dir ${dir}`,
                `sentinel monitor ${name} ${HOST} ${master.port} ${quorum}`,
                `sentinel down-after-milliseconds ${name} 1000`,
                `sentinel failover-timeout ${name} 5000`,
                `sentinel parallel-syncs ${name} 1`,
                '',
              ].join('\n'),
            );
            return new ServerProcess(port, dir, [conf, '--sentinel'], 'sentinel');
          }),
        ),
        setup.watchers,
      );
      await setup.waitForSentinels(
        `sentinels ${setup.watchers.map((s) => s.port).join(', ')} to watch master ${master.port}`,
        60_000,
      );
      return setup;
    } catch (error) {
      await setup.destroy();
      throw error;
    }
  }

  /** The sentinels, for an ioredis client's `sentinels` option. */
  get sentinels(): { host: string; port: number }[] {
    return this.watchers.map(({ port }) => ({ host: HOST, port }));
  }

  /** The ports of the master and replicas (whatever their role now), the first master first. */
  get ports(): number[] {
    return this.servers.map(({ port }) => port);
  }

  /** A client that finds the master through the sentinels (disconnect it after). */
  client(): Redis {
    return new Redis({ sentinels: this.sentinels, name: this.name, maxRetriesPerRequest: null });
  }

  /** The port of the master, as a sentinel tells it (`SENTINEL GET-MASTER-ADDR-BY-NAME`). */
  async masterPort(): Promise<number> {
    let last: unknown;
    for (const sentinel of this.watchers.filter((s) => s.alive)) {
      try {
        return await this.askMasterPort(sentinel.port);
      } catch (error) {
        last = error;
      }
    }
    throw new Error(`no sentinel told the master of ${this.name}`, { cause: last });
  }

  /** Crashes the current master (SIGKILL) and returns its port. */
  async killMaster(): Promise<number> {
    const port = await this.masterPort();
    const master = this.servers.find((server) => server.port === port);
    if (!master) {
      throw new Error(`the sentinels name ${port} as master, not a server of this setup`);
    }
    if (!master.alive) throw new Error(`master ${port} is down already (await the failover first)`);
    await master.kill();
    return port;
  }

  /**
   * Waits until every sentinel names the same other master than `oldPort`, has finished the
   * failover, and that server says it is a master (`role:master`).
   */
  async waitForFailover(oldPort: number, timeoutMs = 30_000): Promise<void> {
    await waitUntil(`the sentinels to fail over from master ${oldPort}`, timeoutMs, async () => {
      const ports = new Set<number>();
      for (const sentinel of this.watchers) {
        const port = await this.askMasterPort(sentinel.port);
        if (port === oldPort) return `sentinel ${sentinel.port} still names ${oldPort}`;
        const flags = fields(
          (await query(sentinel.port, (redis) =>
            redis.call('SENTINEL', 'MASTER', this.name),
          )) as string[],
        ).flags;
        if (flags !== 'master') return `sentinel ${sentinel.port}: master flags ${flags}`;
        ports.add(port);
      }
      if (ports.size > 1) return `sentinels disagree on the master: ${[...ports].join(', ')}`;
      const [port] = ports;
      const role = parseInfo(await query(port, (redis) => redis.info('replication'))).role;
      return role === 'master' ? undefined : `new master ${port} says role:${role}`;
    });
  }

  /**
   * Waits until every live replica has every write the master had when called, so that killing
   * the master loses none of them.
   */
  async waitForReplication(timeoutMs = 10_000): Promise<void> {
    const live = this.servers.filter((server) => server.alive).map(({ port }) => port);
    await waitForReplicas(live, timeoutMs);
  }

  /** Kills every server and sentinel and removes their dirs. */
  async destroy(): Promise<void> {
    const all = [...this.watchers, ...this.servers];
    await Promise.all(all.map((server) => server.kill()));
    for (const server of all) rmSync(server.dir, { recursive: true, force: true });
  }

  private async askMasterPort(sentinel: number): Promise<number> {
    const address = (await query(sentinel, (redis) =>
      redis.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', this.name),
    )) as [string, string] | null;
    if (!address) throw new Error(`sentinel ${sentinel} does not know master ${this.name}`);
    return Number(address[1]);
  }

  /** Waits until every sentinel sees the master, all its replicas and all other sentinels. */
  private async waitForSentinels(what: string, timeoutMs: number): Promise<void> {
    const replicas = this.servers.length - 1;
    const others = this.watchers.length - 1;
    await waitUntil(what, timeoutMs, async () => {
      for (const sentinel of this.watchers) {
        const [master, slaves, quorum] = await query(sentinel.port, (redis) =>
          Promise.all([
            redis.call('SENTINEL', 'MASTER', this.name),
            redis.call('SENTINEL', 'REPLICAS', this.name),
            redis.call('SENTINEL', 'CKQUORUM', this.name).catch((error: Error) => error.message),
          ]),
        );
        const state = fields(master as string[]);
        if (state.flags !== 'master') {
          return `sentinel ${sentinel.port}: master flags ${state.flags}`;
        }
        if (Number(state['num-slaves']) !== replicas) {
          return `sentinel ${sentinel.port}: num-slaves ${state['num-slaves']} of ${replicas}`;
        }
        if (Number(state['num-other-sentinels']) !== others) {
          return `sentinel ${sentinel.port}: num-other-sentinels ${state['num-other-sentinels']} of ${others}`;
        }
        for (const replica of (slaves as string[][]).map(fields)) {
          if (replica.flags !== 'slave' || replica['master-link-status'] !== 'ok') {
            return `sentinel ${sentinel.port}: replica ${replica.port} ${replica.flags}, link ${replica['master-link-status']}`;
          }
        }
        if (!String(quorum).startsWith('OK')) return `sentinel ${sentinel.port}: ${quorum}`;
      }
      return undefined;
    });
  }
}

/** A master or replica: append-only, `appendfsync always`, in its own temp dir. */
function dataServer(port: number, args: string[]): ServerProcess {
  const dir = mkdtempSync(path.join(tmpdir(), 'conveyor-sentinel-redis-'));
  return new ServerProcess(
    port,
    dir,
    [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--dir',
      dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--save',
      '',
      // A replica syncs at once, not after the default 5 s wait for more replicas.
      '--repl-diskless-sync-delay',
      '0',
      ...args,
    ],
    args.length ? 'replica' : 'master',
  );
}

/**
 * Waits for every start, adding each started server to `into` (so that `destroy()` finds it),
 * then throws the first failure.
 */
async function settle(
  starts: Promise<ServerProcess>[],
  into: ServerProcess[],
): Promise<ServerProcess[]> {
  const results = await Promise.allSettled(starts);
  const started: ServerProcess[] = [];
  for (const result of results) if (result.status === 'fulfilled') started.push(result.value);
  into.push(...started);
  for (const result of results) if (result.status === 'rejected') throw result.reason;
  return started;
}

/** A flat `[name, value, name, value, ...]` Sentinel answer as fields. */
function fields(flat: string[]): Record<string, string> {
  const result: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) result[flat[i]] = flat[i + 1];
  return result;
}
