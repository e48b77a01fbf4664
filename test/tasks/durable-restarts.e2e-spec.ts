import { Redis } from 'ioredis';
import { Workflows } from '@conveyor/tasks';
import { type Child, startChild } from '../support/child-process';
import { REDIS_URL } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { Scripted, type ScriptItem } from '../support/children/durable-tasks';

// Real worker processes, SIGKILLed mid-workflow: the journal in Redis is all a new process
// needs to go on. One test builds on the previous one's worker to spend fewer process starts.
describe('durable workflows across worker processes', () => {
  let api: TestApp;
  let workflows: Workflows;
  let redis: Redis;
  let ledger: string;
  let worker: Child | undefined;

  const startWorker = async (queueOptions: object = {}) => {
    const child = startChild('durable-worker.ts', {
      REDIS_URL,
      CONVEYOR_PREFIX: api.prefix,
      QUEUE_OPTIONS: JSON.stringify(queueOptions),
    });
    await child.waitFor(/READY/, 30_000);
    return child;
  };
  const start = (script: ScriptItem[]) => workflows.start(Scripted, { ledger, script });
  const runs = async (what: string) => Number((await redis.hget(ledger, what)) ?? 0);

  beforeAll(async () => {
    // API-only: this process starts, signals and reads workflows; the children run them.
    api = await startTasksApp([], { workers: 'none' });
    workflows = api.get(Workflows);
    redis = new Redis(REDIS_URL);
    ledger = `{${api.prefix}}:ledger`;
    worker = await startWorker();
  }, 60_000);

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await stopAll(api);
    redis.disconnect();
  });

  it('resumes a workflow whose worker was SIGKILLed mid-step, without re-running completed steps', async () => {
    const run = await start([{ step: 'a' }, { step: 'b', hang: true }, { step: 'c' }]);
    await worker!.waitFor(/HANG do:b/);
    await worker!.kill('SIGKILL');
    worker = await startWorker();
    await expect(run.result({ timeout: '20s' })).resolves.toEqual(['do:a', 'do:b', 'do:c']);
    // b ran twice (the killed run, then its redelivery); a and c once each.
    expect([await runs('do:a'), await runs('do:b'), await runs('do:c')]).toEqual([1, 2, 1]);
    const info = await workflows.get(run.id);
    expect(info.status).toBe('completed');
    expect(info.history.map((e) => [e.seq, e.state, e.result])).toEqual([
      [0, 'ok', 'do:a'],
      [1, 'ok', 'do:b'],
      [2, 'ok', 'do:c'],
    ]);
  }, 60_000);

  it('finishes compensating, newest first, after its worker is killed during a compensation', async () => {
    const run = await start([
      { step: 'ca', undo: true, undoHang: true },
      { step: 'cb', undo: true },
      { step: 'cc', fail: true },
    ]);
    await worker!.waitFor(/HANG undo:ca/);
    await worker!.kill('SIGKILL');
    worker = await startWorker();
    await expect(run.result({ timeout: '20s' })).rejects.toMatchObject({ status: 'compensated' });
    const order = (await redis.lrange(`${ledger}:order`, 0, -1)).filter((l) => /:c[abc]$/.test(l));
    // The killed compensation ran again; nothing before it did.
    expect(order).toEqual(['do:ca', 'do:cb', 'do:cc', 'undo:cb', 'undo:ca', 'undo:ca']);
    const info = await workflows.get(run.id);
    expect(
      info.history.filter((e) => e.kind === 'compensation').map((e) => [e.seq, e.state]),
    ).toEqual([
      [1, 'ok'],
      [0, 'ok'],
    ]);
  }, 60_000);

  it('sleeps across a restart of every worker', async () => {
    const run = await start([{ step: 'sa' }, { sleep: '500ms' }, { step: 'sb' }]);
    await eventually(async () => (await workflows.get(run.id)).current?.kind === 'sleep');
    await worker!.kill('SIGKILL');
    worker = await startWorker();
    await expect(run.result({ timeout: '20s' })).resolves.toEqual(['do:sa', 'slept', 'do:sb']);
    expect([await runs('do:sa'), await runs('do:sb')]).toEqual([1, 1]);
    expect((await workflows.get(run.id)).history[1]).toMatchObject({ kind: 'sleep', state: 'ok' });
  }, 60_000);

  it('resumes on a signal sent from another process', async () => {
    const run = await start([{ step: 'ga' }, { waitFor: 'approval' }, { step: 'gb' }]);
    await eventually(async () => (await workflows.get(run.id)).current?.kind === 'wait');
    // This process has no workers: the signal goes through Redis to the worker child.
    await expect(workflows.signal(run.id, 'approval', { by: 'ana' })).resolves.toBe('delivered');
    await expect(run.result({ timeout: '20s' })).resolves.toEqual([
      'do:ga',
      { by: 'ana' },
      'do:gb',
    ]);
    expect((await workflows.get(run.id)).history[1]).toMatchObject({
      kind: 'wait',
      signal: 'approval',
      state: 'signalled',
      result: { by: 'ana' },
    });
  }, 60_000);

  it('records a step failed by the stalled check (its worker died too often) and compensates', async () => {
    // Workers that fail a job the first time its worker is lost (maxStalledCount: 0).
    await worker!.kill('SIGKILL');
    worker = await startWorker({ maxStalledCount: 0 });
    const run = await start([
      { step: 'ka', undo: true },
      { step: 'kb', hang: true },
    ]);
    await worker.waitFor(/HANG do:kb/);
    await worker.kill('SIGKILL');
    worker = await startWorker({ maxStalledCount: 0 });
    await expect(run.result({ timeout: '20s' })).rejects.toMatchObject({ status: 'compensated' });
    expect([await runs('do:kb'), await runs('undo:ka')]).toEqual([1, 1]);
    expect((await workflows.get(run.id)).history[1]).toMatchObject({
      state: 'failed',
      error: { message: expect.stringMatching(/stalled/) },
    });
  }, 60_000);
});
