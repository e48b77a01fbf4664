import { Inject, Injectable } from '@nestjs/common';
import {
  type EnqueueOptions,
  type EventPayloadOf,
  type EventRef,
  type TaskRef,
  UnknownTaskError,
  validatePayload,
} from '@conveyor/tasks';
import {
  buildJobOptions,
  eventNameOf,
  type TaskDefinition,
  TasksRegistry,
  checkPayload,
  checkSchema,
  payloadJobId,
  RESOLVED_TASKS_OPTIONS,
  type ResolvedModuleOptions,
  routeJob,
} from '@conveyor/tasks/internal';
import type { JobsOptions } from 'bullmq';
import { InvalidEventError, NoTransactionError, UnknownEventError } from './errors';
import type { ResolvedOutboxOptions } from './options/module-options';
import { OUTBOX_STORE, RESOLVED_OUTBOX_OPTIONS } from './outbox.constants';
import { traceWrite } from './outbox-tracing';
import type { OutboxJob, OutboxStore } from './store/outbox-store.interface';

/** The payload `Outbox.emit(event, …)` takes: the event's `P`, or anything for a bare name. */
export type EmitPayload<E> = E extends EventRef ? EventPayloadOf<E> : unknown;

/** What `Outbox.enqueue()` wrote: the row id and the BullMQ job id the relay will use. */
export interface OutboxEntry {
  id: string;
  jobId: string;
}

/**
 * What `Outbox.emit()` wrote: the row id and one job id per subscriber (no row and no jobs
 * for an event allowed to go without subscribers).
 */
export interface OutboxEmission {
  id: string | undefined;
  /** The job ids the event will be published as, one per subscriber. */
  jobIds: string[];
  /** The same jobs with their task and queue, e.g. to keep a handle on each. */
  jobs: Array<{ task: string; queue: string; jobId: string }>;
}

/**
 * Writes jobs and events to the outbox table in the caller's database transaction; the relay
 * publishes them to BullMQ after commit. A rolled-back transaction leaves no trace.
 *
 * @example
 * @Post()
 * @UseInterceptors(OutboxInterceptor)
 * async create(@Body() dto: CreateOrder) {
 *   const order = await this.orders.insert(dto); // through TransactionHost.tx
 *   await this.outbox.enqueue(SendConfirmation, { orderId: order.id });
 *   await this.outbox.emit(OrderCreated, { orderId: order.id }); // a defineEvent<P>() ref
 * }
 */
@Injectable()
export class Outbox {
  constructor(
    private readonly registry: TasksRegistry,
    @Inject(OUTBOX_STORE) private readonly store: OutboxStore,
    @Inject(RESOLVED_OUTBOX_OPTIONS) private readonly options: ResolvedOutboxOptions,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly tasks: ResolvedModuleOptions,
  ) {}

  /**
   * Records one job, with the typing and the checks of `TaskProducer.enqueue` (same typed
   * errors; nothing is written when one is thrown). Throws `NoTransactionError` outside a
   * transaction.
   */
  // The name form first, as in TaskProducer.enqueue(): the reference form's error is the one shown.
  enqueue(task: string, payload: unknown, options?: EnqueueOptions): Promise<OutboxEntry>;
  enqueue<P, R, H>(
    task: TaskRef<P, R, H>,
    payload: P,
    options?: EnqueueOptions,
  ): Promise<OutboxEntry>;
  async enqueue(
    task: TaskRef | string,
    payload: unknown,
    options?: EnqueueOptions,
  ): Promise<OutboxEntry> {
    this.requireTransaction('enqueue');
    const definition = this.definition(task);
    const opts = buildJobOptions(definition.name, definition.options, options);
    // As TaskProducer.enqueue: a task without a schema costs no promise for its checks.
    checkPayload(definition.name, payload, definition.options.maxPayloadBytes);
    if (definition.options.schema) {
      await checkSchema(definition.name, definition.options.schema, payload);
    }
    // The queue is chosen now, as TaskProducer.enqueue chooses it: the row stores it.
    const queue = routeJob(definition, payload, options, this.tasks.routing, opts);
    const job = toOutboxJob(definition, queue, opts);
    idempotentJob(definition, job, payload);
    const [id] = await traceWrite(job.queue, 'task', (trace) =>
      this.store.insert([
        { kind: 'task', name: definition.name, queue: job.queue, payload, options: { job }, trace },
      ]),
    );
    return { id: id!, jobId: taskJobId(id!, job) };
  }

