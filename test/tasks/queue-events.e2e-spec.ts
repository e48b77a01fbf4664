import { Injectable } from '@nestjs/common';
import { ConveyorQueues, defineTask, Task, TaskProducer } from '@conveyor/tasks';
import { PrivateRedis } from '../support/private-redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Echo = defineTask<{ n: number }, number>('events.echo');

@Injectable()
class EchoTasks {
  @Task(Echo)
  echo({ n }: { n: number }): number {
    return n;
  }
}

/** Client names on a Redis, from CLIENT LIST. */
async function clientNames(redis: PrivateRedis): Promise<string[]> {
  const admin = redis.client();
  try {
    const list = (await admin.client('LIST')) as string;
    return list
      .split('\n')
      .map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? '')
      .filter(Boolean);
  } finally {
    admin.disconnect();
  }
}

describe('QueueEvents', () => {
  let app: TestApp | undefined;
  afterEach(async () => {
    await stopAll(app);
    app = undefined;
  });

  it('listens only while a result is awaited, with a bounded listener count', async () => {
    app = await startTasksApp([EchoTasks]);
    const producer = app.get(TaskProducer);
    const handles = await Promise.all(
      Array.from({ length: 20 }, (_, n) => producer.enqueue(Echo, { n })),
    );
    const waits = handles.map((handle) => handle.result({ timeout: '10s' }));
    waits.forEach((wait) => wait.catch(() => undefined)); // checked below, after the others
    const events = await app.get(ConveyorQueues).queueEvents('default');
    // Twenty waits share one listener per event, and the limit is a real one.
    expect(events.listenerCount('completed')).toBeLessThanOrEqual(1);
    expect(events.getMaxListeners()).toBeGreaterThan(0);
    expect(await Promise.all(waits)).toEqual(handles.map((_, n) => n));
    expect(events.listenerCount('completed')).toBe(0);
    expect(events.listenerCount('failed')).toBe(0);
  });

  describe('on a Redis whose user may not run INFO (BullMQ needs it to get ready)', () => {
    let redis: PrivateRedis;
    beforeEach(async () => {
      redis = await PrivateRedis.start();
      const admin = redis.client();
      await admin.call('ACL', 'SETUSER', 'app', 'on', '>app-pw', '~*', '&*', '+@all', '-info');
      admin.disconnect();
    });
    afterEach(async () => {
      await stopAll(app);
      app = undefined;
      await redis.destroy();
    });

    it('closes the QueueEvents connection when it never gets ready', async () => {
      app = await startTasksApp([EchoTasks], {
        connection: `redis://app:app-pw@127.0.0.1:${redis.port}`,
        workers: 'none',
      });
      const failed = await app
        .get(TaskProducer)
        .handle(Echo, 'some-job')
        .result({ timeout: '5s' })
        .catch((e: unknown) => e);
      expect((failed as Error).message).toMatch(/NOPERM/);
      // Nothing named for the events is left connected (CLIENT LIST, as the admin).
      await eventually(
        async () => !(await clientNames(redis)).some((name) => name.includes('events')),
        5_000,
        'the events connection to close',
      );
    });
  });
});
