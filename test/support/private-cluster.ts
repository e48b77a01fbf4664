import { type ChildProcess, spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Cluster, Redis } from 'ioredis';
import { runningServers } from './exit-cleanup';
import { freePort } from './private-redis';

export const HOST = '127.0.0.1';
const SLOTS = 16384;

/** Killed when the test process exits (see `exit-cleanup.ts`). */
const running = runningServers();

/** Ports this process has handed out: `freePort()` can return a port it just returned. */
const handedOut = new Set<number>();

/** A free loopback port that no other server of this process was given. */
export async function uniquePort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    return port;
  }
}

/** Something that cannot get better by waiting longer: polling stops at once. */
export class FatalError extends Error {
  override readonly name: string = 'FatalError';
}

/** A server could not listen on its port (or cluster bus port): another process has it. */
export class PortInUseError extends FatalError {
  override readonly name = 'PortInUseError';
}

/**
 * Calls `check` until it returns `undefined` (done), every 100 ms, for at most `timeoutMs`.
 * `check` returns why it is not done yet (or throws): the last reason goes into the timeout
 * error, which names what was awaited. A `FatalError` ends the wait at once.
 */
export async function waitUntil(
  what: string,
  timeoutMs: number,
  check: () => Promise<string | undefined>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let reason: string;
    try {
      const notYet = await check();
      if (notYet === undefined) return;
      reason = notYet;
    } catch (error) {
      if (error instanceof FatalError) throw error;
      reason = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Runs `use` on a fresh one-off connection to a server, then closes it. The connection sends
 * nothing of its own (no ready check, no name), fails fast when the server is down and gives
 * up on a command after 5 s (a frozen server).
 */
export async function query<T>(port: number, use: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
  });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    return await use(redis);
  } finally {
    redis.disconnect();
  }
}

