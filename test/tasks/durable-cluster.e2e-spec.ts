import { Redis } from 'ioredis';
import { defineWorkflow, TasksModule, Workflows } from '@conveyor/tasks';
import { Test, type TestingModule } from '@nestjs/testing';
import { PrivateCluster } from '../support/private-cluster';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../support/redis';
import { eventually } from '../support/tasks-app';
import { closeLedger, DurableTasks, Record, Undo } from '../support/children/durable-tasks';

// Durable workflows on a real Redis Cluster with hashTags: 'queue': the workflow's state in
// the conveyor.durable tag, its steps' and compensations' jobs in two other queues' tags. Every script must keep
// to one slot (a CROSSSLOT error would fail the run). The ledger stays on the plain Redis.
const Across = defineWorkflow<{ ledger: string }, string>(
  'durable.cluster',
  async (ctx, { ledger }) => {
    await ctx.step(Record, { ledger, label: 'x1' }, { compensate: Undo });
    const approval = await ctx.waitFor<string>('approval');
    await ctx.step(Record, { ledger, label: 'x2', fail: approval === 'no' });
    return approval;
  },
);

describe('durable workflows on Redis Cluster', () => {
  let cluster: PrivateCluster;
  let app: TestingModule;
  let prefix: string;
  let redis: Redis;

  beforeAll(async () => {
    cluster = await PrivateCluster.start({ masters: 3, replicas: 0 });
    // A prefix whose three tags (state, steps, compensations) land on three masters.
    prefix = await cluster.spreadPrefix(uniquePrefix, (p) =>
      ['conveyor.durable', 'left', 'right'].map((tag) => `{${p}:${tag}}`),
    );
    app = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({
          connection: { cluster: { nodes: cluster.startupNodes } } as never,
          prefix,
          hashTags: 'queue',
          queues: { left: { concurrency: 2 }, right: { concurrency: 2 } },
          // Steps on one master, compensations on another, the workflows' state on a third.
          routes: { 'durable.record': 'left', 'durable.undo': 'right' },
          workflows: [Across],
        }),
      ],
      providers: [DurableTasks],
    }).compile();
    app.useLogger(false);
    await app.init();
    redis = new Redis(REDIS_URL);
  }, 60_000);

  afterAll(async () => {
    await app?.close();
    await cluster?.destroy();
    redis?.disconnect();
    closeLedger();
    await deletePrefix(prefix);
  });

  it('runs, signals and compensates with state, steps and compensations on three masters', async () => {
    const workflows = app.get(Workflows);
    const ledger = `{${prefix}}:ledger`;
    const ok = await workflows.start(Across, { ledger }, { id: 'ok-1' });
    const no = await workflows.start(Across, { ledger }, { id: 'no-1' });
    for (const id of ['ok-1', 'no-1']) {
      await eventually(async () => (await workflows.get(id)).current?.kind === 'wait');
    }
    await workflows.signal('ok-1', 'approval', 'yes');
    await workflows.signal('no-1', 'approval', 'no');
    await expect(ok.result({ timeout: '20s' })).resolves.toBe('yes');
    await expect(no.result({ timeout: '20s' })).rejects.toMatchObject({ status: 'compensated' });
    expect(await redis.hget(ledger, 'undo:x1')).toBe('1');
    expect((await workflows.list({ status: 'completed' })).map((w) => w.id)).toEqual(['ok-1']);
  }, 60_000);
});
