import { Injectable } from '@nestjs/common';
import { defineTask, Task, type TaskContext, TaskProducer } from '@conveyor/tasks';
import { uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Migrate = defineTask<{ step: number }, void>('db.migrate', { singleton: true });
const Sync = defineTask<{ account: string; n: number }, void>('crm.sync', {
  lock: ({ account }) => account,
});
const Render = defineTask<{ n: number }, void>('pdf.render', { maxConcurrent: 3 });
const Ping = defineTask<{ n: number }, number>('api.ping', { rateLimit: { max: 10, per: '1s' } });
const Import = defineTask<{ tenant: string; n: number }, void>('tenant.import', {
  concurrencyKey: ({ tenant }) => tenant,
  maxConcurrent: 2,
  rateLimit: { max: 200, per: '1s' },
});

/** Counts overlapping runs per key, across every app that shares this object. */
class Overlap {
  private readonly running = new Map<string, number>();
  readonly peak = new Map<string, number>();
  readonly done: Array<{ key: string; at: number; attempt: number }> = [];

  async run(key: string, ms: number, attempt: number): Promise<void> {
    const now = (this.running.get(key) ?? 0) + 1;
    this.running.set(key, now);
    this.peak.set(key, Math.max(this.peak.get(key) ?? 0, now));
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.running.set(key, this.running.get(key)! - 1);
    this.done.push({ key, at: Date.now(), attempt });
  }
}

@Injectable()
class LimitedTasks {
  constructor(readonly overlap: Overlap) {}

  @Task(Migrate)
  migrate(_: { step: number }, ctx: TaskContext) {
    return this.overlap.run('migrate', 30, ctx.attempt);
  }

  @Task(Sync)
  sync({ account }: { account: string }, ctx: TaskContext) {
    return this.overlap.run(`sync:${account}`, 20, ctx.attempt);
  }

  @Task(Render)
  render(_: { n: number }, ctx: TaskContext) {
    return this.overlap.run('render', 40, ctx.attempt);
  }

  @Task(Ping)
  async ping({ n }: { n: number }, ctx: TaskContext): Promise<number> {
    await this.overlap.run('ping', 0, ctx.attempt);
    return n;
  }

  @Task(Import)
  import({ tenant }: { tenant: string }, ctx: TaskContext) {
    return this.overlap.run(`import:${tenant}`, 5, ctx.attempt);
  }
}

describe('locks, concurrency and rate limits across workers', () => {
  let apps: TestApp[] = [];
  let overlap: Overlap;

  /** Two worker apps on one prefix: limits must hold across them, not just within one. */
  async function twoWorkers(concurrency = 10) {
    overlap = new Overlap();
    const prefix = uniquePrefix();
    const providers = [{ provide: Overlap, useValue: overlap }, LimitedTasks];
    apps = [
      await startTasksApp(providers, { prefix, queues: { default: { concurrency } } }),
      await startTasksApp(providers, { prefix, queues: { default: { concurrency } } }),
    ];
    return apps[0].get(TaskProducer);
  }
  afterEach(async () => {
    await stopAll(...apps);
    apps = [];
  });

  it('runs a singleton task one at a time; the others wait without spending attempts', async () => {
    const producer = await twoWorkers();
    const handles = await producer.enqueueMany(
      Migrate,
      Array.from({ length: 8 }, (_, step) => ({ step })),
    );
    await Promise.all(handles.map((h) => h.result({ timeout: '20s' })));
    expect(overlap.peak.get('migrate')).toBe(1);
    expect(overlap.done).toHaveLength(8);
    expect(overlap.done.every((d) => d.attempt === 1)).toBe(true);
  });

  it('holds a keyed lock per key while different keys run side by side', async () => {
    const producer = await twoWorkers();
    const payloads = ['a', 'b', 'c'].flatMap((account) =>
      [1, 2, 3, 4].map((n) => ({ account, n })),
    );
    const handles = await producer.enqueueMany(Sync, payloads);
    await Promise.all(handles.map((h) => h.result({ timeout: '20s' })));
    expect(['a', 'b', 'c'].map((k) => overlap.peak.get(`sync:${k}`))).toEqual([1, 1, 1]);
  });

  it('caps a task at maxConcurrent runs across two worker processes', async () => {
    const producer = await twoWorkers();
    const handles = await producer.enqueueMany(
      Render,
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
    await Promise.all(handles.map((h) => h.result({ timeout: '20s' })));
    expect(overlap.peak.get('render')).toBe(3);
  });

  it('holds a rate limit of 10/s across two worker apps, without failing the jobs over it', async () => {
    const producer = await twoWorkers();
    const handles = await producer.enqueueMany(
      Ping,
      Array.from({ length: 25 }, (_, n) => ({ n })),
    );
    const results = await Promise.all(handles.map((h) => h.result({ timeout: '20s' })));
    expect(results).toEqual(Array.from({ length: 25 }, (_, n) => n));
    const starts = overlap.done.map((d) => d.at).sort((a, b) => a - b);
    // Any 10 consecutive starts... the 11th start must come ≥ 1 s after the 1st of a window.
    for (let i = 10; i < starts.length; i++)
      expect(starts[i] - starts[i - 10]).toBeGreaterThanOrEqual(990);
    expect(overlap.done.every((d) => d.attempt === 1)).toBe(true);
  });

  it("does not let a hot tenant's 1,000 jobs starve another tenant's 10", async () => {
    const producer = await twoWorkers(8);
    const hot = await producer.enqueueMany(
      Import,
      Array.from({ length: 1000 }, (_, n) => ({ tenant: 'hot', n })),
    );
    const quiet = await producer.enqueueMany(
      Import,
      Array.from({ length: 10 }, (_, n) => ({ tenant: 'quiet', n })),
    );
    await Promise.all(quiet.map((h) => h.result({ timeout: '30s' })));
    const hotDoneWhenQuietFinished = overlap.done.filter((d) => d.key === 'import:hot').length;
    await Promise.all(hot.map((h) => h.result({ timeout: '60s' })));
    expect(overlap.peak.get('import:hot')).toBeLessThanOrEqual(2);
    expect(overlap.peak.get('import:quiet')).toBeLessThanOrEqual(2);
    // Enqueued after all 1,000 hot jobs, the quiet tenant still finishes long before them.
    // Without fairness (FIFO) it would be all 1,000; the margin absorbs a loaded machine.
    expect(hotDoneWhenQuietFinished).toBeLessThan(800);
    await eventually(() => overlap.done.length === 1010, 5_000, 'every job');
  }, 90_000);
});
