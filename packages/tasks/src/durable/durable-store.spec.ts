import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { KeyLayout } from '../redis/key-layout';
import { DurableStore, type EntryMeta } from './durable-store';
import { parseStepJobId, stepJobId } from './workflow-replay';

// The durable workflow scripts against the real Redis, under a prefix of their own: the
// transitions that must happen once (a start per id, a step's record, a wait's end).
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

describe('durable workflow store', () => {
  let redis: Redis;
  let store: DurableStore;
  let prefix: string;

  beforeEach(() => {
    redis = new Redis(REDIS_URL);
    prefix = `conveyor-test-${randomUUID().slice(0, 8)}`;
    store = new DurableStore(() => redis, new KeyLayout(prefix));
  });

  afterEach(async () => {
    const keys = await redis.keys(`{${prefix}}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  const wait: EntryMeta = { kind: 'wait', signal: 'approval', at: 1, until: 2 };

  it('creates a workflow once per id and keeps its first name', async () => {
    await expect(store.start('wf-1', 'a', '{}')).resolves.toEqual({ created: true, name: 'a' });
    await expect(store.start('wf-1', 'b', '{}')).resolves.toEqual({ created: false, name: 'a' });
    await expect(store.ids('running')).resolves.toEqual(['wf-1']);
    expect(await redis.hget(`{${prefix}}:conveyor.durable:wf:wf-1`, 'status')).toBe('running');
  });

  it('records a step once: a second delivery of the job changes nothing', async () => {
    await store.start('wf-1', 'a', '{}');
    const meta: EntryMeta = { kind: 'step', task: 't', at: 1 };
    await expect(store.begin('wf-1', '0', meta, 'started', '{"n":1}')).resolves.toEqual({
      meta,
      state: 'started',
    });
    await expect(store.settle('wf-1', '0', true, '"first"')).resolves.toBe(true);
    await expect(store.settle('wf-1', '0', false, '{}')).resolves.toBe(false);
    const { journal } = (await store.read('wf-1'))!;
    expect(journal).toMatchObject({ '0:s': 'ok', '0:out': '"first"', '0:in': '{"n":1}' });
    expect(journal['0:err']).toBeUndefined();
    // A begin that races the first one reads it, whatever it asks for.
    const other: EntryMeta = { kind: 'step', task: 'u', at: 2 };
    await expect(store.begin('wf-1', '0', other, 'started')).resolves.toEqual({
      meta,
      state: 'ok',
    });
  });

  it('ends a wait signalled or timed out, never both', async () => {
    await store.start('wf-1', 'a', '{}');
    await expect(store.wait('wf-1', 0, wait, 'approval')).resolves.toEqual({
      state: 'waiting',
      data: '',
    });
    await expect(store.signal('wf-1', 'approval', '{"by":"ana"}')).resolves.toBe(0);
    // The timeout comes second: the signal has won.
    await expect(store.timeout('wf-1', 0)).resolves.toEqual({
      state: 'signalled',
      data: '{"by":"ana"}',
    });

    await store.start('wf-2', 'a', '{}');
    await store.wait('wf-2', 0, wait, 'approval');
    await expect(store.timeout('wf-2', 0)).resolves.toEqual({ state: 'timedout', data: '' });
    // The signal comes second: kept for a later wait, not given to the one that timed out.
    await expect(store.signal('wf-2', 'approval', '1')).resolves.toBe('kept');
    await expect(store.wait('wf-2', 1, wait, 'approval')).resolves.toEqual({
      state: 'signalled',
      data: '1',
    });
  });

  it('keeps signals sent before their wait, in order, per name', async () => {
    await store.start('wf-1', 'a', '{}');
    await expect(store.signal('wf-1', 'approval', '1')).resolves.toBe('kept');
    await expect(store.signal('wf-1', 'approval', '2')).resolves.toBe('kept');
    await expect(store.signal('wf-1', 'other', '3')).resolves.toBe('kept');
    await expect(store.wait('wf-1', 0, wait, 'approval')).resolves.toMatchObject({ data: '1' });
    await expect(store.wait('wf-1', 1, wait, 'approval')).resolves.toMatchObject({ data: '2' });
    await expect(store.signal('no-such', 'approval', '1')).resolves.toBe('unknown');
  });

  it('moves a workflow between statuses only from the expected ones, with its index', async () => {
    await store.start('wf-1', 'a', '{}');
    await expect(store.transition('wf-1', 'completed', ['compensating'])).resolves.toBe(false);
    await expect(
      store.transition('wf-1', 'completed', ['running'], { result: '42' }),
    ).resolves.toBe(true);
    await expect(store.ids('running')).resolves.toEqual([]);
    await expect(store.ids('completed')).resolves.toEqual(['wf-1']);
    await expect(store.signal('wf-1', 'approval', '1')).resolves.toBe('ended');
    await expect(store.cancel('wf-1', 'late')).resolves.toBe('ended');
    await expect(store.cancel('no-such', 'late')).resolves.toBe('unknown');
  });
});

describe('durable workflow store with a retention', () => {
  it("lets an ended workflow's keys expire, inboxes included, and keeps a running one's", async () => {
    const redis = new Redis(REDIS_URL);
    const prefix = `conveyor-test-${randomUUID().slice(0, 8)}`;
    const store = new DurableStore(() => redis, new KeyLayout(prefix), 60_000);
    const hash = `{${prefix}}:conveyor.durable:wf:wf-1`;
    try {
      await store.start('wf-1', 'a', '{}');
      await store.begin('wf-1', '0', { kind: 'sleep', at: 1, until: 2 }, 'started');
      await store.signal('wf-1', 'late', '1');
      await store.transition('wf-1', 'compensating', ['running']);
      expect(await redis.pttl(hash)).toBe(-1);
      await store.transition('wf-1', 'failed', ['compensating']);
      for (const key of [hash, `${hash}:j`, `${hash}:sigs`, `${hash}:sig:late`]) {
        expect(await redis.pttl(key)).toBeGreaterThan(0);
      }
    } finally {
      const keys = await redis.keys(`{${prefix}}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

describe('step job ids', () => {
  it('name the workflow and the journal field, and nothing else parses as one', () => {
    expect(stepJobId('order-7', '3')).toBe('dwf~order-7~3');
    expect(parseStepJobId('dwf~order-7~3')).toEqual({ id: 'order-7', field: '3' });
    expect(parseStepJobId('dwf~order-7~c3')).toEqual({ id: 'order-7', field: 'c3' });
    // The workflow's own runs (wake-ups) are not steps.
    expect(parseStepJobId('dwf~order-7~w3')).toBeUndefined();
    expect(parseStepJobId('dwf~order-7~start')).toBeUndefined();
    expect(parseStepJobId('email.send~key')).toBeUndefined();
    expect(parseStepJobId(undefined)).toBeUndefined();
  });
});
