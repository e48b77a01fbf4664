import { once } from 'node:events';
import { Worker } from 'bullmq';
import type { RedisOptions } from 'ioredis';
import { ConveyorRedis } from '@conveyor/tasks';
import { PrivateRedis } from '../support/private-redis';
import { eventually } from '../support/tasks-app';

describe('Redis clients when Redis goes away', () => {
  let redis: PrivateRedis | undefined;
  afterEach(async () => {
    const server = redis;
    redis = undefined;
    await server?.destroy();
  });

  it('ends a client that waits to reconnect when it is disconnected', async () => {
    redis = await PrivateRedis.start();
    const client = new ConveyorRedis(redis.url, { maxRetriesPerRequest: null });
    client.on('error', () => undefined);
    await once(client, 'ready');
    await redis.stop();
    await eventually(() => client.status === 'reconnecting', 5_000, 'the client to wait');

    const ended = once(client, 'end');
    client.disconnect();
    await ended;
    expect(client.status).toBe('end');
  });

  it('makes its duplicates (BullMQ blocking connections) of the same kind', async () => {
    redis = await PrivateRedis.start();
    const client = new ConveyorRedis(redis.url, { lazyConnect: true, connectionName: 'a' });
    const copy = client.duplicate({ connectionName: 'b' });
    expect(copy).toBeInstanceOf(ConveyorRedis);
    expect(copy.options).toMatchObject({ port: redis.port, connectionName: 'b' });
    client.disconnect();
    copy.disconnect();
  });

  it('lets a BullMQ worker on it close while Redis is down', async () => {
    // With ioredis's own client, Worker.close() waits for its blocking connection's 'end',
    // which never comes once that connection waits to reconnect: the worker's lock-renewal
    // and stalled-check timers then keep the process alive (taskforcesh/bullmq#4656).
    redis = await PrivateRedis.start();
    const duplicates: ConveyorRedis[] = [];
    class Recording extends ConveyorRedis {
      override duplicate(override?: Partial<RedisOptions>): ConveyorRedis {
        const copy = super.duplicate(override);
        duplicates.push(copy);
        return copy;
      }
    }
    const connection = new Recording(redis.url, { maxRetriesPerRequest: null });
    connection.on('error', () => undefined);
    const worker = new Worker('idle', async () => undefined, { connection, prefix: 'client' });
    worker.on('error', () => undefined);
    await eventually(() => duplicates[0]?.status === 'ready', 5_000, 'the blocking connection');
    await redis.stop();
    await eventually(
      () => [connection, ...duplicates].every((client) => client.status === 'reconnecting'),
      10_000,
      'every connection to wait to reconnect',
    );

    const closed = once(worker, 'closed');
    await worker.close();
    await closed;
    connection.disconnect();
    expect(duplicates.map((client) => client.status)).toEqual(['end']);
  });
});