/** `INFO` (or a `CLUSTER INFO`) answer as fields. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** One `redis-server` process, started (and restarted) with the same arguments in its dir. */
export class ServerProcess {
  private child?: ChildProcess;

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
    /** What the server is, for errors: "cluster node", "sentinel", ... */
    readonly label: string,
  ) {}

  /** Its stdout and stderr (the server log), across restarts. */
  get logFile(): string {
    return path.join(this.dir, 'redis.log');
  }

  get alive(): boolean {
    const child = this.child;
    return !!child && child.exitCode === null && child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The last lines of its log (from byte `from` on), for errors. */
  logTail(lines = 15, from = 0): string {
    if (!existsSync(this.logFile)) return '(no log)';
    const text = readFileSync(this.logFile).subarray(from).toString('utf8').trimEnd();
    return text.split('\n').slice(-lines).join('\n') || '(empty log)';
  }

  /**
   * Starts the server and waits until it answers on its port (and is this process, not
   * another server that took the port meanwhile). Throws a `PortInUseError` when another
   * process holds its port.
   */
  async start(timeoutMs = 20_000): Promise<void> {
    if (this.alive) throw new Error(`${this.label} on port ${this.port} is already running`);
    const logStart = existsSync(this.logFile) ? statSync(this.logFile).size : 0;
    const log = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn('redis-server', this.args, { cwd: this.dir, stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    child.unref();
    running.add(child);
    let failure: string | undefined;
    child.once('error', (error) => (failure = `could not run redis-server: ${error.message}`));
    child.once('exit', (code, signal) => {
      running.delete(child);
      failure ??= `redis-server exited (${signal ?? `code ${code}`})`;
    });
    this.child = child;
    try {
      await waitUntil(`${this.label} to start on port ${this.port}`, timeoutMs, async () => {
        if (failure) throw new FatalError(failure);
        const pid = Number(parseInfo(await query(this.port, (r) => r.info('server'))).process_id);
        if (pid !== child.pid) {
          throw new PortInUseError(`port ${this.port} is served by another process (pid ${pid})`);
        }
        return undefined;
      });
    } catch (error) {
      await this.kill();
      const message = error instanceof Error ? error.message : String(error);
      const log = this.logTail(15, logStart);
      const inUse = error instanceof PortInUseError || /Address already in use/.test(log);
      throw new (inUse ? PortInUseError : Error)(
        `${this.label} did not start on port ${this.port} (dir ${this.dir}): ${message}\n` +
          `--- its log ---\n${log}`,
        { cause: error },
      );
    }
  }

  /** Kills the server, by default with SIGKILL (a crash), and waits until it is gone. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

export interface PrivateClusterOptions {
  /** Masters, each owning an equal share of the slots; `redis-cli` needs 3 or more. @default 3 */
  masters?: number;
  /** Replicas per master. @default 1 */
  replicas?: number;
  /** Further `redis-server` arguments for every node. */
  args?: string[];
}

interface ClusterNode {
  port: number;
  busPort: number;
  dir: string;
  server: ServerProcess;
}

/** A line of `CLUSTER NODES`. */
interface NodeView {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  link: string;
  slots: [number, number][];
}

/**
 * A throwaway Redis Cluster on loopback: `masters * (1 + replicas)` `redis-server` processes on
 * free ports, each with its own temp dir (append-only file, `nodes.conf`, `redis.log`), owned
 * by one test. Nodes can be killed (SIGKILL), a failover awaited, and killed nodes restarted
 * on the same port and data. Needs `redis-server` and `redis-cli` (7.0+) on the PATH. Call
 * `destroy()` at the end.
 */
export class PrivateCluster {
  private readonly down = new Set<number>();
  /** Each node's role when last seen ('master' or 'slave'). */
  private readonly roles = new Map<number, string>();

  private constructor(private readonly all: ClusterNode[]) {}

  static async start(options: PrivateClusterOptions = {}): Promise<PrivateCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicas ?? 1;
    if (masters < 3) throw new Error(`a cluster needs 3 masters or more, not ${masters}`);
    const nodes: ClusterNode[] = [];
    const cluster = new PrivateCluster(nodes);
    try {
      // All settled before going on: a failed start must not leave others starting unseen.
      const started = await Promise.allSettled(
        Array.from({ length: masters * (1 + replicas) }, async () => {
          nodes.push(await startNode(options.args ?? []));
        }),
      );
      for (const result of started) if (result.status === 'rejected') throw result.reason;
      const ports = nodes.map((node) => node.port);
      await runRedisCli(
        [
          '--cluster',
          'create',
          ...ports.map((port) => `${HOST}:${port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        60_000,
      );
      await cluster.waitForStable(`cluster on ports ${ports.join(', ')} to form`, 60_000);
      return cluster;
    } catch (error) {
      await cluster.destroy();
      throw error;
    }
  }

  /** Every node, killed ones included. */
  get nodes(): { port: number }[] {
    return this.all.map(({ port }) => ({ port }));
  }

  /** Startup nodes for an ioredis `Cluster`. */
  get startupNodes(): { host: string; port: number }[] {
    return this.all.map(({ port }) => ({ host: HOST, port }));
  }

  /** Nodes not killed. */
  get livePorts(): number[] {
    return this.all.filter((node) => !this.down.has(node.port)).map((node) => node.port);
  }

  /** A cluster client (disconnect it after). */
  client(): Cluster {
    return new Cluster(this.startupNodes, { redisOptions: { maxRetriesPerRequest: null } });
  }

  /** The masters that own slots, by port, as a live node sees them (`CLUSTER SLOTS`). */
  async masters(): Promise<Array<{ port: number; slots: [number, number][] }>> {
    const ranges = await this.ask((redis) => redis.cluster('SLOTS'));
    const byPort = new Map<number, [number, number][]>();
    for (const [from, to, [, port]] of ranges) {
      byPort.set(port, [...(byPort.get(port) ?? []), [from, to]]);
    }
    return [...byPort]
      .map(([port, slots]) => ({ port, slots: slots.sort((a, b) => a[0] - b[0]) }))
      .sort((a, b) => a.port - b.port);
  }

  /** The port of the master serving a key's slot. */
  async masterOf(key: string): Promise<number> {
    const slot = await this.ask((redis) => redis.cluster('KEYSLOT', key));
    const master = (await this.masters()).find(({ slots }) =>
      slots.some(([from, to]) => slot >= from && slot <= to),
    );
    if (!master) throw new Error(`no master serves slot ${slot} (key ${key})`);
    return master.port;
  }

  /**
   * The first prefix of `candidate(0)`, `candidate(1)`, … whose tags (`tagsOf(prefix)`) each
   * fall on a different master, so a test can put queues on distinct masters. Throws after
   * `tries` candidates.
   */
  async spreadPrefix(
    candidate: (attempt: number) => string,
    tagsOf: (prefix: string) => string[],
    tries = 1_000,
  ): Promise<string> {
    for (let attempt = 0; attempt < tries; attempt++) {
      const prefix = candidate(attempt);
      const tags = tagsOf(prefix);
      const ports = await Promise.all(tags.map((tag) => this.masterOf(tag)));
      if (new Set(ports).size === tags.length) return prefix;
    }
    throw new Error(`no prefix among ${tries} puts its tags on ${tagsOf('…').length} masters`);
  }

  /** Crashes a node (SIGKILL); it stays down until `restart()`. */
  async kill(port: number): Promise<void> {
    const node = this.node(port);
    this.down.add(port);
    await node.server.kill();
  }

  /**
   * Waits until every live node agrees the cluster is fine again without the killed node: no
   * slot owned by it, every slot served (`cluster_state:ok`), replicas linked.
   */
  async waitForFailover(deadPort: number, timeoutMs = 30_000): Promise<void> {
    this.node(deadPort);
    await this.waitForStable(`the slots of killed node ${deadPort} to fail over`, timeoutMs);
  }

  /**
   * Starts a killed node again on its port and dir, and waits until the cluster has taken it
   * back (a former master whose slots failed over rejoins as a replica of its successor).
   */
  async restart(port: number, timeoutMs = 30_000): Promise<void> {
    const node = this.node(port);
    if (!this.down.has(port)) throw new Error(`node ${port} was not killed`);
    // A client connection may hold the port as its local end for a while: try again.
    for (let attempt = 1; ; attempt++) {
      try {
        await node.server.start();
        break;
      } catch (error) {
        if (!(error instanceof PortInUseError) || attempt >= 5) throw error;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
    }
    this.down.delete(port);
    await this.waitForStable(`restarted node ${port} to rejoin the cluster`, timeoutMs);
  }

  /**
   * Waits until every replica has every write its master had when called, so that killing the
   * master loses none of them.
   */
  async waitForReplication(timeoutMs = 10_000): Promise<void> {
    await waitForReplicas(this.livePorts, timeoutMs);
  }

  /** Keys held by each master (`DBSIZE`), by port. */
  async keysPerMaster(): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const { port } of await this.masters()) {
      counts.set(port, await query(port, (redis) => redis.dbsize()));
    }
    return counts;
  }

  /**
   * Commands each master processed (`total_commands_processed`) since it started or since
   * `resetStats()`, by port. This counts the helpers' own commands on a master too: the
   * `CONFIG RESETSTAT` itself, the `INFO` of each earlier call of this (or of
   * `waitForReplication()`), the `DBSIZE` of each `keysPerMaster()`. Questions to "any node"
   * (`masters()`, `masterOf()`) go to a replica when there is one, so they count only in a
   * cluster without replicas. Allow a few commands of margin.
   */
  async commandsPerMaster(): Promise<Map<number, number>> {
    const counts = new Map<number, number>();
    for (const { port } of await this.masters()) {
      const stats = parseInfo(await query(port, (redis) => redis.info('stats')));
      counts.set(port, Number(stats.total_commands_processed));
    }
    return counts;
  }

  /** Zeroes the statistics of every live node (`CONFIG RESETSTAT`). */
  async resetStats(): Promise<void> {
    await Promise.all(this.livePorts.map((port) => query(port, (r) => r.config('RESETSTAT'))));
  }

  /** Kills every node and removes their dirs. */
  async destroy(): Promise<void> {
    await Promise.all(this.all.map((node) => node.server.kill()));
    for (const node of this.all) rmSync(node.dir, { recursive: true, force: true });
  }

  private node(port: number): ClusterNode {
    const node = this.all.find((candidate) => candidate.port === port);
    if (!node) throw new Error(`no node of this cluster listens on port ${port}`);
    return node;
  }

  /**
   * Asks the first live node that answers, replicas first: what this asks then does not count
   * in the masters' statistics.
   */
  private async ask<T>(use: (redis: Redis) => Promise<T>): Promise<T> {
    let last: unknown;
    const replicasFirst = [...this.livePorts].sort(
      (a, b) => Number(this.roles.get(b) === 'slave') - Number(this.roles.get(a) === 'slave'),
    );
    for (const port of replicasFirst) {
      try {
        return await query(port, use);
      } catch (error) {
        last = error;
      }
    }
    throw new Error('no live node of the cluster answered', { cause: last });
  }

  /**
   * Waits until every live node: reports `cluster_state:ok` with all slots served, knows every
   * node, sees every other live node as healthy and connected, has the same slot map as the
   * others with no slot on a killed node; and each live replica's link to its master is up.
   */
  private async waitForStable(what: string, timeoutMs: number): Promise<void> {
    await waitUntil(what, timeoutMs, async () => {
      const live = this.livePorts;
      let slotMap: string | undefined;
      for (const port of live) {
        const [info, nodes, replication] = await query(port, (redis) =>
          Promise.all([
            redis.cluster('INFO'),
            redis.cluster('NODES'),
            redis.info('replication'),
          ] as const),
        );
        const state = parseInfo(info);
        if (state.cluster_state !== 'ok') {
          return `node ${port}: cluster_state:${state.cluster_state}`;
        }
        if (Number(state.cluster_slots_ok) !== SLOTS) {
          return `node ${port}: cluster_slots_ok:${state.cluster_slots_ok}`;
        }
        if (Number(state.cluster_known_nodes) !== this.all.length) {
          return `node ${port}: cluster_known_nodes:${state.cluster_known_nodes}`;
        }
        const views = parseClusterNodes(nodes as string);
        for (const other of live) {
          const view = views.find((candidate) => candidate.port === other);
          if (!view) return `node ${port} does not know node ${other}`;
          const bad = view.flags.filter((flag) =>
            ['fail', 'fail?', 'handshake', 'noaddr'].includes(flag),
          );
          if (bad.length) return `node ${port} flags node ${other} ${bad.join(',')}`;
          if (!view.flags.includes('myself') && view.link !== 'connected') {
            return `node ${port}: link to node ${other} is ${view.link}`;
          }
        }
        const owners = views
          .filter((view) => view.slots.length)
          .map((view) => `${view.port}:${view.slots.map((range) => range.join('-')).join(',')}`)
          .sort()
          .join(' ');
        for (const view of views) {
          if (view.slots.length && this.down.has(view.port)) {
            return `node ${port}: killed node ${view.port} still owns slots`;
          }
        }
        if (slotMap !== undefined && owners !== slotMap) {
          return `nodes disagree on the slot map: ${slotMap} vs (node ${port}) ${owners}`;
        }
        slotMap = owners;
        const role = parseInfo(replication);
        this.roles.set(port, role.role);
        if (role.role === 'slave') {
          if (role.master_link_status !== 'up' || role.master_sync_in_progress !== '0') {
            return `replica ${port}: master_link_status:${role.master_link_status}`;
          }
        }
      }
      return undefined;
    });
  }
}

/**
 * Starts a server made by `make` on a fresh port (and dir), and again on another if another
 * process took the port before the server could listen on it.
 */
export async function startOnFreePort(
  make: (port: number) => Promise<ServerProcess> | ServerProcess,
  attempts = 3,
): Promise<ServerProcess> {
  for (let attempt = 1; ; attempt++) {
    const server = await make(await uniquePort());
    try {
      await server.start();
      return server;
    } catch (error) {
      rmSync(server.dir, { recursive: true, force: true });
      if (!(error instanceof PortInUseError) || attempt >= attempts) throw error;
    }
  }
}

/** Starts one cluster node in a temp dir of its own. */
async function startNode(args: string[]): Promise<ClusterNode> {
  let busPort = 0;
  const server = await startOnFreePort(async (port) => {
    busPort = await uniquePort();
    const dir = mkdtempSync(path.join(tmpdir(), 'conveyor-cluster-'));
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
        '--cluster-enabled',
        'yes',
        '--cluster-port',
        String(busPort),
        '--cluster-config-file',
        path.join(dir, 'nodes.conf'),
        '--cluster-node-timeout',
        '2000',
        // A replica may take over however long its link was down: on a loaded machine the
        // link can look stale, and a replica refusing to fail over would leave slots unserved.
        '--cluster-replica-validity-factor',
        '0',
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
      'cluster node',
    );
  });
  return { port: server.port, busPort, dir: server.dir, server };
}

/**
 * Waits until every replica among `ports` has processed every write its master had at the
 * time of the call (`slave_repl_offset` reaching the master's `master_repl_offset`).
 */
export async function waitForReplicas(ports: number[], timeoutMs: number): Promise<void> {
  const roles = await Promise.all(
    ports.map(async (port) => ({
      port,
      info: parseInfo(await query(port, (redis) => redis.info('replication'))),
    })),
  );
  const targets = new Map<number, number>();
  for (const { port, info } of roles) {
    if (info.role === 'master') targets.set(port, Number(info.master_repl_offset));
  }
  const replicas = roles.filter(({ info }) => info.role === 'slave');
  await waitUntil(
    `replicas ${replicas.map(({ port }) => port).join(', ')} to catch up`,
    timeoutMs,
    async () => {
      for (const { port, info } of replicas) {
        const target = targets.get(Number(info.master_port));
        if (target === undefined) continue;
        const now = parseInfo(await query(port, (redis) => redis.info('replication')));
        if (now.master_link_status !== 'up' || Number(now.slave_repl_offset) < target) {
          return `replica ${port}: link ${now.master_link_status}, offset ${now.slave_repl_offset} of ${target}`;
        }
      }
      return undefined;
    },
  );
}

function parseClusterNodes(text: string): NodeView[] {
  return text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, address, flags, masterId, , , , link, ...slots] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(address)?.[1]);
      return {
        id,
        port,
        flags: flags.split(','),
        masterId,
        link,
        slots: slots
          .filter((slot) => !slot.startsWith('['))
          .map((slot) => {
            const [from, to = from] = slot.split('-').map(Number);
            return [from, to] as [number, number];
          }),
      };
    });
}

/** Runs `redis-cli`, throwing with its output when it fails or takes longer than `timeoutMs`. */
async function runRedisCli(args: string[], timeoutMs: number): Promise<string> {
  const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    const result = await new Promise<string>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) =>
        resolve(
          code === 0 ? '' : signal ? `killed (${signal}) after ${timeoutMs} ms` : `code ${code}`,
        ),
      );
    });
    if (result) throw new Error(`redis-cli ${args.join(' ')} failed: ${result}\n${output}`);
    return output;
  } finally {
    clearTimeout(timer);
    running.delete(child);
  }
}
