import { randomUUID } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import {
  InvalidWorkflowError,
  UnknownWorkflowError,
  WorkflowFailedError,
  WorkflowTimeoutError,
} from '../errors';
import type { Duration } from '../interfaces/duration.interface';
import { jsonSafetyProblems } from '../payload/json-safety';
import { checkKnownKeys, describe, isPlainObject, parseDuration } from '../options/validation';
import { isWorkflowDefinition, type WorkflowDefinition } from './define-workflow';
import { DurableState } from './durable-state';
import {
  type EntryMeta,
  FINAL_STATUSES,
  WORKFLOW_STATUSES,
  type WorkflowStatus,
} from './durable-store';
import type { StoredError } from './workflow-replay';

/** One entry of a workflow's history, in the order its code made the calls. */
export interface WorkflowHistoryEntry {
  /** The call's place in the workflow's code; compensations carry their step's. */
  seq: number;
  kind: EntryMeta['kind'];
  /** A step's or compensation's task. */
  task?: string;
  /** A wait's signal name. */
  signal?: string;
  /** `started` (a step's job runs, a sleep sleeps), `waiting`, `ok`, `failed`, `signalled`, `timedout`. */
  state: string;
  startedAt: Date;
  endedAt?: Date;
  /** A sleep's end, or a wait's deadline. */
  until?: Date;
  /** A step's result, or a signal's data. */
  result?: unknown;
  /** A failed step's or compensation's error. */
  error?: StoredError;
}

/** A durable workflow, as `Workflows.get()` reports it. */
export interface WorkflowInfo<O = unknown> {
  id: string;
  name: string;
  status: WorkflowStatus;
  input: unknown;
  /** Once `completed`. */
  result?: O;
  /** What ended it, once it failed, was compensated or cancelled. */
  error?: StoredError;
  /** The compensation that failed for good, when `failed` during compensation. */
  compensationError?: StoredError;
  /** Set once `cancel()` was asked, until the workflow has ended. */
  cancelRequested: boolean;
  /** The latest entry not yet settled: what the workflow waits for. */
  current?: WorkflowHistoryEntry;
  history: WorkflowHistoryEntry[];
  createdAt: Date;
  updatedAt: Date;
}

/** A workflow that was started, from `start()`: its id and shortcuts to `Workflows`. */
export interface DurableWorkflowHandle<O> {
  readonly id: string;
  /** False when a workflow of this id existed already (the start was a no-op). */
  readonly created: boolean;
  result(options?: { timeout?: Duration }): Promise<O>;
  get(): Promise<WorkflowInfo<O>>;
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;
const SIGNAL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * Starts durable workflows and answers about them, from any process (the state is in Redis;
 * nothing is kept in memory). The processes that run a workflow list it in
 * `TasksModule.forRoot({ workflows })`; any process may start it.
 *
 * @example
 * const run = await workflows.start(Fulfil, { orderId }, { id: `fulfil-${orderId}` });
 * await workflows.signal(run.id, 'approval', { by: 'ana' });
 * const trackingNo = await run.result({ timeout: '1m' });
 */
@Injectable()
export class Workflows {
  constructor(private readonly state: DurableState) {}

  /**
   * Starts `definition` with `input`. With `id`, the start is idempotent: a workflow of that
   * id that exists already is left as it is (`created: false`), whatever its status.
   */
  async start<I, O>(
    definition: WorkflowDefinition<I, O>,
    input: I,
    options: { id?: string } = {},
  ): Promise<DurableWorkflowHandle<O>> {
    if (!isWorkflowDefinition(definition)) {
      throw new InvalidWorkflowError(
        `start() needs what defineWorkflow() returns, got ${describe(definition)}`,
      );
    }
    if (!isPlainObject(options)) {
      throw new InvalidWorkflowError(`start() options must be an object, got ${describe(options)}`);
    }
    checkKnownKeys(options as Record<string, unknown>, ['id'], '', (problem) => {
      throw new InvalidWorkflowError(`start(${definition.name}): ${problem}`);
    });
    const id = options.id ?? `wf-${randomUUID()}`;
    checkId(id);
    const problems = jsonSafetyProblems(input);
    if (problems.length) {
      throw new InvalidWorkflowError(
        `the input of workflow '${definition.name}' is not JSON-safe: ${problems.join('; ')}`,
      );
    }
    const { created, name } = await this.state.store.start(
      id,
      definition.name,
      JSON.stringify(input ?? null),
    );
    if (name !== definition.name) {
      throw new InvalidWorkflowError(
        `id '${id}' belongs to a workflow '${name}', not '${definition.name}'; give another id`,
      );
    }
    // Also when it existed: a start that died between the two writes is completed here.
    await this.state.wake(id, 'start');
    return {
      id,
      created,
      result: (o) => this.result<O>(id, o),
      get: () => this.get<O>(id),
    };
  }

