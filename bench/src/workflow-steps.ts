import 'reflect-metadata';
import { Injectable, Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Redis } from 'ioredis';
import {
  defineTask,
  defineWorkflow,
  Task,
  TaskProducer,
  TasksModule,
  Workflows,
} from '@conveyor/tasks';
import { median, sleep } from './util';
import { commands, PrivateServer } from './private-server';

/**
 * The cost of one durable workflow step over a plain task: N no-op tasks run one after the
 * other, awaited by a producer (`enqueue` + `handle.result()`), against N sequential
 * `ctx.step()`s of the same task, in workflows of 10 steps and in one workflow of N steps
 * (whose every run replays all steps before it); per item, wall time and Redis commands (INFO
 * stats of a private redis-server: exact, whatever the machine's load). One process, worker
 * concurrency 1, 3 rounds alternated; medians.
 *
 *   npm run bench:workflows            # N = 300
 *   N=1000 ROUNDS=5 npm run bench:workflows
 */

const Noop = defineTask<{ n: number }, number>('bench.noop');

@Injectable()
class NoopTasks {
  @Task(Noop)
  noop({ n }: { n: number }): number {
    return n;
  }
}

const Steps = defineWorkflow<{ count: number }, number>('bench.steps', async (ctx, { count }) => {
  let sum = 0;
  for (let n = 0; n < count; n++) sum += await ctx.step(Noop, { n });
  return sum;
});

interface Figures {
  msPerItem: number;
  commandsPerItem: number;
}

/** Commands a run spent only on waiting for its end (the bench's own polls): not the items'. */
let pollCommands = 0;

async function measure(admin: Redis, count: number, run: () => Promise<void>): Promise<Figures> {
  pollCommands = 0;
  const before = await commands(admin);
  const started = performance.now();
  await run();
  const ms = performance.now() - started;
  // The two INFO calls are commands too; they are not the items'.
  const used = (await commands(admin)) - before - 1 - pollCommands;
  return { msPerItem: ms / count, commandsPerItem: used / count };
}

/**
 * Waits for a workflow to complete with one HGET a millisecond on the admin connection:
 * `Workflows.result()` backs off from 50 ms, which would measure its polling, not the steps.
 */
async function completed(admin: Redis, id: string): Promise<void> {
  const key = `{bench-wf}:conveyor.durable:wf:${id}`;
  for (;;) {
    pollCommands++;
    const status = await admin.hget(key, 'status');
    if (status === 'completed') return;
    if (status !== 'running') throw new Error(`workflow ${id} ended ${status}`);
    await sleep(1);
  }
}

async function main(): Promise<void> {
  const count = Number(process.env.N ?? 300);
  const rounds = Number(process.env.ROUNDS ?? 3);
  const server = await PrivateServer.start();
  const admin = new Redis(server.url);
  @Module({
    imports: [
      TasksModule.forRoot({ connection: server.url, prefix: 'bench-wf', workflows: [Steps] }),
    ],
    providers: [NoopTasks],
  })
  class BenchModule {}
  const app: INestApplicationContext = await NestFactory.createApplicationContext(BenchModule, {
    logger: ['error'],
  });
  try {
    const producer = app.get(TaskProducer);
    const workflows = app.get(Workflows);
    const tasks = async () => {
      for (let n = 0; n < count; n++) await (await producer.enqueue(Noop, { n })).result();
    };
    // Workflows of 10 steps, one after the other: the usual shape.
    const shortSteps = async () => {
      for (let done = 0; done < count; done += 10) {
        await completed(
          admin,
          (await workflows.start(Steps, { count: Math.min(10, count - done) })).id,
        );
      }
    };
    // One workflow of N steps: each run replays every step before it (read from the journal).
    const longSteps = async () => {
      await completed(admin, (await workflows.start(Steps, { count })).id);
    };
    // Warm-up: connections, scripts, JIT.
    await measure(admin, 50, async () => {
      for (let n = 0; n < 50; n++) await (await producer.enqueue(Noop, { n })).result();
      await (await workflows.start(Steps, { count: 50 })).result();
    });
    const contenders = [tasks, shortSteps, longSteps];
    const figures: Figures[][] = contenders.map(() => []);
    for (let round = 0; round < rounds; round++) {
      // Rotated each round, so none always runs first on a warming machine.
      for (let k = 0; k < contenders.length; k++) {
        const which = (round + k) % contenders.length;
        figures[which].push(await measure(admin, count, contenders[which]));
      }
    }
    const row = (name: string, figures: Figures[]) => ({
      name,
      ms: median(figures.map((f) => f.msPerItem)),
      cmds: median(figures.map((f) => f.commandsPerItem)),
    });
    const base = row('plain task, enqueue + result()', figures[0]);
    const rows = [
      base,
      row('step of a 10-step workflow', figures[1]),
      row(`step of one ${count}-step workflow`, figures[2]),
    ];
    const lines = [
      `N = ${count} sequential items, ${rounds} rounds, medians`,
      '| what                            | ms/item | ÷ task | Redis cmds/item | ÷ task |',
      '| ------------------------------- | ------: | -----: | --------------: | -----: |',
      ...rows.map(
        (r) =>
          `| ${r.name.padEnd(31)} | ${r.ms.toFixed(3).padStart(7)} | ${(r.ms / base.ms).toFixed(2).padStart(6)} | ` +
          `${r.cmds.toFixed(1).padStart(15)} | ${(r.cmds / base.cmds).toFixed(2).padStart(6)} |`,
      ),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await app.close();
    admin.disconnect();
    server.stop();
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
