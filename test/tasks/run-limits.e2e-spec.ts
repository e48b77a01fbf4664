import { Injectable } from '@nestjs/common';
import type { Queue } from 'bullmq';
import { defineTask, Task, type TaskContext, TaskProducer } from '@conveyor/tasks';
import { closeRawQueue, rawQueue, uniquePrefix } from '../support/redis';
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

/** Bounds a wait inside a handler: only a hang, never the behaviour under test. */
const HOLD_BOUND_MS = 15_000;

interface RunEvent {
  kind: 'start' | 'end';
  key: string;
}

/**
 * Every run's start and end, in the order they happened, across all the worker apps of a
 * test (they share this object and one event loop, so the order is exact without clocks).
 */
class Runs {
  readonly events: RunEvent[] = [];
  readonly running = new Map<string, number>();
  readonly attempts: number[] = [];
  readonly admissions: Array<{ key: string; at: number }> = [];
  private readonly listeners = new Set<() => void>();
  private readonly open = new Set<string>();
  /** Gates that opened because their condition held, not because the bound passed. */
  readonly met = new Set<string>();

  start(key: string, ctx: TaskContext): void {
    this.attempts.push(ctx.attempt);
    if (ctx.admittedAt) this.admissions.push({ key, at: ctx.admittedAt.getTime() });
    this.running.set(key, (this.running.get(key) ?? 0) + 1);
    this.record({ kind: 'start', key });
  }

  end(key: string): void {
    this.running.set(key, this.running.get(key)! - 1);
    this.record({ kind: 'end', key });
  }

  ends(key: string): number {
    return this.events.filter((e) => e.kind === 'end' && e.key === key).length;
  }

  /** The most runs of `key` in progress at one moment. */
  peak(key: string): number {
    let now = 0;
    let peak = 0;
    for (const e of this.events) {
      if (e.key !== key) continue;
      now += e.kind === 'start' ? 1 : -1;
      peak = Math.max(peak, now);
    }
    return peak;
  }

  /** Whether, at some moment, a run of every one of `keys` was in progress. */
  overlapped(keys: string[]): boolean {
    const now = new Map<string, number>();
    for (const e of this.events) {
      now.set(e.key, (now.get(e.key) ?? 0) + (e.kind === 'start' ? 1 : -1));
      if (keys.every((k) => (now.get(k) ?? 0) > 0)) return true;
    }
    return false;
  }

  /**
   * Holds the runs that reach gate `name` until `condition` holds (checked at every start
   * and end, and every 25 ms for conditions on Redis), or `HOLD_BOUND_MS` passed (then
   * `met` says it did not hold); once open, the gate lets every later run through.
   */
  async gate(name: string, condition: () => boolean | Promise<boolean>): Promise<void> {
    const deadline = Date.now() + HOLD_BOUND_MS;
    for (;;) {
      if (this.open.has(name)) return;
      if (await condition()) {
        this.met.add(name);
        break;
      }
      if (Date.now() > deadline) break;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.listeners.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 25);
        this.listeners.add(wake);
      });
    }
    this.open.add(name);
  }

  private record(event: RunEvent): void {
    this.events.push(event);
    for (const wake of [...this.listeners]) wake();
  }
}

/** The queue of a test's jobs, as the handlers see it. */
class QueueProbe {
  queue?: Queue;
  /** How many of the test's jobs must be parked (delayed) while the first runs hold. */
  expectParked = 0;

  async parked(): Promise<boolean> {
    return (await this.queue!.getJobCountByTypes('delayed')) >= this.expectParked;
  }
}

@Injectable()
class LimitedTasks {
  hotDoneWhenQuietFinished?: number;
  countsWhenQuietFinished?: Record<string, number>;

  constructor(
    readonly runs: Runs,
    readonly probe: QueueProbe,
  ) {}

