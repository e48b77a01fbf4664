import { randomUUID } from 'node:crypto';
import type { KeyLayout } from '../redis/key-layout';
import type { RedisClient } from '../redis/open-connection';
import type { PingReply } from './worker-info.interface';

// Kept apart from the store, with no Nest or BullMQ import: the `conveyor ping` command
// loads this file alone, and an exec probe starts it every few seconds.

/** What a worker process answers to a ping (JSON on the ping's reply channel). */
export type StoredPingReply = Omit<PingReply, 'latencyMs'>;

/** Where the registry lives: keys and channels, all in the app's hash tag `{<prefix>}`. */
export function registryKeys(keys: KeyLayout): { index: string; ping: string; pong: string } {
  return {
    index: keys.appKey('workers'),
    ping: keys.appKey('workers-ping'),
    pong: keys.appKey('workers-pong:'),
  };
}

/**
 * Pings worker processes over pub/sub: subscribes to a fresh reply channel, publishes
 * `{ reply }` on the ping channel, and collects the answers until `timeoutMs` has passed (or
 * `enough` says so). Shared by `Workers.ping()` and the `conveyor ping` command.
 */
export class WorkerPings {
  private readonly waiting = new Map<string, (message: string) => void>();

  constructor(
    private readonly subscriber: RedisClient,
    private readonly publisher: RedisClient,
    private readonly channels: { ping: string; pong: string },
  ) {
    subscriber.on('message', (channel: string, message: string) =>
      this.waiting.get(channel)?.(message),
    );
  }

  async ping(timeoutMs: number, enough?: (replies: PingReply[]) => boolean): Promise<PingReply[]> {
    const started = performance.now();
    const reply = this.channels.pong + randomUUID();
    const replies: PingReply[] = [];
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const timer = setTimeout(finish, timeoutMs);
    this.waiting.set(reply, (message) => {
      const answer = parsePingReply(message);
      if (!answer) return;
      replies.push({ ...answer, latencyMs: Math.round((performance.now() - started) * 10) / 10 });
      if (enough?.(replies)) finish();
    });
    try {
      // Subscribed before the ping goes out, so no answer can come first; both bounded by
      // the same deadline, so a Redis that does not answer ends the ping with no replies.
      let failure: unknown;
      this.subscriber
        .subscribe(reply)
        .then(() => this.publisher.publish(this.channels.ping, JSON.stringify({ reply })))
        .catch((error: unknown) => {
          failure = error;
          finish();
        });
      await finished;
      if (failure !== undefined) throw failure;
      return replies;
    } finally {
      clearTimeout(timer);
      this.waiting.delete(reply);
      if (this.subscriber.status === 'ready') {
        await this.subscriber.unsubscribe(reply).catch(() => undefined);
      }
    }
  }

  /** Stops listening for answers (the caller closes the connections it gave). */
  close(): void {
    this.subscriber.removeAllListeners('message');
  }
}

function parsePingReply(message: string): StoredPingReply | undefined {
  try {
    const r = JSON.parse(message) as Partial<StoredPingReply>;
    if (typeof r.id !== 'string' || typeof r.host !== 'string' || typeof r.pid !== 'number') {
      return undefined;
    }
    return {
      id: r.id,
      host: r.host,
      pid: r.pid,
      version: String(r.version ?? ''),
      queues: Array.isArray(r.queues) ? r.queues.map(String) : [],
      running: Number(r.running ?? 0),
    };
  } catch {
    return undefined;
  }
}
