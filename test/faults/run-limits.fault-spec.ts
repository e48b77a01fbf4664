import { TaskProducer } from '@conveyor/tasks';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Child, startChild } from '../support/child-process';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';
import { startTasksApp, type TestApp } from '../support/tasks-app';
import {
  type LedgerEvent,
  ledgerWriter,
  LIMITED_TASKS,
  type LimitItem,
  LIMITS_QUEUE,
  Pool,
  Rate,
  readLedger,
  type RecordedEvent,
  Singleton,
} from '../support/children/limits-tasks';
import { items, report, sleep, until } from './ledger';
import {
  checkAdmittedAt,
  checkRates,
  checkSlots,
  describeViolation,
  gapsAfterCuts,
  peakConcurrency,
  runsOf,
  tightestRateWindow,
} from './limits-checker';

/**
 * Short BullMQ locks and leases, so a killed worker's jobs come back, and its slots free up,
 * within about two seconds. Stalls are not failures here: a job may be hit by several kills.
 */
const QUEUE = { concurrency: 10, lockDuration: 1_500, stalledInterval: 500, maxStalledCount: 50 };
const LEASE = '2s';
const LONG_RUN_MS = 2_500;
/** Each worker slot's clock skew (ms): admission must hold whatever the workers' clocks say. */
const SKEWS = [60_000, -60_000, 0];