  @Task(Migrate)
  async migrate(_: { step: number }, ctx: TaskContext): Promise<void> {
    this.runs.start('migrate', ctx);
    // The first run stays until every other job waits parked: a second run that got in
    // would overlap it.
    await this.runs.gate('migrate', () => this.probe.parked());
    this.runs.end('migrate');
  }

  @Task(Sync)
  async sync({ account }: { account: string }, ctx: TaskContext): Promise<void> {
    const key = `sync:${account}`;
    this.runs.start(key, ctx);
    // The first runs stay until one of every account runs and every other job waits parked:
    // different keys side by side, the same key never.
    await this.runs.gate(
      'sync',
      async () =>
        this.runs.overlapped(['sync:a', 'sync:b', 'sync:c']) && (await this.probe.parked()),
    );
    this.runs.end(key);
  }

  @Task(Render)
  async render(_: { n: number }, ctx: TaskContext): Promise<void> {
    this.runs.start('render', ctx);
    // The first runs stay until three run at once and the rest wait parked.
    await this.runs.gate(
      'render',
      async () => this.runs.running.get('render')! >= 3 && (await this.probe.parked()),
    );
    this.runs.end('render');
  }

  @Task(Ping)
  ping({ n }: { n: number }, ctx: TaskContext): number {
    this.runs.start('ping', ctx);
    this.runs.end('ping');
    return n;
  }

  @Task(Import)
  async import({ tenant }: { tenant: string }, ctx: TaskContext): Promise<void> {
    const key = `import:${tenant}`;
    this.runs.start(key, ctx);
    // A quiet run waits for a hot one to be in progress too: the two tenants side by side.
    if (tenant === 'quiet')
      await this.runs.gate('tenants', () => this.runs.overlapped([key, 'import:hot']));
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.runs.end(key);
    if (tenant === 'quiet' && this.runs.ends(key) === 10) {
      // The moment the quiet tenant is done: how far along is the hot tenant's backlog?
      this.hotDoneWhenQuietFinished = this.runs.ends('import:hot');
      this.countsWhenQuietFinished = await this.probe.queue!.getJobCounts(
        'wait',
        'delayed',
        'active',
        'completed',
      );
    }
  }
}

