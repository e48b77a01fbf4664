import { PrivateCluster, parseInfo, query } from '../support/private-cluster';
import { PrivateSentinel } from '../support/private-sentinel';

// Self tests of the throwaway Redis Cluster and Sentinel setups other suites run on.

describe('a private Redis Cluster', () => {
  let cluster: PrivateCluster | undefined;
  afterEach(async () => {
    const owned = cluster;
    cluster = undefined;
    await owned?.destroy();
  });

  it('fails a killed master over to its replica, and clients follow', async () => {
    cluster = await PrivateCluster.start();
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);
    for (const { slots } of masters) expect(slots.length).toBeGreaterThan(0);
    expect(slotCount(masters)).toBe(16384);

    const key = 'topology-key';
    const victim = await cluster.masterOf(key);
    const client = cluster.client();
    try {
      await client.set(key, 'kept');
      expect(await client.get(key)).toBe('kept');
      expect((await cluster.keysPerMaster()).get(victim)).toBe(1);
      await cluster.waitForReplication();

      await cluster.kill(victim);
      await cluster.waitForFailover(victim);

      expect(await client.get(key)).toBe('kept');
      const after = await cluster.masters();
      expect(after.map(({ port }) => port)).not.toContain(victim);
      expect(after).toHaveLength(3);
      expect(slotCount(after)).toBe(16384);
      expect(await cluster.masterOf(key)).not.toBe(victim);

      await cluster.restart(victim);
      const role = parseInfo(await query(victim, (redis) => redis.info('replication')));
      expect(role).toMatchObject({ role: 'slave', master_link_status: 'up' });
      expect(await query(victim, (redis) => redis.dbsize())).toBe(1);
      expect((await cluster.masters()).map(({ port }) => port)).not.toContain(victim);
      expect(await client.get(key)).toBe('kept');
    } finally {
      client.disconnect();
    }
  }, 120_000);
});

describe('a private Redis Sentinel setup', () => {
  let setup: PrivateSentinel | undefined;
  afterEach(async () => {
    const owned = setup;
    setup = undefined;
    await owned?.destroy();
  });

  it('fails a killed master over to a replica, and clients follow', async () => {
    setup = await PrivateSentinel.start();
    const first = await setup.masterPort();
    const client = setup.client();
    client.on('error', () => undefined);
    try {
      await client.set('topology-key', 'kept');
      expect(await client.get('topology-key')).toBe('kept');
      await setup.waitForReplication();

      expect(await setup.killMaster()).toBe(first);
      await setup.waitForFailover(first);

      expect(await setup.masterPort()).not.toBe(first);
      expect(await client.get('topology-key')).toBe('kept');
    } finally {
      client.disconnect();
    }
  }, 90_000);
});

function slotCount(masters: { slots: [number, number][] }[]): number {
  return masters.flatMap(({ slots }) => slots).reduce((sum, [from, to]) => sum + to - from + 1, 0);
}
