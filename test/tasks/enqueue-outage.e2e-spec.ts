import { Injectable } from '@nestjs/common';
import { defineTask, EnqueueFailedError, Task, TaskProducer } from '@conveyor/tasks';
import { freePort, PrivateRedis } from '../support/private-redis';
import { startTasksApp, type TestApp } from '../support/tasks-app';

const Ping = defineTask<{ n: number }, number>('outage.ping');

@Injectable()
class PingTasks {
  @Task(Ping)
  ping({ n }: { n: number }): number {
    return n;
  }
}

/** What an enqueue that Redis never took rejects with. */
async function failedEnqueue(app: TestApp): Promise<EnqueueFailedError> {
  const error = await app
    .get(TaskProducer)
    .enqueue(Ping, { n: 1 })
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(EnqueueFailedError);
  return error as EnqueueFailedError;
}

describe('enqueue while Redis cannot take it', () => {
  let app: TestApp | undefined;
  let redis: PrivateRedis | undefined;
  afterEach(async () => {
    // Taken first: a teardown that outlives its hook must not touch the next test's app.
    const [stopping, server] = [app, redis];
    app = redis = undefined;
    await stopping?.close();
    await server?.destroy();
  });

  it('returns within enqueueTimeout on an unreachable port, naming the cause', async () => {
    const port = await freePort(); // nothing listens there
    app = await startTasksApp([PingTasks], {
      connection: `redis://127.0.0.1:${port}`,
      workers: 'none',
      enqueueTimeout: '500ms',
    });
    const error = await failedEnqueue(app);
    expect(error.reason).toBe('connection');
    expect(error.message).toMatch(/ECONNREFUSED/);
    expect(error.message).toMatch(/after 500 ms \(enqueueTimeout\)/);
    expect(error.cause).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('names WRONGPASS for a wrong password, and never the password', async () => {
    redis = await PrivateRedis.start({ password: 'the-right-one' });
    app = await startTasksApp([PingTasks], {
      connection: `redis://:not-the-password@127.0.0.1:${redis.port}`,
      workers: 'none',
      enqueueTimeout: '500ms',
    });
    const error = await failedEnqueue(app);
    expect(error.message).toMatch(/WRONGPASS/);
    expect(error.message).not.toMatch(/not-the-password|the-right-one/);
    expect((error.cause as Error).message).toMatch(/WRONGPASS/);
  });

  it('names NOAUTH when a password is required and none is given', async () => {
    redis = await PrivateRedis.start({ password: 'the-right-one' });
    app = await startTasksApp([PingTasks], {
      connection: `redis://127.0.0.1:${redis.port}`,
      workers: 'none',
      enqueueTimeout: '500ms',
    });
    const error = await failedEnqueue(app);
    expect(error.message).toMatch(/NOAUTH/);
    expect((error.cause as Error).message).toMatch(/NOAUTH/);
  });

  it('enqueueMany says the same', async () => {
    const port = await freePort();
    app = await startTasksApp([PingTasks], {
      connection: `redis://127.0.0.1:${port}`,
      workers: 'none',
      enqueueTimeout: '500ms',
    });
    const error = await app
      .get(TaskProducer)
      .enqueueMany(Ping, [{ n: 1 }, { n: 2 }])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EnqueueFailedError);
    expect((error as Error).message).toMatch(/ECONNREFUSED/);
  });
});