  /** The workflow's status, input, result or error, and its history. */
  async get<O = unknown>(id: string): Promise<WorkflowInfo<O>> {
    checkId(id);
    const stored = await this.state.store.read(id);
    if (!stored) throw new UnknownWorkflowError(id);
    const { fields, journal } = stored;
    const history: WorkflowHistoryEntry[] = [];
    for (const [field, raw] of Object.entries(journal)) {
      if (!/^c?\d+$/.test(field)) continue;
      const meta = JSON.parse(raw) as EntryMeta;
      const entry: WorkflowHistoryEntry = {
        seq: meta.step ?? Number(field),
        kind: meta.kind,
        state: journal[`${field}:s`] ?? 'started',
        startedAt: new Date(meta.at),
      };
      if (meta.task !== undefined) entry.task = meta.task;
      if (meta.signal !== undefined) entry.signal = meta.signal;
      if (meta.until !== undefined) entry.until = new Date(meta.until);
      if (journal[`${field}:at`]) entry.endedAt = new Date(Number(journal[`${field}:at`]));
      if (journal[`${field}:out`] !== undefined) entry.result = JSON.parse(journal[`${field}:out`]);
      if (journal[`${field}:err`] !== undefined) {
        entry.error = JSON.parse(journal[`${field}:err`]) as StoredError;
      }
      history.push(entry);
    }
    history.sort((a, b) => a.startedAt.getTime() - b.startedAt.getTime() || a.seq - b.seq);
    const status = fields.status as WorkflowStatus;
    const info: WorkflowInfo<O> = {
      id,
      name: fields.name,
      status,
      input: JSON.parse(fields.input) as unknown,
      cancelRequested: fields.cancel !== undefined && !FINAL_STATUSES.has(status),
      history,
      createdAt: new Date(Number(fields.createdAt)),
      updatedAt: new Date(Number(fields.updatedAt)),
    };
    if (fields.result !== undefined) info.result = JSON.parse(fields.result) as O;
    if (fields.error !== undefined) info.error = JSON.parse(fields.error) as StoredError;
    if (fields.compensationError !== undefined) {
      info.compensationError = JSON.parse(fields.compensationError) as StoredError;
    }
    const current = [...history]
      .reverse()
      .find((entry) => entry.state === 'started' || entry.state === 'waiting');
    if (current && !FINAL_STATUSES.has(status)) info.current = current;
    return info;
  }

