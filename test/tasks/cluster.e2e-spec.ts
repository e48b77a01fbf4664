import { Test, type TestingModule } from '@nestjs/testing';
import {
  chain,
  DeadLetters,
  InvalidWorkflowError,
  QueueInspector,
  step,
  TaskProducer,
  TaskStats,
  TasksModule,
  Workers,
} from '@conveyor/tasks';
import { Cluster } from 'ioredis';
import { Ledger } from '../faults/ledger';
import { PrivateCluster } from '../support/private-cluster';
import { uniquePrefix } from '../support/redis';
import { eventually } from '../support/tasks-app';
import {
  Billed,
  ITEM,
  Keyed,
  Rated,
  Summed,
  TOPOLOGY_QUEUES,
  topologyTags,
  topologyTasks,
} from '../support/children/topology-tasks';

// Conveyor on a real Redis Cluster (3 masters on loopback), with hashTags: 'queue': every kind
// of limit, idempotent jobs, a chord and the reads that span queues, with the queues spread
// over the masters. Failover is the fault suite's (test/faults/cluster.fault-spec.ts).
describe('Redis Cluster', () => {
  let cluster: PrivateCluster;
  let app: TestingModule | undefined;
  let ledger: Ledger | undefined;
  let prefix: string;

  beforeAll(async () => {
    cluster = await PrivateCluster.start({ masters: 3, replicas: 0 });
  }, 60_000);

  beforeEach(() => {
    prefix = uniquePrefix();
  });

  afterEach(async () => {
    await app?.close();
    app = undefined;
    await ledger?.close();
    ledger = undefined;
  });

  afterAll(() => cluster?.destroy());

  async function start(connection: unknown): Promise<TestingModule> {
    const module = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({
          connection: connection as never,
          prefix,
          hashTags: 'queue',
          queues: TOPOLOGY_QUEUES,
          stats: { interval: '1s' },
        }),
      ],
      providers: [topologyTasks(prefix)],
    }).compile();
    module.useLogger(false);
    await module.init();
    return module;
  }

  it('runs rate-limited, per-key, idempotent and chord jobs with the queues spread over the masters', async () => {
    // The three tags (mail, tenants, billing) on three masters.
    prefix = await cluster.spreadPrefix(uniquePrefix, topologyTags);
    ledger = new Ledger(prefix);
    app = await start({ cluster: { nodes: cluster.startupNodes } });
    const producer = app.get(TaskProducer);

    await producer.enqueueMany(
      Rated,
      Array.from({ length: 40 }, (_, i) => ({ n: ITEM.rated + i })),
    );
    await producer.enqueueMany(
      Keyed,
      Array.from({ length: 40 }, (_, i) => ({ n: ITEM.keyed + i, key: `t${i % 4}` })),
    );
    const billed = await producer.enqueue(Billed, { n: ITEM.billed }, { idempotencyKey: 'b-0' });
    // The same idempotency key is the same job.
    const again = await producer.enqueue(Billed, { n: ITEM.billed }, { idempotencyKey: 'b-0' });
    expect(again.id).toBe(billed.id);
    const chords = await Promise.all(
      [1, 3, 5].map((i) =>
        producer.chord(
          [step(Billed, { n: ITEM.member + i }), step(Billed, { n: ITEM.member + i + 1 })],
          step(Summed),
        ),
      ),
    );
    const sums = await Promise.all(chords.map((handle) => handle.result({ timeout: '30s' })));
    expect(sums).toEqual([1, 3, 5].map((i) => ITEM.chord + i));
    await expect(billed.result({ timeout: '30s' })).resolves.toBe(ITEM.billed);

    const expected = [
      ...Array.from({ length: 40 }, (_, i) => ITEM.rated + i),
      ...Array.from({ length: 40 }, (_, i) => ITEM.keyed + i),
      ITEM.billed,
      ...[1, 2, 3, 4, 5, 6].map((i) => ITEM.member + i),
      ...[1, 3, 5].map((i) => ITEM.chord + i),
    ];
    await eventually(async () => (await ledger!.done()) >= expected.length, 30_000, 'every job');
    const figures = await ledger.check(expected);
    expect(figures.lost).toEqual([]);
    expect(figures.duplicatesAbsorbed).toBe(0);

    // The three tags (mail, tenants, billing) were picked to land on three masters: each
    // holds keys of the app.
    const keys = await cluster.keysPerMaster();
    expect([...keys.values()].filter((count) => count > 0)).toHaveLength(3);

    // Reads that span queues go one queue at a time on a cluster; health pings a node.
    const inspector = app.get(QueueInspector);
    await expect(inspector.ping()).resolves.toBeGreaterThanOrEqual(0);
    const snapshot = await inspector.snapshot(['mail', 'tenants', 'billing']);
    expect(snapshot.map((s) => [s.queue, s.completed])).toEqual([
      ['mail', 40],
      ['tenants', 40],
      ['billing', 7],
    ]);
    expect(await app.get(DeadLetters).count()).toBe(0);
    // The per-key reader is one script on the queue's slot: its keys all share the queue's tag
    // (a CROSSSLOT error otherwise), and with every job done no key runs or waits.
    await expect(inspector.tenants('tenants')).resolves.toEqual({
      queue: 'tenants',
      tenants: [],
      cursor: null,
    });
    // The run history is written one script a queue, each in its queue's slot: the figures of
    // the three masters' queues add up to what ran (a CROSSSLOT error would leave them empty).
    const stats = app.get(TaskStats);
    await eventually(
      async () =>
        (await stats.queues(['mail', 'tenants', 'billing'])).map((q) => q.completed).join() ===
        '40,40,7',
      15_000,
      'the run history of the three queues',
    );
  }, 90_000);

  it('takes an ioredis Cluster as the connection, and cancels a delayed job through it', async () => {
    const template = new Cluster(cluster.startupNodes, { lazyConnect: true });
    app = await start(template);
    const producer = app.get(TaskProducer);
    const handle = await producer.enqueue(Rated, { n: 1 }, { delay: '1h' });
    await expect(handle.cancel()).resolves.toBe('removed');
    expect(await handle.state()).toBe('cancelled');
    // The template was only read: it never connected.
    expect(template.status).toBe('wait');
  }, 60_000);

  it("refuses a workflow whose steps span two queues' hash tags, enqueuing nothing", async () => {
    app = await start({ cluster: { nodes: cluster.startupNodes } });
    const producer = app.get(TaskProducer);
    await expect(producer.workflow(chain([step(Rated, { n: 1 }), step(Keyed)]))).rejects.toThrow(
      InvalidWorkflowError,
    );
    const snapshot = await app.get(QueueInspector).snapshot(['mail', 'tenants']);
    expect(snapshot.every((s) => s.waiting === 0 && s.delayed === 0)).toBe(true);
  }, 60_000);

  it('keeps the worker registry on the cluster: listed, answering pings, gone at shutdown', async () => {
    app = await start({ cluster: { nodes: cluster.startupNodes } });
    const workers = app.get(Workers);
    const [listed] = (await eventually(
      async () => {
        const live = await workers.list();
        return live.length ? live : undefined;
      },
      10_000,
      'this process in the registry',
    ))!;
    expect(listed).toMatchObject({ pid: process.pid, stopping: false });
    expect(listed.queues.map((q) => q.name)).toContain('mail');
    const [answer] = (await eventually(
      async () => {
        const replies = await workers.ping('500ms');
        return replies.length ? replies : undefined;
      },
      10_000,
      'a ping answered through the cluster',
    ))!;
    expect(answer.id).toBe(listed.id);

    const reader = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({
          connection: { cluster: { nodes: cluster.startupNodes } },
          prefix,
          hashTags: 'queue',
          queues: TOPOLOGY_QUEUES,
          workers: 'none',
        }),
      ],
    }).compile();
    reader.useLogger(false);
    await reader.init();
    try {
      await app.close();
      app = undefined;
      expect(await reader.get(Workers).list()).toEqual([]);
    } finally {
      await reader.close();
    }
  });
});
