import { once } from 'node:events';
import { ConveyorRedis } from '@conveyor/tasks/internal';
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
});
