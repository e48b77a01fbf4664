import { randomUUID } from 'node:crypto';
import type { INestApplicationContext } from '@nestjs/common';
import {
  type Duration,
  QueueInspector,
  type QueueSnapshot,
  type TaskHandle,
  type TaskState,
} from '@conveyor/tasks';
import { parseDuration } from '@conveyor/tasks/internal';
import { Cluster, Redis } from 'ioredis';

/**
 * A key prefix no other test uses, for `TasksModule.forRoot({ prefix })`: tests that share a
 * Redis then never see each other's jobs, and `removePrefix()` cleans up after one.
 *
 * @example
 * const prefix = testPrefix('signup'); // 'signup-1f0c9a2b'
 */
export function testPrefix(label = 'test'): string {
  if (!/^[A-Za-z0-9._-]{1,80}$/.test(label)) {
    throw new TypeError(
      `testPrefix: label must be 1–80 letters, digits or . _ -, got ${JSON.stringify(label)}`,
    );
  }
  return `${label}-${randomUUID().slice(0, 8)}`;
}

/**
 * Deletes every key Conveyor wrote under `prefix` (its queues under `{prefix}` or, with
 * `hashTags: 'queue'`, `{prefix:<queue>}`), on every master of a cluster. Returns how many.
 * Call it after the app is closed: a running worker writes its keys again.
 *
 * @example
 * afterEach(async () => {
 *   await app.close();
 *   await removePrefix('redis://127.0.0.1:6379', prefix);
 * });
 */
export async function removePrefix(
  connection: string | Redis | Cluster,
  prefix: string,
): Promise<number> {
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(prefix)) {
    throw new TypeError(`removePrefix: not a Conveyor prefix: ${JSON.stringify(prefix)}`);
  }
  const client =
    typeof connection === 'string' ? new Redis(connection, { lazyConnect: true }) : connection;
  try {
    const nodes = client instanceof Cluster ? client.nodes('master') : [client];
    let removed = 0;
    for (const node of nodes) {
      for (const pattern of [`{${prefix}}:*`, `{${prefix}:*`]) {
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          // One key a call: on a cluster node, keys of one scan may hash to different slots.
          for (const key of keys) removed += await node.unlink(key);
        } while (cursor !== '0');
      }
    }
    return removed;
  } finally {
    if (typeof connection === 'string') client.disconnect();
  }
}

/** Options of the waits: how long before giving up (default 10 s), how often to look. */
export interface WaitOptions {
  timeout?: Duration;
  /** @default '25ms' */
  interval?: Duration;
}

/** A wait of a test helper ran out; the message says what was seen last. */
export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

/**
 * Waits until a job is in one of `states`, and returns the state it found. For a result, use
 * `handle.result()`; this is for the states between (a job `active`, `delayed` for a retry, …).
 *
 * @example
 * await waitForState(handle, 'active');
 * await handle.cancel();
 */
export async function waitForState(
  handle: TaskHandle<unknown>,
  states: TaskState | readonly TaskState[],
  options: WaitOptions = {},
): Promise<TaskState> {
  const wanted: readonly TaskState[] = typeof states === 'string' ? [states] : states;
  let last: TaskState | undefined;
  return poll(
    options,
    `job ${handle.id} to be ${wanted.join(' or ')}`,
    () => `it is ${last}`,
    async () => {
      last = await handle.state();
      return wanted.includes(last) ? last : undefined;
    },
  );
}

/**
 * Waits until the app's queues (all it knows, or those named) have no job waiting, delayed,
 * active or waiting for children: everything enqueued so far has run to its end. Reads the
 * counts from Redis through the app's `QueueInspector`.
 *
 * @example
 * await producer.enqueueMany(Resize, images);
 * await waitForDrain(app);
 * expect(await storage.count()).toBe(images.length);
 */
export async function waitForDrain(
  app: INestApplicationContext,
  options: WaitOptions & { queues?: readonly string[] } = {},
): Promise<QueueSnapshot[]> {
  const inspector = app.get(QueueInspector, { strict: false });
  let last: QueueSnapshot[] = [];
  return poll(
    options,
    `queues ${options.queues?.join(', ') ?? inspector.queueNames().join(', ')} to drain`,
    () =>
      last
        .filter((s) => s.waiting + s.active + s.delayed + s['waiting-children'] > 0)
        .map(
          (s) =>
            `${s.queue}: ${s.waiting} waiting, ${s.active} active, ${s.delayed} delayed, ${s['waiting-children']} waiting for children`,
        )
        .join('; '),
    async () => {
      last = await inspector.snapshot(options.queues ?? inspector.queueNames());
      const busy = last.some((s) => s.waiting + s.active + s.delayed + s['waiting-children'] > 0);
      return busy ? undefined : last;
    },
  );
}

async function poll<T>(
  options: WaitOptions,
  what: string,
  seen: () => string,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const fail = (problem: string): never => {
    throw new TypeError(problem);
  };
  const timeoutMs = parseDuration(options.timeout ?? '10s', 'timeout', fail);
  const intervalMs = parseDuration(options.interval ?? '25ms', 'interval', fail);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() >= deadline) {
      throw new WaitTimeoutError(`gave up after ${timeoutMs} ms waiting for ${what}: ${seen()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