  /**
   * Waits for the workflow to end: its result once `completed`, or a `WorkflowFailedError`
   * (`failed`, `compensated`, `cancelled`). With `timeout`, gives up with a
   * `WorkflowTimeoutError`; the workflow goes on. Polls the state (every 50 ms at first, then
   * up to every second): a wait that costs a read a second, in any process.
   */
  async result<O = unknown>(id: string, options: { timeout?: Duration } = {}): Promise<O> {
    const timeoutMs =
      options.timeout === undefined
        ? Infinity
        : parseDuration(options.timeout, 'result().timeout', (problem) => {
            throw new InvalidWorkflowError(problem);
          });
    const deadline = Date.now() + timeoutMs;
    let pause = 50;
    for (;;) {
      const info = await this.get<O>(id);
      if (info.status === 'completed') return info.result as O;
      if (FINAL_STATUSES.has(info.status)) {
        const error = info.compensationError ?? info.error ?? { name: 'Error', message: '' };
        throw new WorkflowFailedError(
          id,
          info.status as 'failed' | 'compensated' | 'cancelled',
          error.name,
          error.message,
        );
      }
      if (Date.now() >= deadline) {
        throw new WorkflowTimeoutError(id, undefined, timeoutMs);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, deadline - Date.now())));
      pause = Math.min(pause * 2, 1_000);
    }
  }

  /**
   * Sends signal `name` with `data` to the workflow, from any process: the wait that expects
   * it resumes; otherwise it is kept for the workflow's next `waitFor(name)`. `'ended'` when
   * the workflow has ended (the signal is dropped).
   */
  async signal(id: string, name: string, data?: unknown): Promise<'delivered' | 'kept' | 'ended'> {
    checkId(id);
    if (typeof name !== 'string' || !SIGNAL_PATTERN.test(name)) {
      throw new InvalidWorkflowError(
        `a signal name must be 1–100 characters of letters, digits and . _ -, got ${describe(name)}`,
      );
    }
    const problems = data === undefined ? [] : jsonSafetyProblems(data);
    if (problems.length) {
      throw new InvalidWorkflowError(
        `the data of signal '${name}' is not JSON-safe: ${problems.join('; ')}`,
      );
    }
    const outcome = await this.state.store.signal(id, name, JSON.stringify(data ?? null));
    if (outcome === 'unknown') throw new UnknownWorkflowError(id);
    if (outcome === 'ended' || outcome === 'kept') return outcome;
    await this.state.wake(id, `w${outcome}`);
    return 'delivered';
  }

  /**
   * Cancels a running workflow: the step jobs it is running are cancelled (a waiting one
   * removed, a running one's `ctx.signal` aborted, as `TaskProducer.cancel`), the
   * compensations of its completed steps run, and it ends `cancelled`. A sleep or a wait ends
   * at once. `'ended'` when it had ended or was compensating already.
   */
  async cancel(id: string, reason = 'cancelled'): Promise<'requested' | 'ended'> {
    checkId(id);
    if (typeof reason !== 'string') {
      throw new InvalidWorkflowError(`a cancel reason must be a string, got ${describe(reason)}`);
    }
    const outcome = await this.state.store.cancel(id, reason);
    if (outcome === 'unknown') throw new UnknownWorkflowError(id);
    if (outcome === 'requested') await this.state.wake(id, 'x');
    return outcome;
  }

  /**
   * The ids and status of the workflows in `status` (or in any status), oldest first. With
   * `limit` (1–1000), only the newest `limit` (still oldest first), read from a start-time
   * index of the newest 10,000 workflows, a page at a time: what a dashboard that refreshes
   * wants, whatever the number of workflows kept.
   */
  async list(
    filter: { status?: WorkflowStatus; limit?: number } = {},
  ): Promise<{ id: string; name: string; status: WorkflowStatus; createdAt: Date }[]> {
    if (!isPlainObject(filter)) {
      throw new InvalidWorkflowError(`list() takes { status }, got ${describe(filter)}`);
    }
    checkKnownKeys(filter as Record<string, unknown>, ['status', 'limit'], '', (problem) => {
      throw new InvalidWorkflowError(`list(): ${problem}`);
    });
    if (filter.status !== undefined && !WORKFLOW_STATUSES.includes(filter.status)) {
      throw new InvalidWorkflowError(
        `list(): status must be one of ${WORKFLOW_STATUSES.join(', ')}, got ${describe(filter.status)}`,
      );
    }
    if (
      filter.limit !== undefined &&
      !(Number.isInteger(filter.limit) && filter.limit >= 1 && filter.limit <= 1000)
    ) {
      throw new InvalidWorkflowError(
        `list(): limit must be an integer from 1 to 1000, got ${describe(filter.limit)}`,
      );
    }
    if (filter.limit !== undefined) return this.newest(filter.limit, filter.status);
    const statuses = filter.status ? [filter.status] : WORKFLOW_STATUSES;
    const perStatus = await Promise.all(statuses.map((s) => this.state.store.ids(s)));
    const statusOf = new Map(perStatus.flatMap((ids, i) => ids.map((id) => [id, statuses[i]])));
    const ids = perStatus.flat();
    const found = await Promise.all(ids.map((id) => this.state.store.summary(id)));
    // Ended workflows whose keys expired (workflowRetention) leave their status set now.
    await Promise.all(
      statuses.map((status) =>
        this.state.store.forget(
          status,
          ids.filter((id, i) => !found[i] && (statusOf.get(id) ?? status) === status),
        ),
      ),
    );
    return found
      .map((summary, i) => (summary ? { id: ids[i], ...summary } : undefined))
      .filter((summary) => summary !== undefined)
      .filter((summary) => !filter.status || summary.status === filter.status)
      .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime());
  }

  /** `list({ limit })`: pages of the start-time index until `limit` match, 10,000 read at most. */
  private async newest(
    limit: number,
    status: WorkflowStatus | undefined,
  ): Promise<{ id: string; name: string; status: WorkflowStatus; createdAt: Date }[]> {
    const found: { id: string; name: string; status: WorkflowStatus; createdAt: Date }[] = [];
    const PAGE = 200;
    for (let offset = 0; found.length < limit && offset < 10_000;) {
      const ids = await this.state.store.newest(offset, PAGE);
      const summaries = await Promise.all(ids.map((id) => this.state.store.summary(id)));
      const gone = ids.filter((_, i) => !summaries[i]);
      await this.state.store.forgetNewest(gone);
      summaries.forEach((summary, i) => {
        if (summary && (!status || summary.status === status) && found.length < limit) {
          found.push({ id: ids[i], ...summary });
        }
      });
      if (ids.length < PAGE) break;
      // Ids forgotten above left the index: the next page starts that many places earlier.
      offset += ids.length - gone.length;
    }
    return found.reverse();
  }
}

function checkId(id: unknown): asserts id is string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id) || /^\d+$/.test(id)) {
    throw new InvalidWorkflowError(
      `a workflow id must be 1–200 characters of letters, digits and . _ - (no ':' or '~'), ` +
        `not a plain integer; got ${describe(id)}`,
    );
  }
}