describe('locks, concurrency and rate limits across workers', () => {
  let apps: TestApp[] = [];
  let runs: Runs;
  let probe: QueueProbe;

  /** Two worker apps on one prefix: limits must hold across them, not just within one. */
  async function twoWorkers(concurrency = 10) {
    runs = new Runs();
    probe = new QueueProbe();
    const prefix = uniquePrefix();
    probe.queue = rawQueue(prefix, 'default');
    const providers = [
      { provide: Runs, useValue: runs },
      { provide: QueueProbe, useValue: probe },
      LimitedTasks,
    ];
    apps = [
      await startTasksApp(providers, { prefix, queues: { default: { concurrency } } }),
      await startTasksApp(providers, { prefix, queues: { default: { concurrency } } }),
    ];
    return apps[0].get(TaskProducer);
  }
  function expectParked(count: number): void {
    probe.expectParked = count;
  }
  afterEach(async () => {
    await stopAll(...apps);
    if (probe?.queue) await closeRawQueue(probe.queue);
    apps = [];
  });

  it('runs a singleton task one at a time; the others wait parked without spending attempts', async () => {
    const producer = await twoWorkers();
    expectParked(7);
    const handles = await producer.enqueueMany(
      Migrate,
      Array.from({ length: 8 }, (_, step) => ({ step })),
    );
    await Promise.all(handles.map((h) => h.result({ timeout: '30s' })));
    expect(runs.ends('migrate')).toBe(8);
    expect(runs.met).toContain('migrate');
    expect(runs.peak('migrate')).toBe(1);
    expect(runs.attempts).toEqual(Array(8).fill(1));
  });

  it('holds a keyed lock per key while different keys run side by side', async () => {
    const producer = await twoWorkers();
    expectParked(9);
    const payloads = ['a', 'b', 'c'].flatMap((account) =>
      [1, 2, 3, 4].map((n) => ({ account, n })),
    );
    const handles = await producer.enqueueMany(Sync, payloads);
    await Promise.all(handles.map((h) => h.result({ timeout: '30s' })));
    expect(['a', 'b', 'c'].map((k) => runs.ends(`sync:${k}`))).toEqual([4, 4, 4]);
    // Runs of a, b and c were in progress at one moment; two runs of one key never were.
    expect(runs.met).toContain('sync');
    expect(runs.overlapped(['sync:a', 'sync:b', 'sync:c'])).toBe(true);
    expect(['a', 'b', 'c'].map((k) => runs.peak(`sync:${k}`))).toEqual([1, 1, 1]);
  });

  it('caps a task at maxConcurrent runs across two worker processes, and reaches the cap', async () => {
    const producer = await twoWorkers();
    expectParked(17);
    const handles = await producer.enqueueMany(
      Render,
      Array.from({ length: 20 }, (_, n) => ({ n })),
    );
    await Promise.all(handles.map((h) => h.result({ timeout: '30s' })));
    expect(runs.ends('render')).toBe(20);
    expect(runs.met).toContain('render');
    expect(runs.peak('render')).toBe(3);
  });

  it('admits at most 10 runs in any 1 s window of Redis time across two worker apps, failing none', async () => {
    const producer = await twoWorkers();
    const handles = await producer.enqueueMany(
      Ping,
      Array.from({ length: 25 }, (_, n) => ({ n })),
    );
    const results = await Promise.all(handles.map((h) => h.result({ timeout: '30s' })));
    expect(results).toEqual(Array.from({ length: 25 }, (_, n) => n));
    expect(runs.attempts).toEqual(Array(25).fill(1));
    // Admission times on Redis's clock (ms). A window (t - 1 s, t] holding 11 admissions
    // would put the 11th less than 1 s after the 1st of them.
    const admitted = runs.admissions.map((a) => a.at).sort((a, b) => a - b);
    expect(admitted).toHaveLength(25);
    const gaps = admitted.slice(10).map((at, i) => at - admitted[i]);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_000);
  });

  it("finishes a quiet tenant's 10 jobs while most of a hot tenant's earlier 1,000 still wait", async () => {
    const producer = await twoWorkers(8);
    const hot = await producer.enqueueMany(
      Import,
      Array.from({ length: 1000 }, (_, n) => ({ tenant: 'hot', n })),
    );
    const quiet = await producer.enqueueMany(
      Import,
      Array.from({ length: 10 }, (_, n) => ({ tenant: 'quiet', n })),
    );
    await Promise.all(quiet.map((h) => h.result({ timeout: '60s' })));
    await Promise.all(hot.map((h) => h.result({ timeout: '120s' })));
    await eventually(() => runs.events.length === 2020, 5_000, 'every run to end');

    const tasks = apps.map((app) => app.get(LimitedTasks)).find((t) => t.countsWhenQuietFinished)!;
    // Enqueued behind all 1,000 hot jobs, the quiet ones were done before a fifth of them,
    // with most of the rest still parked or waiting. First in, first out would have run every
    // hot job first. (Measured: 70–100 hot jobs done, the time the workers take to park the
    // hot backlog once and reach the quiet jobs behind it.)
    expect(tasks.hotDoneWhenQuietFinished).toBeLessThan(200);
    const counts = tasks.countsWhenQuietFinished!;
    expect(counts.completed).toBeLessThan(210);
    expect(counts.wait + counts.delayed).toBeGreaterThan(750);
    // The tenants ran side by side, each within its two slots.
    expect(runs.overlapped(['import:hot', 'import:quiet'])).toBe(true);
    expect(runs.peak('import:hot')).toBeLessThanOrEqual(2);
    expect(runs.peak('import:quiet')).toBeLessThanOrEqual(2);
  }, 180_000);
});
