import { Injectable } from '@nestjs/common';
import { CircuitBreakers, Task, TaskProducer } from '@conveyor/tasks';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { type Child, startChild } from '../support/child-process';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';
import { startTasksApp, type TestApp } from '../support/tasks-app';
import { BREAKER_QUEUE, BreakerCall, breakerQueueOptions } from '../support/children/breaker-tasks';
import {
  ledgerWriter,
  type LimitedTask,
  type LimitItem,
  readLedger,
} from '../support/children/limits-tasks';
import { report, sleep, until } from './ledger';
import { checkSlots, describeViolation, runsOf } from './limits-checker';

const WORKERS = 3;
const JOBS = 40;
/** How long the dependency stays down while workers are killed. */
const OUTAGE_MS = 8_000;

const rand = (n: number) => Math.floor(Math.random() * n);

/** The API process knows the task (so the breaker), and runs none of it. */
@Injectable()
class NoRuns {
  @Task(BreakerCall)
  call(): number {
    throw new Error('the API process runs no job');
  }
}

describe('fault 11: a circuit breaker lets one probe through at a time while workers are SIGKILLed', () => {
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

  it('never runs two calls at once while the breaker is not closed, and loses no job', async () => {
    const prefix = uniquePrefix();
    client = redis.client();
    const mark = ledgerWriter(client, prefix);
    api = await startTasksApp([NoRuns], {
      connection: redis.url,
      prefix,
      workers: 'none',
      queues: { [BREAKER_QUEUE]: breakerQueueOptions },
    });
    queue = new Queue(BREAKER_QUEUE, {
      connection: { host: '127.0.0.1', port: redis.port },
      prefix: `{${prefix}}`,
    });
    // The dependency is down before any job comes: every run from here is a probe.
    const breakers = api.get(CircuitBreakers);
    await breakers.open('dependency', { for: '100ms' });

    const ready = new Set<Child>();
    const startWorker = async (slot: number): Promise<void> => {
      const child = startChild('breaker-worker.ts', {
        REDIS_URL: redis.url,
        CONVEYOR_PREFIX: prefix,
      });
      workers[slot] = child;
      await child.waitFor(/READY/, 60_000);
      ready.add(child);
    };
    await Promise.all(Array.from({ length: WORKERS }, (_, slot) => startWorker(slot)));

    const producer = api.get(TaskProducer);
    const items: LimitItem[] = Array.from({ length: JOBS }, (_, n) => ({
      n,
      key: '',
      ms: 20 + rand(180),
    }));
    await producer.enqueueMany(BreakerCall, items);

    // Kills while the dependency is down: a probe's worker may die mid-call.
    let kills = 0;
    const boots: Promise<void>[] = [];
    const outageEnds = Date.now() + OUTAGE_MS;
    while (Date.now() < outageEnds) {
      await sleep(700 + rand(800));
      const victims = workers.filter((worker) => ready.has(worker));
      if (victims.length < 2) continue;
      const victim = victims[rand(victims.length)];
      const pid = victim.process.pid!;
      ready.delete(victim);
      await mark({ e: 'kill', pid });
      await victim.kill('SIGKILL');
      await mark({ e: 'exit', pid });
      kills += 1;
      const boot = startWorker(workers.indexOf(victim));
      boot.catch(() => undefined);
      boots.push(boot);
    }
    await Promise.all(boots);
    const duringOutage = (await breakers.state('dependency')).opens;

    // The dependency is back: the next probe closes the breaker, and every job runs.
    await client.set(`${prefix}:dependency-up`, '1');
    await until(
      async () => (await queue!.getCompletedCount()) >= JOBS,
      60_000,
      'every job to complete once the dependency is back',
    );
    for (const worker of workers) {
      await worker.kill('SIGTERM');
      await mark({ e: 'exit', pid: worker.process.pid! });
    }

    const events = await readLedger(client, prefix);
    const { runs } = runsOf(events);
    // The first successful call is the probe that closed the breaker: the check covers every
    // run that started before it ended (after that, calls run side by side, as they should).
    const closing = events.find((e) => e.e === 'end' && 'ok' in e && e.ok);
    expect(closing).toBeDefined();
    const whileNotClosed = runs.filter((run) => run.start.seq < closing!.seq);
    const violations = checkSlots(whileNotClosed, [
      {
        task: BreakerCall as unknown as LimitedTask['task'],
        keys: [''],
        cap: 1,
        jobs: JOBS,
        ms: [20, 200],
      },
    ]);
    const completed = await queue.getCompletedCount();
    const parallelAfterClose = Math.max(
      ...runs
        .filter((run) => run.start.seq > closing!.seq)
        .map(
          (run) =>
            runs.filter((r) => r.start.seq <= run.start.seq && (r.end?.seq ?? 0) > run.start.seq)
              .length,
        ),
      0,
    );
    report({
      scenario: 'circuit breaker probes under worker kills',
      items: JOBS,
      faults: kills,
      ran: completed,
      lost: JOBS - completed,
      runs: runs.length,
      duplicatesAbsorbed: 0,
      probesWhileDown: whileNotClosed.length,
      opensWhileDown: duringOutage,
      cutByKills: runs.filter((run) => run.cut).length,
      overlapsWhileNotClosed: violations.length,
      peakAfterClose: parallelAfterClose,
    });
    expect({
      violations: violations.length,
      first: violations.slice(0, 5).map(describeViolation),
    }).toEqual({ violations: 0, first: [] });
    expect(completed).toBe(JOBS);
    expect(kills).toBeGreaterThan(0);
    // Probes did run while it was down (the check is not vacuous), and calls ran side by
    // side once it closed (the workers were able to; only the breaker held them to one).
    expect(whileNotClosed.length).toBeGreaterThan(3);
    expect(parallelAfterClose).toBeGreaterThan(1);
  });
});
