import { Cluster, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Redis } from 'ioredis';
import { ConveyorRedis } from './conveyor-redis';

/** A connection Conveyor opened: one Redis (or a Sentinel-managed one), or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

/** `TasksModuleOptions.connection`, checked: one node (URL and/or options) or a cluster. */
export type ResolvedConnection =
  | { cluster?: undefined; url?: string; options: RedisOptions }
  | { cluster: { nodes: ClusterNode[]; options: ClusterOptions } };

/**
 * Opens a connection with the module's settings: `connectionName` `conveyor:<role>`, then the
 * app's options, then `overrides` (per node on a cluster, where `enableOfflineQueue` applies
 * to the cluster too). On a cluster, ioredis follows MOVED and ASK replies and a failover
 * (a replica promoted in a dead master's place) by itself.
 */
export function openConnection(
  connection: ResolvedConnection,
  role: string,
  overrides: RedisOptions,
): RedisClient {
  const connectionName = `conveyor:${role}`;
  if (connection.cluster) {
    const { nodes, options } = connection.cluster;
    return new Cluster(nodes, {
      ...options,
      ...(overrides.enableOfflineQueue === undefined
        ? {}
        : { enableOfflineQueue: overrides.enableOfflineQueue }),
      redisOptions: { connectionName, ...options.redisOptions, ...overrides },
    });
  }
  const settings = { connectionName, ...connection.options, ...overrides };
  return connection.url ? new ConveyorRedis(connection.url, settings) : new ConveyorRedis(settings);
}
