import { Redis, type RedisOptions } from 'ioredis';
// What ioredis runs when a socket closes. An internal module of ioredis 5 (pinned): it has no
// public way to end a client that waits to reconnect.
import { closeHandler } from 'ioredis/built/redis/event_handler';

/**
 * ioredis's `Redis`, with one defect fixed. A `disconnect()` while the client waits to
 * reconnect (status `reconnecting`: no socket, a retry timer armed) clears the timer and ends
 * nothing: the client stays `reconnecting` forever and never emits `end`. BullMQ's
 * `Worker.close()` waits for that `end` on its blocking connection (taskforcesh/bullmq#4656),
 * so after a Redis outage or restart a closed app kept the worker's lock-renewal and
 * stalled-check timers, and its process, alive. Here such a disconnect ends the client as a
 * disconnect of a connected one does. `duplicate()` (how BullMQ makes its blocking
 * connections from ours) makes this class too.
 *
 * @example
 * const redis = new ConveyorRedis('redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
 */
export class ConveyorRedis extends Redis {
  override disconnect(reconnect = false): void {
    const parked = !reconnect && this.status === 'reconnecting';
    super.disconnect(reconnect);
    if (parked && this.status === 'reconnecting') closeHandler(this)();
  }
}

// Assigned, not declared as an override: ioredis 6 made `duplicate` generic over its options,
// and an override typed for one major fails to compile against the other (an app's tsc with
// skipLibCheck off reads this class's declaration). The type stays ioredis's own.
ConveyorRedis.prototype.duplicate = function duplicate(
  this: ConveyorRedis,
  override?: Partial<RedisOptions>,
): ConveyorRedis {
  return new ConveyorRedis({ ...this.options, ...override });
} as Redis['duplicate'];