describe('fault 8: run limits checked while workers are SIGKILLed', () => {
  let redis: PrivateRedis;
  let client: Redis | undefined;
  let api: TestApp | undefined;
  let queue: Queue | undefined;
  const workers: Child[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start();
  });
  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.kill()));
    await queue?.close();
    await api?.close();
    client?.disconnect();
    await redis.destroy();
  });

  it('never overlaps exclusive runs, exceeds maxConcurrent or crowds a rate window, and loses no job', async () => {
    const prefix = uniquePrefix();
    // The ledger lives on the queue's Redis: one clock (TIME) and one order for admissions,
    // leases and the ledger's events.
    client = redis.client();
    const mark = ledgerWriter(client, prefix);
    api = await startTasksApp([], {
      connection: redis.url,
      prefix,
      workers: 'none',
      queues: { [LIMITS_QUEUE]: QUEUE },
    });
    queue = new Queue(LIMITS_QUEUE, {
      connection: { host: '127.0.0.1', port: redis.port },
      prefix: `{${prefix}}`,
    });

    const ready = new Set<Child>();
    const startWorker = async (slot: number): Promise<void> => {
      const child = startChild('limits-worker.ts', {
        REDIS_URL: redis.url,
        CONVEYOR_PREFIX: prefix,
        QUEUE_OPTIONS: JSON.stringify(QUEUE),
        LEASE_DURATION: LEASE,
        CLOCK_SKEW_MS: String(SKEWS[slot]),
      });
      workers[slot] = child;
      await child.waitFor(/READY/, 60_000);
      ready.add(child);
    };
    await Promise.all(SKEWS.map((_, slot) => startWorker(slot)));

    // Jobs of every task, shuffled so that every limit is contended at once.
    const scale = items(1, 4);
    const jobs: Array<{ task: (typeof LIMITED_TASKS)[number]; item: LimitItem }> = [];
    for (const task of LIMITED_TASKS) {
      for (let i = 0; i < task.jobs * scale; i++) {
        const [min, max] = task.ms;
        // One job in 25 outlives the lease: only its renewals keep its slot.
        const ms = i % 25 === 0 ? LONG_RUN_MS : min + rand(max - min);
        jobs.push({ task, item: { n: jobs.length, key: task.keys[i % task.keys.length], ms } });
      }
    }
    shuffle(jobs);
    const total = jobs.length;
    const producer = api.get(TaskProducer);
    for (let i = 0; i < total; i += 50) {
      await Promise.all(
        jobs.slice(i, i + 50).map(({ task, item }) => producer.enqueue(task.task, item)),
      );
    }

    const completed = async () => (await queue!.getCompletedCount()) >= total;
    let kills = 0;
    const boots: Promise<void>[] = [];
    // Only bounds a hang: the loop ends when every job has completed.
    const deadline = Date.now() + 120_000 * scale;
    while (!(await completed()) && Date.now() < deadline) {
      await sleep(1_000 + rand(1_000));
      if (await completed()) break;
      // A worker that has not booted yet holds nothing; one worker always keeps running.
      const victims = workers.filter((worker) => ready.has(worker));
      if (victims.length < 2) continue;
      const victim = victims[rand(victims.length)];
      const pid = victim.process.pid!;
      ready.delete(victim);
      await mark({ e: 'kill', pid });
      await victim.kill('SIGKILL');
      // Redis's time right after the exit: the latest a cut run's handler can have stopped.
      await mark({ e: 'exit', pid });
      kills += 1;
      // The replacement boots while the kills go on.
      const boot = startWorker(workers.indexOf(victim));
      boot.catch(() => undefined);
      boots.push(boot);
    }
    await Promise.all(boots);
    await until(completed, 40_000, 'every job to complete');
    // A graceful stop: any handler still running (a duplicate run) gets to record its end.
    for (const worker of workers) {
      await worker.kill('SIGTERM');
      await mark({ e: 'exit', pid: worker.process.pid! });
    }

    const { runs, killed } = runsOf(await readLedger(client, prefix));
    const violations = [
      ...checkSlots(runs, LIMITED_TASKS),
      ...checkRates(runs, LIMITED_TASKS),
      ...checkAdmittedAt(runs),
    ];
    const count = (kind: string) => violations.filter((v) => v.kind === kind).length;
    const ran = new Set(runs.filter((run) => run.end && !run.cut).map((run) => run.n));
    const lost = jobs.map(({ item }) => item.n).filter((n) => !ran.has(n));
    // A job runs twice only when a kill took its first run, or that run's acknowledgement.
    const survivorRuns = new Map<number, number>();
    for (const run of runs) {
      if (!killed.has(run.pid)) survivorRuns.set(run.n, (survivorRuns.get(run.n) ?? 0) + 1);
    }
    const unexplainedDuplicates = [...survivorRuns.values()].filter((r) => r > 1).length;
    const failed = await queue.getFailedCount();
    const skewedRuns = runs.filter((run) => Math.abs(run.local - run.start.us / 1000) > 30_000);
    const gaps = gapsAfterCuts(runs, LIMITED_TASKS);
    const capped = LIMITED_TASKS.filter((task) => (task.cap ?? 1) > 1);

    report({
      scenario: 'run limits under worker kills',
      items: total,
      faults: kills,
      ran: ran.size,
      lost: lost.length,
      runs: runs.length,
      duplicatesAbsorbed: runs.length - new Set(runs.map((run) => run.n)).size,
      cutByKills: runs.filter((run) => run.cut).length,
      cutInExclusiveScopes: gaps.length,
      // How long after a cut run's worker exited the next run of its exclusive scope started:
      // the lease kept the slot (not asserted: a figure, not a timed check).
      minGapAfterCutMs: gaps.length ? Math.round(Math.min(...gaps)) : '-',
      overlaps: count('overlap'),
      overCap: count('over-cap'),
      rateWindowsOver: count('rate'),
      admittedAfterStart: count('admitted-after-start'),
      unfinished: count('unfinished'),
      leasesLost: runs.filter((run) => run.lost === 'TaskLockLostError').length,
      unexplainedDuplicates,
      skewedRuns: skewedRuns.length,
      peaks: capped
        .map((task) => `${task.task.name} ${peakConcurrency(runs, task)}/${task.cap}`)
        .join(', '),
      tightestRateWindowMs: tightestRateWindow(
        runs,
        LIMITED_TASKS.find((t) => t.rate)!,
      ),
      failed,
    });
    // The first few are enough to read; a broken limit makes hundreds.
    expect({
      violations: violations.length,
      first: violations.slice(0, 5).map(describeViolation),
    }).toEqual({ violations: 0, first: [] });
    expect(lost).toEqual([]);
    expect(unexplainedDuplicates).toBe(0);
    expect(failed).toBe(0);
    expect(kills).toBeGreaterThan(0);
    // The skewed workers took part: their runs were admitted on Redis's clock all the same.
    expect(skewedRuns.length).toBeGreaterThan(0);
  });
});

