import { Cluster } from 'ioredis';
import { InvalidModuleOptionsError } from '../errors';
import { defineWorkflow } from '../durable/define-workflow';
import { resolveModuleOptions } from './module-options';

describe('resolveModuleOptions', () => {
  it('applies defaults and wraps the prefix in a hash tag for Redis Cluster', () => {
    const resolved = resolveModuleOptions({ connection: 'redis://127.0.0.1:6379' }, {});
    expect(resolved.keys.prefixOf('email')).toBe('{conveyor}');
    expect(resolved).toMatchObject({
      workers: 'all',
      shutdownTimeoutMs: 30_000,
      queues: undefined,
      connection: { url: 'redis://127.0.0.1:6379', options: {} },
    });
  });

  it('accepts ioredis options, with or without a url', () => {
    const tls = resolveModuleOptions({ connection: { url: 'rediss://u:p@h:6380', tls: {} } }, {});
    expect(tls.connection).toEqual({ url: 'rediss://u:p@h:6380', options: { tls: {} } });
    const plain = resolveModuleOptions(
      { connection: { host: 'h', username: 'app', password: 'p' } },
      {},
    );
    expect(plain.connection).toEqual({
      url: undefined,
      options: { host: 'h', username: 'app', password: 'p' },
    });
  });

  it('accepts a cluster as nodes and options, or as an ioredis Cluster to copy', () => {
    const nodes = [{ host: '10.0.0.1', port: 7000 }];
    const resolved = resolveModuleOptions(
      { connection: { cluster: { nodes, options: { redisOptions: { password: 'p' } } } } },
      {},
    );
    expect(resolved.connection).toEqual({
      cluster: { nodes, options: { redisOptions: { password: 'p' } } },
    });
    const instance = new Cluster(nodes, { lazyConnect: true, scaleReads: 'slave' });
    const copied = resolveModuleOptions({ connection: instance }, {});
    expect(copied.connection.cluster).toMatchObject({ nodes, options: { scaleReads: 'slave' } });
    expect(instance.status).toBe('wait');
  });

  it('rejects a cluster without nodes or with settings beside it, naming them', () => {
    expect(() => resolveModuleOptions({ connection: { cluster: { nodes: [] } } }, {})).toThrow(
      /connection\.cluster\.nodes must list at least one node/,
    );
    expect(() =>
      resolveModuleOptions(
        { connection: { cluster: { nodes: [{ port: 7000 }] }, password: 'p' } as never },
        {},
      ),
    ).toThrow(/connection\.cluster goes alone.*password/);
  });

  it("spreads queues over hash tags with hashTags: 'queue', grouping those given one tag", () => {
    const resolved = resolveModuleOptions(
      {
        connection: 'redis://h',
        prefix: 'shop',
        hashTags: 'queue',
        queues: { orders: { hashTag: 'checkout' }, payments: { hashTag: 'checkout' }, mail: {} },
      },
      {},
    );
    const { keys } = resolved;
    expect(keys.prefixOf('orders')).toBe('{shop:checkout}');
    expect(keys.prefixOf('payments')).toBe('{shop:checkout}');
    expect(keys.queueKey('mail')).toBe('{shop:mail}:mail:');
    expect(keys.workflowQueue('orders')).toBe('conveyor.workflows@checkout');
    expect(keys.prefixOf(keys.workflowQueue('orders'))).toBe('{shop:checkout}');
    expect(keys.appKey('schedules')).toBe('{shop}:conveyor:schedules');
  });

  it("rejects a queue's hashTag without hashTags: 'queue', and a bad hashTags", () => {
    expect(() =>
      resolveModuleOptions(
        { connection: 'redis://h', queues: { orders: { hashTag: 'checkout' } } },
        {},
      ),
    ).toThrow(/queues\.orders\.hashTag needs hashTags: 'queue'/);
    expect(() =>
      resolveModuleOptions({ connection: 'redis://h', hashTags: 'slot' as never }, {}),
    ).toThrow(/hashTags must be 'prefix' or 'queue', got 'slot'/);
    expect(() =>
      resolveModuleOptions(
        { connection: 'redis://h', hashTags: 'queue', queues: { a: { hashTag: 'x:y' } } },
        {},
      ),
    ).toThrow(/queues\.a\.hashTag must be/);
  });

  it('declares the default queue alongside the declared ones', () => {
    const resolved = resolveModuleOptions(
      {
        connection: 'redis://h',
        queues: { email: { concurrency: 20, rateLimit: { max: 60, per: '1m' } } },
      },
      {},
    );
    expect([...resolved.queues!.keys()]).toEqual(['default', 'email']);
    expect(resolved.queues!.get('email')).toEqual({
      concurrency: 20,
      rateLimit: { max: 60, durationMs: 60_000 },
    });
  });

  it("takes a queue's rate limit as '10/s', '100/m' or '1000/h' too, and names a bad one", () => {
    const resolved = resolveModuleOptions(
      { connection: 'redis://h', queues: { email: { rateLimit: '100/m' } } },
      {},
    );
    expect(resolved.queues!.get('email')?.rateLimit).toEqual({ max: 100, durationMs: 60_000 });
    expect(() =>
      resolveModuleOptions(
        { connection: 'redis://h', queues: { email: { rateLimit: '100/min' } } },
        {},
      ),
    ).toThrow(
      /queues\.email\.rateLimit must be \{ max, per \} or a rate like '10\/s', '100\/m', '1000\/h'; got '100\/min'/,
    );
  });

  it('reads CONVEYOR_WORKERS when workers is left out, and lets the option win', () => {
    expect(
      resolveModuleOptions({ connection: 'redis://h' }, { CONVEYOR_WORKERS: 'none' }).workers,
    ).toBe('none');
    expect(
      resolveModuleOptions({ connection: 'redis://h' }, { CONVEYOR_WORKERS: ' a, b ' }).workers,
    ).toEqual(['a', 'b']);
    expect(
      resolveModuleOptions(
        { connection: 'redis://h', workers: 'all' },
        { CONVEYOR_WORKERS: 'none' },
      ).workers,
    ).toBe('all');
  });

  it('never echoes a connection string in its error: it may hold a password', () => {
    const attempt = () => resolveModuleOptions({ connection: 'postgres://admin:s3cret@db' }, {});
    expect(attempt).toThrow(InvalidModuleOptionsError);
    expect(attempt).not.toThrow(/s3cret/);
  });

  it('rejects a bad CONVEYOR_WORKERS entry', () => {
    expect(() =>
      resolveModuleOptions({ connection: 'redis://h' }, { CONVEYOR_WORKERS: 'a,b:c' }),
    ).toThrow(/CONVEYOR_WORKERS entry 'b:c'/);
  });

  it('reads enqueueTimeout as a duration, 5 s by default', () => {
    expect(resolveModuleOptions({ connection: 'redis://h' }, {}).enqueueTimeoutMs).toBe(5_000);
    expect(
      resolveModuleOptions({ connection: 'redis://h', enqueueTimeout: '500ms' }, {})
        .enqueueTimeoutMs,
    ).toBe(500);
    expect(
      resolveModuleOptions({ connection: 'redis://h', enqueueTimeout: 2_000 }, {}).enqueueTimeoutMs,
    ).toBe(2_000);
  });

  it('rejects a bad or misspelt enqueueTimeout with an error naming it', () => {
    for (const enqueueTimeout of ['soon', -1, 0, '0ms', null]) {
      expect(() =>
        resolveModuleOptions({ connection: 'redis://h', enqueueTimeout } as never, {}),
      ).toThrow(
        expect.objectContaining({
          name: 'InvalidModuleOptionsError',
          message: expect.stringMatching(/enqueueTimeout/),
        }),
      );
    }
    expect(() =>
      resolveModuleOptions({ connection: 'redis://h', enqueueTimout: '1s' } as never, {}),
    ).toThrow(/unknown option enqueueTimout \(did you mean 'enqueueTimeout'\?\)/);
  });

  it('beats every 5 s with a TTL of three beats by default; ttl follows interval', () => {
    const at = (heartbeat?: object) =>
      resolveModuleOptions({ connection: 'redis://h', heartbeat } as never, {}).heartbeat;
    expect(at()).toEqual({ intervalMs: 5_000, ttlMs: 15_000 });
    expect(at({ interval: '1s' })).toEqual({ intervalMs: 1_000, ttlMs: 3_000 });
    expect(at({ interval: 200, ttl: '2s' })).toEqual({ intervalMs: 200, ttlMs: 2_000 });
  });

  it.each([
    [{ interval: '50ms' }, /heartbeat.interval must be from 100ms to 5m, got '50ms'/],
    [{ interval: 'often' }, /heartbeat.interval must be milliseconds or a duration/],
    [
      { interval: '5s', ttl: '6s' },
      /heartbeat.ttl must be from twice heartbeat.interval \(10000 ms\) to 1h, got '6s'/,
    ],
    [{ ttl: '2h' }, /heartbeat.ttl must be from .* to 1h, got '2h'/],
    [{ intervl: '1s' }, /unknown option heartbeat.intervl \(did you mean 'interval'\?\)/],
    ['5s', /heartbeat must be an object, got '5s'/],
  ])('rejects heartbeat %p, naming the value', (heartbeat, message) => {
    const call = () => resolveModuleOptions({ connection: 'redis://h', heartbeat } as never, {});
    expect(call).toThrow(InvalidModuleOptionsError);
    expect(call).toThrow(message);
  });

  it('starts no probe by default; a probe listens on 0.0.0.0 unless told', () => {
    expect(resolveModuleOptions({ connection: 'redis://h' }, {}).probe).toBeUndefined();
    expect(
      resolveModuleOptions({ connection: 'redis://h', probe: { port: 9464 } }, {}).probe,
    ).toEqual({ port: 9464, host: '0.0.0.0' });
  });

  it.each([
    [{}, /probe.port must be an integer from 0 to 65535, got undefined/],
    [{ port: 70_000 }, /probe.port must be an integer from 0 to 65535, got number 70000/],
    [{ port: '9464' }, /probe.port must be an integer from 0 to 65535, got '9464'/],
    [{ port: 9464, host: '' }, /probe.host must be a host name or an address/],
    [{ port: 9464, path: '/x' }, /unknown option probe.path/],
  ])('rejects probe %p, naming the value', (probe, message) => {
    const call = () => resolveModuleOptions({ connection: 'redis://h', probe } as never, {});
    expect(call).toThrow(InvalidModuleOptionsError);
    expect(call).toThrow(message);
  });

  it('takes workflows from defineWorkflow(), each name once, and names a bad entry', () => {
    const connection = 'redis://127.0.0.1:6379';
    const Fulfil = defineWorkflow('order.fulfil', () => Promise.resolve(1));
    expect(resolveModuleOptions({ connection }, {}).workflows).toEqual([]);
    expect(resolveModuleOptions({ connection, workflows: [Fulfil] }, {}).workflows).toEqual([
      Fulfil,
    ]);
    expect(() => resolveModuleOptions({ connection, workflows: [Fulfil, Fulfil] }, {})).toThrow(
      /workflows: 'order.fulfil' is listed twice/,
    );
    expect(() =>
      resolveModuleOptions({ connection, workflows: [{ name: 'x' }] as never }, {}),
    ).toThrow(/workflows\[0\] must be what defineWorkflow\(\) returns/);
    expect(() => resolveModuleOptions({ connection, workflow: [Fulfil] } as never, {})).toThrow(
      /unknown option workflow \(did you mean 'workflows'\?\)/,
    );
  });
});
