import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { defineTask, Task, TaskControl, TasksModule } from '@conveyor/tasks';
import { RunControls, TasksRegistry } from '@conveyor/tasks/internal';
import { Redis } from 'ioredis';
import type { ScenarioResult } from './queue-scenarios';
import type { Settings } from './settings';
import { deletePrefix, median, REDIS_URL, summarize, uniquePrefix } from './util';

const Work = defineTask<{ n: number }>('bench.control', { queue: 'control' });

@Injectable()
class Handlers {
  @Task(Work)
  run(): void {}
}

/** Changes per round; a round's figure is their median. */
const CHANGES = 20;

/**
 * How soon a run-time change (`TaskControl.setTaskLimits`, `pauseTask`) is applied by every
 * worker: from the call in an API app to the moment two worker apps both run by it. The
 * baseline is the floor of the mechanism, measured in the same run: a PUBLISH heard by two
 * subscribers, each then reading one hash (what a worker does on an announcement).
 */
export async function controlScenarios(settings: Settings): Promise<ScenarioResult[]> {
  const limits: Record<string, number[]> = { conveyor: [], 'raw pub/sub + HGETALL': [] };
  const pauses: Record<string, number[]> = { conveyor: [], 'raw pub/sub + HGETALL': [] };
  for (let round = 0; round < settings.rounds; round++) {
    const prefix = uniquePrefix();
    const apps = await Promise.all([
      boot(prefix, 'none'),
      boot(prefix, 'all'),
      boot(prefix, 'all'),
    ]);
    try {
      const [api, ...workers] = apps;
      const control = api.get(TaskControl);
      const applied = (check: (controls: RunControls, registry: TasksRegistry) => boolean) =>
        until(() => workers.every((w) => check(w.get(RunControls), w.get(TasksRegistry))));
      const limitMs: number[] = [];
      const pauseMs: number[] = [];
      for (let i = 0; i < CHANGES; i++) {
        const max = 2 + (i % 5);
        let started = performance.now();
        await control.setTaskLimits(Work, { maxConcurrent: max });
        await applied((c, r) => c.optionsOf(r.get(Work.name)!).maxConcurrent === max);
        limitMs.push(performance.now() - started);

        started = performance.now();
        await control.pauseTask(Work);
        await applied((c) => c.isPaused(Work.name));
        pauseMs.push(performance.now() - started);
        await control.resumeTask(Work);
        await applied((c) => !c.isPaused(Work.name));
      }
      limits.conveyor.push(median(limitMs));
      pauses.conveyor.push(median(pauseMs));
      const floor = await pubSubFloor(prefix);
      limits['raw pub/sub + HGETALL'].push(floor);
      pauses['raw pub/sub + HGETALL'].push(floor);
    } finally {
      await Promise.all(apps.map((app) => app.close()));
      await deletePrefix(prefix);
    }
  }
  const result = (scenario: string, values: Record<string, number[]>): ScenarioResult => ({
    group: 'control',
    scenario,
    unit: 'ms',
    higherIsBetter: false,
    baseline: 'raw pub/sub + HGETALL',
    contenders: Object.fromEntries(Object.entries(values).map(([name, v]) => [name, summarize(v)])),
  });
  return [
    result('setTaskLimits → applied by 2 workers', limits),
    result('pauseTask → applied by 2 workers', pauses),
  ];
}

async function boot(prefix: string, workers: 'all' | 'none'): Promise<INestApplicationContext> {
  @Module({
    imports: [
      TasksModule.forRoot({ connection: REDIS_URL, prefix, workers, queues: { control: {} } }),
    ],
    providers: [Handlers],
  })
  class ControlBench {}
  const app = await NestFactory.createApplicationContext(ControlBench, { logger: ['error'] });
  await app.init();
  return app;
}

/** Resolves once `done()` holds, looking at every turn of the event loop. */
function until(done: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + 10_000;
    const look = () => {
      if (done()) return resolve();
      if (performance.now() > deadline) return reject(new Error('a change was never applied'));
      setImmediate(look);
    };
    look();
  });
}

/** The median over CHANGES of: PUBLISH, then two subscribers each read one hash. */
async function pubSubFloor(prefix: string): Promise<number> {
  const channel = `{${prefix}}:floor`;
  const key = `{${prefix}}:floor-hash`;
  const publisher = new Redis(REDIS_URL);
  const readers = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
  const subscribers = [new Redis(REDIS_URL), new Redis(REDIS_URL)];
  try {
    await publisher.hset(key, 'version', '0');
    let pending = 0;
    let finish: () => void = () => undefined;
    subscribers.forEach((sub, i) =>
      sub.on('message', () => {
        void readers[i].hgetall(key).then(() => {
          if (--pending === 0) finish();
        });
      }),
    );
    await Promise.all(subscribers.map((sub) => sub.subscribe(channel)));
    const times: number[] = [];
    for (let i = 0; i < CHANGES; i++) {
      const started = performance.now();
      pending = subscribers.length;
      const heard = new Promise<void>((resolve) => (finish = resolve));
      await publisher.multi().hset(key, 'x', String(i)).hincrby(key, 'version', 1).exec();
      await publisher.publish(channel, 'x');
      await heard;
      times.push(performance.now() - started);
    }
    return median(times);
  } finally {
    for (const client of [publisher, ...readers, ...subscribers]) client.disconnect();
  }
}
