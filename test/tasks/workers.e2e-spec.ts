import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  defineTask,
  InvalidModuleOptionsError,
  Task,
  TaskProducer,
  TasksModule,
  Workers,
} from '@conveyor/tasks';
import { Redis } from 'ioredis';
import { type Child, startChild } from '../support/child-process';
import { get } from '../support/http-app';
import { PrivateRedis } from '../support/private-redis';
import { deletePrefix, REDIS_URL, uniquePrefix } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';
import { WorkerProbe } from '@conveyor/tasks/internal';
import { Held } from '../support/children/registry-task';

const Local = defineTask<{ n: number }, number>('registry.local', { queue: 'local' });

@Injectable()
class LocalTasks {
  @Task(Local)
  run({ n }: { n: number }): number {
    return n;
  }
}

/** Runs `conveyor <args>` from the sources, as `npx conveyor` runs the built file. */
function conveyor(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const root = path.resolve(__dirname, '../..');
  const child = spawn(
    process.execPath,
    [
      '-r',
      path.join(root, 'test/support/children/register.js'),
      path.join(root, 'packages/tasks/src/cli/conveyor.ts'),
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('Workers: the worker registry across processes', () => {
  let apps: TestApp[] = [];
  let children: Child[] = [];
  // Prefixes only a child process wrote to: no app of this process removes them.
  const prefixes: string[] = [];
  afterEach(async () => {
    await Promise.all(children.map((child) => child.kill()));
    await stopAll(...apps);
    await Promise.all(prefixes.splice(0).map(deletePrefix));
    apps = [];
    children = [];
  });

  /** A worker-only child process consuming `registry`, once its workers run. */
  async function childWorker(prefix: string, env: Record<string, string> = {}) {
    const child = startChild('registry-worker.ts', { CONVEYOR_PREFIX: prefix, ...env });
    children.push(child);
    prefixes.push(prefix);
    const [, pid] = await child.waitFor(/READY (\d+)/, 30_000);
    return { child, pid: Number(pid) };
  }

  /** An app in this process that consumes `local` and beats fast (and lives long). */
  async function localWorker(prefix: string): Promise<TestApp> {
    const app = await startTasksApp([LocalTasks], {
      prefix,
      queues: { local: { concurrency: 2 }, registry: {} },
      workers: ['local'],
      heartbeat: { interval: '250ms', ttl: '30s' },
    });
    apps.push(app);
    return app;
  }

  it('lists and pings the worker processes of two processes, and the jobs they run', async () => {
    const prefix = uniquePrefix();
    const { child, pid: childPid } = await childWorker(prefix);
    const local = await localWorker(prefix);
    const workers = local.get(Workers);

    const listed = (await eventually(
      async () => {
        const live = await workers.list();
        return live.length === 2 ? live : undefined;
      },
      15_000,
      'both processes in the registry',
    ))!;
    const byPid = new Map(listed.map((worker) => [worker.pid, worker]));
    expect(byPid.get(childPid)).toMatchObject({
      host: hostname(),
      version: '0.1.0',
      stopping: false,
      queues: [{ name: 'registry', concurrency: 3, running: 0 }],
    });
    expect(byPid.get(process.pid)).toMatchObject({
      queues: [{ name: 'local', concurrency: 2, running: 0 }],
    });
    expect((await workers.list('registry')).map((w) => w.pid)).toEqual([childPid]);

    // Each ping waits its whole timeout; under load a process may answer late, so ask again.
    const answers = (await eventually(
      async () => {
        const replies = await workers.ping('1s');
        return replies.length === 2 ? replies : undefined;
      },
      15_000,
      'both processes to answer a ping',
    ))!;
    expect(answers.map((a) => a.pid).sort()).toEqual([childPid, process.pid].sort());
    expect(answers.find((a) => a.pid === childPid)).toMatchObject({ queues: ['registry'] });

    const handle = await local.get(TaskProducer).enqueue(Held, { n: 1 });
    await child.waitFor(new RegExp(`STARTED ${handle.id}`));
    const [active] = (await eventually(
      async () => {
        const jobs = await workers.active();
        return jobs.length ? jobs : undefined;
      },
      10_000,
      'the held job listed as active',
    ))!;
    expect(active).toMatchObject({
      task: 'registry.held',
      jobId: handle.id,
      queue: 'registry',
      pid: childPid,
    });
    expect(await workers.active('local')).toEqual([]);

    await handle.cancel();
    await eventually(
      async () => (await workers.active()).length === 0,
      10_000,
      'the cancelled job gone',
    );
  });

  it('drops a SIGKILLed worker once its entry expires, pruning it from the index', async () => {
    const prefix = uniquePrefix();
    const { child, pid: childPid } = await childWorker(prefix, { HEARTBEAT_TTL: '1s' });
    const local = await localWorker(prefix);
    const workers = local.get(Workers);
    await eventually(async () => (await workers.list()).length === 2, 15_000, 'both listed');

    await child.kill('SIGKILL');
    const left = (await eventually(
      async () => {
        const live = await workers.list();
        return live.every((w) => w.pid !== childPid) ? live : undefined;
      },
      15_000,
      'the killed worker to drop out',
    ))!;
    expect(left.map((w) => w.pid)).toEqual([process.pid]);
    const answers = (await eventually(
      async () => {
        const replies = await workers.ping('500ms');
        return replies.length ? replies : undefined;
      },
      10_000,
      'this process to answer a ping',
    ))!;
    expect(answers.map((a) => a.pid)).toEqual([process.pid]);
    // The read pruned the dead id, and its entry expired by itself: nothing dead is left.
    const redis = new Redis(REDIS_URL);
    try {
      expect(await redis.zcard(`{${prefix}}:conveyor:workers`)).toBe(1);
      expect(await redis.keys(`{${prefix}}:conveyor:workers:*`)).toHaveLength(1);
    } finally {
      redis.disconnect();
    }
  });

  it('removes its entry when it shuts down, without waiting for the TTL', async () => {
    const prefix = uniquePrefix();
    const api = await startTasksApp([], { prefix, workers: 'none', queues: { local: {} } });
    apps.push(api);
    const local = await localWorker(prefix); // ttl 30s: only its shutdown can remove it now
    await eventually(async () => (await api.get(Workers).list()).length === 1, 10_000, 'listed');

    await local.close();
    expect(await api.get(Workers).list()).toEqual([]);
  });

  it('serves /live and /ready from a worker-only process, and answers conveyor ping', async () => {
    const prefix = uniquePrefix();
    const { child, pid } = await childWorker(prefix, { PROBE: '1' });
    const [, port] = await child.waitFor(/PROBE (\d+)/);
    const base = `http://127.0.0.1:${port}`;

    const live = await get(`${base}/live`);
    expect(live.status).toBe(200);
    expect(JSON.parse(live.text)).toMatchObject({ status: 'ok', pid });
    const ready = await get(`${base}/ready`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.text)).toMatchObject({
      status: 'ok',
      redis: { status: 'up' },
      workers: { status: 'up', queues: ['registry'] },
    });
    expect((await get(`${base}/other`)).status).toBe(404);

    const common = ['ping', '--redis', REDIS_URL, '--timeout', '5s'];
    const [here, byPid, nobody, otherPid, usage] = await Promise.all([
      conveyor([...common, '--prefix', prefix]),
      conveyor([...common, '--prefix', prefix, '--pid', String(pid), '--json']),
      conveyor([...common.slice(0, 3), '--timeout', '300ms', '--prefix', uniquePrefix()]),
      conveyor([...common.slice(0, 3), '--timeout', '500ms', '--prefix', prefix, '--pid', '1']),
      conveyor(['ping', '--timeout', 'soon']),
    ]);
    expect(here).toMatchObject({ code: 0 });
    expect(here.stdout).toContain(`${hostname()}:${pid} answered`);
    expect(byPid.code).toBe(0);
    expect(JSON.parse(byPid.stdout)).toEqual([expect.objectContaining({ pid })]);
    expect(nobody.code).toBe(1);
    expect(nobody.stderr).toMatch(/no answer from a worker process on .* within 300 ms/);
    expect(otherPid.code).toBe(1);
    expect(otherPid.stderr).toMatch(new RegExp(`1 other\\(s\\) answered: .*:${pid}`));
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/--timeout must be milliseconds or a duration/);

    const unreachable = await conveyor([
      'ping',
      '--redis',
      'redis://127.0.0.1:1',
      '--prefix',
      prefix,
    ]);
    expect(unreachable.code).toBe(3);
    expect(unreachable.stderr).toMatch(/cannot reach Redis at redis:\/\/127\.0\.0\.1:1/);

    // Shutting down: not ready any more (SIGTERM is a graceful stop in the child).
    child.process.kill('SIGTERM');
    await eventually(
      async () => {
        const answer = await get(`${base}/ready`).catch(() => ({ status: 0, text: '' }));
        return answer.status !== 200;
      },
      10_000,
      'ready to fail during shutdown',
    );
  });

  it('fails startup, naming the option, when the probe port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as { port: number }).port;
    const prefix = uniquePrefix();
    prefixes.push(prefix);
    const module = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({
          connection: REDIS_URL,
          prefix,
          workers: 'none',
          probe: { port, host: '127.0.0.1' },
        }),
      ],
    }).compile();
    module.useLogger(false);
    try {
      const starting = module.init();
      await expect(starting).rejects.toBeInstanceOf(InvalidModuleOptionsError);
      await expect(starting).rejects.toThrow(
        new RegExp(`probe cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`),
      );
    } finally {
      await module.close();
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  it('answers /ready 503 naming Redis while Redis is down, /live 200, and ready again after', async () => {
    const redis = await PrivateRedis.start();
    try {
      const app = await startTasksApp([LocalTasks], {
        connection: redis.url,
        queues: { local: {}, registry: {} },
        workers: ['local'],
        probe: { port: 0, host: '127.0.0.1' },
      });
      apps.push(app);
      const base = `http://127.0.0.1:${app.get(WorkerProbe).address!.port}`;
      expect((await get(`${base}/ready`)).status).toBe(200);

      await redis.stop();
      const down = (await eventually(
        async () => {
          const answer = await get(`${base}/ready`);
          return answer.status === 503 ? answer : undefined;
        },
        10_000,
        'ready to fail',
      ))!;
      expect(JSON.parse(down.text)).toMatchObject({
        status: 'error',
        redis: { status: 'down' },
        workers: { status: 'up', queues: ['local'] },
      });
      expect((await get(`${base}/live`)).status).toBe(200);

      await redis.start();
      await eventually(
        async () => (await get(`${base}/ready`)).status === 200,
        20_000,
        'ready again',
      );
    } finally {
      await stopAll(...apps.splice(0));
      await redis.destroy();
    }
  });
});
