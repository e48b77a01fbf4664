import { Queue } from 'bullmq';
import { EnqueueFailedError, TaskProducer } from '@conveyor/tasks';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';
import { startTasksApp, type TestApp } from '../support/tasks-app';
import { LedgerTask } from '../support/children/ledger-task';
import { items, report } from './ledger';

describe('fault 7: Redis out of memory (maxmemory, noeviction)', () => {
  let redis: PrivateRedis;
  let api: TestApp | undefined;

  beforeAll(async () => {
    redis = await PrivateRedis.start({ args: ['--maxmemory-policy', 'noeviction'] });
  });
  afterAll(async () => {
    await api?.close();
    await redis.destroy();
  });

  it('rejects enqueues with a clear error once Redis is full, and keeps every one it accepted', async () => {
    const attempts = items(400, 4_000);
    const admin = redis.client();
    const used = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))![1]);
    // Room for a few hundred small jobs, then every write is refused.
    await admin.config('SET', 'maxmemory', String(used + 512 * 1024));
    const prefix = uniquePrefix();
    api = await startTasksApp([], {
      connection: { url: redis.url, maxRetriesPerRequest: 1 },
      prefix,
      workers: 'none',
      queues: { default: {} },
    });
    const producer = api.get(TaskProducer);
    const filler = 'x'.repeat(2_000);

    const accepted: string[] = [];
    const rejected: Array<{ id: string; message: string }> = [];
    for (let n = 0; n < attempts; n += 1) {
      const id = `item-${n}`;
      try {
        // Conveyor's typed error, not ioredis's raw reply (which names a Lua script's sha).
        await producer.enqueue(LedgerTask, { n, filler } as { n: number }, { jobId: id });
        accepted.push(id);
      } catch (error) {
        expect(error).toBeInstanceOf(EnqueueFailedError);
        expect(error).toMatchObject({ reason: 'out-of-memory' });
        rejected.push({ id, message: (error as Error).message });
      }
    }

    await admin.config('SET', 'maxmemory', '0');
    const queue = new Queue('default', { connection: admin, prefix: `{${prefix}}` });
    try {
      const exists = await Promise.all(
        [...accepted, ...rejected.map((r) => r.id)].map(
          async (id) => [id, !!(await queue.getJob(id))] as const,
        ),
      );
      const existing = new Set(exists.filter(([, found]) => found).map(([id]) => id));
      const silentlyDropped = accepted.filter((id) => !existing.has(id));
      const partiallyWritten = rejected.filter((r) => existing.has(r.id));
      report({
        scenario: 'redis maxmemory (noeviction)',
        items: attempts,
        faults: rejected.length,
        ran: accepted.length,
        lost: silentlyDropped.length,
        runs: 0,
        duplicatesAbsorbed: 0,
        accepted: accepted.length,
        rejected: rejected.length,
        partiallyWritten: partiallyWritten.length,
        firstError: rejected[0]?.message ?? '',
      });
      expect(accepted.length).toBeGreaterThan(0);
      expect(rejected.length).toBeGreaterThan(0);
      expect(rejected[0].message).toBe(
        'Could not enqueue task "fault.ledger" on queue "default": Redis is out of memory ' +
          '(maxmemory reached with a noeviction policy); nothing was added. Free memory or ' +
          'raise maxmemory, then retry.',
      );
      expect(silentlyDropped).toEqual([]);
      expect(partiallyWritten).toEqual([]);
    } finally {
      await queue.close();
      admin.disconnect();
    }
  });
});
