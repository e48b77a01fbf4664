import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConveyorQueues, defineTask, QueueInspector, Task, TasksModule } from '@conveyor/tasks';
import { DashboardModule, DashboardService } from '@conveyor/dashboard';
import { RESOLVED_TASKS_OPTIONS, type ResolvedModuleOptions } from '@conveyor/tasks/internal';
import { Redis } from 'ioredis';
import type { Queue } from 'bullmq';
import type { ScenarioResult } from './queue-scenarios';
import type { Settings } from './settings';
import { collectGarbage, deletePrefix, median, REDIS_URL, summarize, uniquePrefix } from './util';

const TOKEN = 'bench-dashboard-token';
/** Requests a round; a round's figure is their median. */
const REQUESTS = 40;

/**
 * What the dashboard costs to look at a big app: `GET <path>/api/overview` over HTTP with
 * `queues` queues holding `jobs` jobs in all (a tenth of them delayed) and a full hour of run
 * history each (what busy workers leave: a figure every minute), and one payload-field
 * search that reads its full budget (1,000 jobs) and finds nothing. Baselines, in the same
 * process and run: BullMQ's `getJobCounts` for every queue at once (what a per-queue
 * dashboard does on each refresh), and `getJobs` of the same 1,000 jobs.
 */
export async function dashboardScenarios(settings: Settings): Promise<ScenarioResult[]> {
  const { queues: queueCount, jobs } = settings.dashboard;
  const names = Array.from({ length: queueCount }, (_, i) => `dash-${String(i).padStart(3, '0')}`);
  const prefix = uniquePrefix();
  const app = await boot(prefix, names);
  try {
    const url = `${(await app.getUrl()).replace('[::1]', '127.0.0.1')}/conveyor/api`;
    const conveyorQueues = app.get(ConveyorQueues);
    const queues = names.map((name) => conveyorQueues.queue(name));
    const filled = performance.now();
    await fill(queues, jobs);
    await fillHistory(app, names);
    process.stderr.write(
      `  dashboard: ${jobs.toLocaleString('en')} jobs in ${queueCount} queues written in ${Math.round(performance.now() - filled)} ms\n`,
    );
    const get = async (path: string) => {
      const response = await fetch(`${url}/${path}`, {
        headers: { authorization: `Bearer ${TOKEN}` },
      });
      if (!response.ok) throw new Error(`GET ${path}: ${response.status}`);
      return response.json() as Promise<unknown>;
    };
    const inspector = app.get(QueueInspector);
    const service = app.get(DashboardService);
    const states = [
      'wait',
      'prioritized',
      'active',
      'delayed',
      'completed',
      'failed',
      'waiting-children',
    ] as const;
    const overview: Record<string, number[]> = {
      'dashboard GET overview (HTTP)': [],
      'DashboardService.overview (in process)': [],
      'QueueInspector.snapshot (in process)': [],
      'raw getJobCounts × queues': [],
    };
    const search: Record<string, number[]> = {
      'dashboard GET jobs by field (HTTP)': [],
      'raw getJobs 1,000': [],
    };
    const contenders: Array<[Record<string, number[]>, string, () => Promise<unknown>]> = [
      [overview, 'dashboard GET overview (HTTP)', () => get('overview')],
      [overview, 'DashboardService.overview (in process)', () => service.overview()],
      [overview, 'QueueInspector.snapshot (in process)', () => inspector.snapshot(names)],
      [
        overview,
        'raw getJobCounts × queues',
        () => Promise.all(queues.map((q) => q.getJobCounts(...states))),
      ],
      [
        search,
        'dashboard GET jobs by field (HTTP)',
        () => get(`jobs?queue=${names[0]}&state=waiting&field=orderId&value=-1`),
      ],
      [search, 'raw getJobs 1,000', () => queues[0].getJobs(['wait'], 0, 999)],
    ];
    for (let round = 0; round < settings.rounds; round++) {
      // Rotated each round, so no contender always runs first.
      for (let i = 0; i < contenders.length; i++) {
        const [into, name, call] = contenders[(i + round) % contenders.length];
        collectGarbage();
        for (let w = 0; w < 5; w++) await call();
        const times: number[] = [];
        for (let r = 0; r < REQUESTS; r++) {
          const started = performance.now();
          await call();
          times.push(performance.now() - started);
        }
        into[name].push(median(times));
      }
    }
    const label = `${queueCount} queues, ${jobs.toLocaleString('en')} jobs`;
    const result = (
      scenario: string,
      baseline: string,
      values: Record<string, number[]>,
    ): ScenarioResult => ({
      group: 'dashboard',
      scenario,
      unit: 'ms',
      higherIsBetter: false,
      baseline,
      contenders: Object.fromEntries(Object.entries(values).map(([n, v]) => [n, summarize(v)])),
    });
    return [
      result(`overview, ${label}`, 'raw getJobCounts × queues', overview),
      result(`payload search reading 1,000 jobs, ${label}`, 'raw getJobs 1,000', search),
    ];
  } finally {
    await app.close();
    await deletePrefix(prefix);
  }
}

const Filler = defineTask<{ orderId: number }>('bench.dashboard', { queue: 'dash-000' });

@Injectable()
class NoHandlers {
  // Declared so the app knows a task; workers are off, so nothing runs.
  @Task(Filler)
  run(): void {}
}

async function boot(prefix: string, names: string[]): Promise<INestApplication> {
  @Module({
    imports: [
      TasksModule.forRoot({
        connection: REDIS_URL,
        prefix,
        queues: Object.fromEntries(names.map((name) => [name, {}])),
        workers: 'none',
      }),
      DashboardModule.forRoot({ token: TOKEN }),
    ],
    providers: [NoHandlers],
  })
  class BenchDashboardApp {}
  const app = await NestFactory.create(BenchDashboardApp, { logger: false });
  await app.listen(0, '127.0.0.1');
  return app;
}

/** Writes `jobs` small jobs spread over the queues, a tenth delayed, in bulk. */
async function fill(queues: Queue[], jobs: number): Promise<void> {
  const perQueue = Math.ceil(jobs / queues.length);
  const BATCH = 1_000;
  let orderId = 0;
  for (const queue of queues) {
    for (let start = 0; start < perQueue; start += BATCH) {
      const size = Math.min(BATCH, perQueue - start);
      await queue.addBulk(
        Array.from({ length: size }, (_, i) => ({
          name: Filler.name,
          data: { orderId: orderId++ },
          opts: (start + i) % 10 === 0 ? { delay: 3_600_000 } : {},
        })),
      );
    }
  }
}

/**
 * An hour of run history for every queue, as busy workers leave it (`TaskStats`' layout: four
 * figures a minute), so the overview reads what it reads in production, not empty hashes.
 */
async function fillHistory(app: INestApplication, names: string[]): Promise<void> {
  const options = app.get<ResolvedModuleOptions>(RESOLVED_TASKS_OPTIONS);
  const redis = new Redis(REDIS_URL);
  const [seconds] = await redis.time();
  const now = Math.floor(Number(seconds) / 60);
  const pipeline = redis.pipeline();
  for (const name of names) {
    const fields: Record<string, number> = {};
    for (let m = now - 59; m <= now; m++) {
      Object.assign(fields, { [`${m}:c`]: 600, [`${m}:f`]: 3, [`${m}:d`]: 1, [`${m}:ms`]: 24_000 });
    }
    pipeline.hset(`${options.keys.queueKey(name)}cv:stats`, fields);
  }
  await pipeline.exec();
  await redis.quit();
}