  /**
   * Records a domain event, published as one job for every task in this app that subscribes
   * to it with `@Task(ref, { on: event })`. The payload must pass every subscriber's checks.
   *
   * Give the event as a `defineEvent<P>()` reference: the payload is then type-checked against
   * `P`. A bare name (`emit('order.created', payload)`) still works, untyped, for
   * compatibility.
   *
   * An event that no task in this app subscribes to throws `UnknownEventError` (naming the
   * nearest subscribed event), unless `OutboxModule.forRoot({ events: { allowUnsubscribed } })`
   * allows it: then nothing is written and no jobs are returned. Throws `InvalidEventError`
   * for a name outside the naming rules and `NoTransactionError` outside a transaction.
   *
   * @example
   * export const OrderCreated = defineEvent<{ orderId: string }>('order.created');
   * await this.outbox.emit(OrderCreated, { orderId: order.id });
   */
  async emit<E extends EventRef | string>(
    event: E,
    payload: EmitPayload<E>,
  ): Promise<OutboxEmission> {
    this.requireTransaction('emit');
    const name = eventNameOf(event, (problem) => {
      throw new InvalidEventError(event, problem);
    });
    const subscribers = this.registry.subscribers(name);
    if (subscribers.length === 0) {
      const allowed = this.options.events.allowUnsubscribed;
      if (allowed === true || allowed.has(name)) return { id: undefined, jobIds: [], jobs: [] };
      throw new UnknownEventError(name, this.subscribedEvents(), [...allowed]);
    }
    const jobs: OutboxJob[] = [];
    for (const task of subscribers) {
      const opts = buildJobOptions(task.name, task.options, undefined);
      await validatePayload(task.name, payload, task.options);
      const job = toOutboxJob(
        task,
        routeJob(task, payload, undefined, this.tasks.routing, opts),
        opts,
      );
      jobs.push(idempotentJob(task, job, payload));
    }
    const [id] = await traceWrite(name, 'event', (trace) =>
      this.store.insert([{ kind: 'event', name, queue: null, payload, options: { jobs }, trace }]),
    );
    const published = jobs.map((job) => ({
      task: job.task,
      queue: job.queue,
      jobId: eventJobId(id!, job),
    }));
    return { id: id!, jobIds: published.map((job) => job.jobId), jobs: published };
  }

  private requireTransaction(operation: 'enqueue' | 'emit'): void {
    if (!this.store.inTransaction()) throw new NoTransactionError(operation);
  }

  /** Events the tasks of this app subscribe to, sorted, for messages. */
  private subscribedEvents(): string[] {
    return [...new Set(this.registry.all().flatMap((task) => task.options.on))].sort();
  }

  private definition(task: TaskRef | string): TaskDefinition {
    if (typeof task !== 'string' && (typeof task !== 'object' || task === null)) {
      throw new UnknownTaskError(String(task), this.registry.names());
    }
    return this.registry.definition(task);
  }
}

/** Job options as stored: a delay becomes an absolute time, so publish lag does not add to it. */
function toOutboxJob(definition: TaskDefinition, queue: string, opts: JobsOptions): OutboxJob {
  const { delay, ...rest } = opts;
  const stored: OutboxJob['opts'] = { ...rest };
  if (delay) stored.delayUntil = Date.now() + delay;
  const { searchable } = definition.options;
  return {
    task: definition.name,
    queue,
    opts: stored,
    ...(searchable.length ? { search: [...searchable] } : {}),
  };
}

/**
 * An `idempotent` task's job without a `jobId`/`idempotencyKey` of its own gets the id
 * `TaskProducer.enqueue` would give it, derived from task and payload: two equal writes
 * (in one transaction or two, from the outbox or the producer) are one job. Run after the
 * payload checks, as the producer does.
 */
function idempotentJob(definition: TaskDefinition, job: OutboxJob, payload: unknown): OutboxJob {
  if (definition.options.idempotent && job.opts.jobId === undefined) {
    job.opts.jobId = payloadJobId(definition.name, payload);
  }
  return job;
}

/**
 * Job ids derive from the row id, so a row published twice (relay died before marking it)
 * is one job. Never a plain integer, never a ':'. A caller's own `jobId`/`idempotencyKey`
 * wins, and so does the key of an idempotent task.
 */
export function taskJobId(id: string, job: OutboxJob): string {
  return job.opts.jobId ?? `outbox-${id}`;
}

export function eventJobId(id: string, job: OutboxJob): string {
  return job.opts.jobId ?? `outbox-${id}-${job.task}`;
}