describe('the run-limits checker', () => {
  let seq = 0;
  const at = (event: LedgerEvent, ms: number): RecordedEvent => ({
    ...event,
    seq: ++seq,
    us: ms * 1000,
  });
  const start = (run: string, task: string, ms: number, pid = 1): RecordedEvent =>
    at({ e: 'start', run, n: Number(run), task, scope: '', pid, admittedAt: ms, local: ms }, ms);
  const end = (run: string, ms: number) => at({ e: 'end', run }, ms);

  it('finds overlapping runs of an exclusive scope, including one that starts before a kill', () => {
    const { runs } = runsOf([
      start('1', Singleton.name, 0),
      start('2', Singleton.name, 10),
      end('1', 20),
      end('2', 30),
      start('3', Singleton.name, 40, 7),
      start('4', Singleton.name, 50),
      at({ e: 'kill', pid: 7 }, 60),
      at({ e: 'exit', pid: 7 }, 61),
      end('4', 70),
      start('5', Singleton.name, 80),
      end('5', 90),
    ]);
    const found = checkSlots(runs, LIMITED_TASKS).map(
      (v) => `${v.kind} ${v.runs.map((r) => r.run)}`,
    );
    expect(found).toEqual(['overlap 1,2', 'overlap 3,4']);
  });

  it('finds a third run of a maxConcurrent 2 scope and a sixth start within a rate window', () => {
    const { runs } = runsOf([
      start('1', Pool.name, 0),
      start('2', Pool.name, 1),
      end('1', 2),
      start('3', Pool.name, 3),
      start('4', Pool.name, 4),
      end('2', 5),
      end('3', 6),
      end('4', 7),
      // Admissions exactly a window apart are fine (the window is (t - 1000, t]); 999 ms not.
      ...[0, 100, 200, 300, 400, 1_000, 1_099].map((ms, i) => start(`${10 + i}`, Rate.name, ms)),
    ]);
    const found = checkSlots(runs, LIMITED_TASKS).map(
      (v) => `${v.kind} ${v.runs.map((r) => r.run)}`,
    );
    expect(found).toEqual(['over-cap 2,3,4']);
    expect(checkRates(runs, LIMITED_TASKS).map((v) => `${v.runs.map((r) => r.run)}`)).toEqual([
      '11,12,13,14,15,16',
    ]);
  });

  it('finds a run that never ended in a worker that was not killed', () => {
    const { runs } = runsOf([start('1', Singleton.name, 0), at({ e: 'exit', pid: 1 }, 10)]);
    expect(checkSlots(runs, LIMITED_TASKS).map((v) => v.kind)).toEqual(['unfinished']);
  });

  it('finds an admission stamped later than the start it allowed (a worker clock, not Redis)', () => {
    const { runs } = runsOf([
      at(
        {
          e: 'start',
          run: '1',
          n: 1,
          task: Rate.name,
          scope: '',
          pid: 1,
          admittedAt: 60_010,
          local: 60_010,
        },
        10,
      ),
    ]);
    expect(checkAdmittedAt(runs).map((v) => v.kind)).toEqual(['admitted-after-start']);
  });
});

function rand(below: number): number {
  return Math.floor(Math.random() * below);
}

function shuffle<T>(list: T[]): void {
  for (let i = list.length - 1; i > 0; i--) {
    const j = rand(i + 1);
    [list[i], list[j]] = [list[j], list[i]];
  }
}
