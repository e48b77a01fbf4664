/** How queues are placed in Redis Cluster hash slots: see `TasksModuleOptions.hashTags`. */
export type HashTags = 'prefix' | 'queue';

/**
 * Queue of Conveyor's own workflow jobs (a group's collector, a fan-out). With
 * `hashTags: 'queue'` each tag has its own, `conveyor.workflows@<group>`, in that tag: a
 * workflow's jobs all live in one slot.
 */
export const WORKFLOW_QUEUE = 'conveyor.workflows';
/**
 * Where Conveyor's keys live. Every key of one queue (BullMQ's and Conveyor's own) starts with
 * the queue's BullMQ prefix, a hash tag, so on Redis Cluster the queue's keys share one slot
 * and every script stays atomic on one node:
 *
 * - `hashTags: 'prefix'` (the default): one tag for the app, `{conveyor}`. Every queue shares
 *   one slot: one master of a cluster holds the app.
 * - `hashTags: 'queue'`: a tag a queue, `{conveyor:emails}`, or a group's, `{conveyor:billing}`
 *   for queues given `hashTag: 'billing'`: queues spread over the masters. A workflow's steps
 *   must then share one tag (its jobs are linked by BullMQ scripts that touch all of them).
 *
 * App-wide keys (schedules, their lock) and the cancel channel stay under `{<prefix>}`.
 *
 * @example
 * const keys = new KeyLayout('shop', 'queue', new Map([['orders', 'checkout']]));
 * keys.prefixOf('orders'); // '{shop:checkout}'
 * keys.queueKey('emails'); // '{shop:emails}:emails:'
 */
export class KeyLayout {
  constructor(
    /** The app's prefix as configured, without braces. */
    readonly prefix: string,
    readonly hashTags: HashTags = 'prefix',
    /** Queues given a `hashTag` of their own choosing (a group's). */
    private readonly groups: ReadonlyMap<string, string> = new Map(),
  ) {}

  /** The prefix of app-wide keys, `{<prefix>}`. */
  get appPrefix(): string {
    return `{${this.prefix}}`;
  }

  /** The hash tag `queue`'s keys share: the app's, the queue's, or its group's. */
  tagOf(queue: string): string {
    if (this.hashTags === 'prefix') return this.prefix;
    return `${this.prefix}:${this.groupOf(queue)}`;
  }

  /** The queue of the workflow jobs that work with `queue`'s jobs, in its tag. */
  workflowQueue(queue: string): string {
    if (this.hashTags === 'prefix') return WORKFLOW_QUEUE;
    return `${WORKFLOW_QUEUE}@${this.groupOf(queue)}`;
  }

  private groupOf(queue: string): string {
    const workflows = `${WORKFLOW_QUEUE}@`;
    if (queue.startsWith(workflows)) return queue.slice(workflows.length);
    return this.groups.get(queue) ?? queue;
  }

  /** BullMQ's `prefix` option for `queue`. */
  prefixOf(queue: string): string {
    return `{${this.tagOf(queue)}}`;
  }

  /** The start of every key of `queue`, `<prefix of queue>:<queue>:`. */
  queueKey(queue: string): string {
    return `${this.prefixOf(queue)}:${queue}:`;
  }

  /** An app-wide key, `{<prefix>}:conveyor:<name>`. */
  appKey(name: string): string {
    return `${this.appPrefix}:conveyor:${name}`;
  }
}
