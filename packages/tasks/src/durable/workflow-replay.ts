import {
  InvalidWorkflowError,
  TaskFailedError,
  WorkflowNonDeterminismError,
  WorkflowTimeoutError,
} from '../errors';
import type { Duration } from '../interfaces/duration.interface';
import type { TaskRef } from '../interfaces/task-ref.interface';
import { describe, parseDuration } from '../options/validation';
import type { Compensation, WorkflowStepOptions, WorkflowContext } from './define-workflow';
import type { DurableStore, EntryMeta } from './durable-store';

/** What a replay asks of the engine: jobs and timers, all idempotent. */
export interface ReplayEffects {
  /** Adds a step's (or compensation's) job under the id `dwf~<id>~<field>`. */
  enqueueStep(
    id: string,
    field: string,
    task: TaskRef | string,
    payload: unknown,
    queue?: string,
  ): Promise<void>;
  /** Runs the workflow again at `at` (ms), under a wake id made of `reason`. */
  wakeAt(id: string, reason: string, at: number): Promise<void>;
}

/** Why a replay stopped before the workflow's code returned. */
export type Halt =
  | { kind: 'suspend' }
  | { kind: 'infrastructure'; error: unknown }
  | { kind: 'nondeterminism'; error: WorkflowNonDeterminismError };

/** What a call that halted the replay returns to `track()`. */
const HALTED = Symbol('halted');

const SIGNAL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/**
 * One replay of a workflow's code: `ctx.step(n)` returns what the journal holds for entry n;
 * the first entry that is not settled begins (a job, a timer) and halts the replay. A halted
 * replay's pending calls never resolve, so no code of the workflow runs past a wait, whatever
 * it catches: the engine ends the run as soon as `halted` resolves and the calls begun in the
 * same tick (`Promise.all` of steps) are written.
 */
export class WorkflowReplay implements WorkflowContext {
  private seq = 0;
  private haltedWith?: Halt;
  private resolveHalt!: (halt: Halt) => void;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Resolves when the replay must stop. */
  readonly halted = new Promise<Halt>((resolve) => (this.resolveHalt = resolve));

  constructor(
    readonly workflowId: string,
    private readonly journal: Record<string, string>,
    private readonly store: DurableStore,
    private readonly effects: ReplayEffects,
    /**
     * Every TaskRef the code passes (steps and compensations), by name: a task whose handler
     * lives in another service is enqueued through its ref (its options, its queue).
     */
    private readonly refs: Map<string, TaskRef>,
    /** Only read the journal (to learn the refs): begin nothing, write nothing. */
    private readonly dry = false,
  ) {}

  get halt(): Halt | undefined {
    return this.haltedWith;
  }

  /** Waits for the calls that were being written when the replay halted. */
  async settled(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  step<P, R, H>(
    task: TaskRef<P, R, H>,
    payload: P,
    options: WorkflowStepOptions<P> = {},
  ): Promise<R> {
    const seq = this.seq++;
    return this.track(() => this.runStep(seq, task, payload, options)) as Promise<R>;
  }

  sleep(duration: Duration): Promise<void> {
    const seq = this.seq++;
    return this.track(() => this.runSleep(seq, duration)) as Promise<void>;
  }

  waitFor<T = unknown>(name: string, options: { timeout?: Duration } = {}): Promise<T> {
    const seq = this.seq++;
    return this.track(() => this.runWait(seq, name, options)) as Promise<T>;
  }

  private track(call: () => Promise<unknown>): Promise<unknown> {
    if (this.haltedWith) return new Promise(() => undefined);
    const written = call().catch((error: unknown) => {
      // Errors of the workflow's own making go to its code; Redis's end the run, to retry it.
      if (error instanceof InvalidWorkflowError || error instanceof TaskFailedError) throw error;
      if (error instanceof WorkflowTimeoutError) throw error;
      if (error instanceof WorkflowNonDeterminismError) {
        return this.stop({ kind: 'nondeterminism', error });
      }
      return this.stop({ kind: 'infrastructure', error });
    });
    this.inFlight.add(written);
    const forget = () => this.inFlight.delete(written);
    written.then(forget, forget);
    // A halted call never resolves: the workflow's code goes no further than its wait.
    return written.then((value) => (value === HALTED ? new Promise(() => undefined) : value));
  }

  /** Halts the replay; the calling step's promise never resolves. */
  private stop(halt: Halt): typeof HALTED {
    if (!this.haltedWith || this.haltedWith.kind === 'suspend') {
      this.haltedWith = halt.kind === 'suspend' && this.haltedWith ? this.haltedWith : halt;
      this.resolveHalt(this.haltedWith);
    }
    return HALTED;
  }

  private recorded(seq: number): EntryMeta | undefined {
    const raw = this.journal[String(seq)];
    return raw === undefined ? undefined : (JSON.parse(raw) as EntryMeta);
  }

  private check(seq: number, meta: EntryMeta, expected: EntryMeta): void {
    const same =
      meta.kind === expected.kind &&
      (meta.kind !== 'step' || meta.task === expected.task) &&
      (meta.kind !== 'wait' || meta.signal === expected.signal);
    if (!same) {
      throw new WorkflowNonDeterminismError(this.workflowId, seq, label(meta), label(expected));
    }
  }

  private async runStep<P>(
    seq: number,
    task: TaskRef<P, unknown, unknown>,
    payload: P,
    options: WorkflowStepOptions<P>,
  ): Promise<unknown> {
    if (typeof task !== 'object' || task === null || typeof task.name !== 'string') {
      throw new InvalidWorkflowError(
        `ctx.step() #${seq} of workflow ${this.workflowId} needs a TaskRef, got ${describe(task)}`,
      );
    }
    this.refs.set(task.name, task as TaskRef);
    const expected: EntryMeta = { kind: 'step', task: task.name, at: Date.now() };
    if (options.queue !== undefined) expected.queue = options.queue;
    const compensate = options.compensate as Partial<TaskRef & Compensation> | undefined;
    if (compensate !== undefined) {
      const isRef = typeof compensate?.name === 'string';
      if (!isRef && typeof compensate?.task !== 'string') {
        throw new InvalidWorkflowError(
          `compensate of step #${seq} (${task.name}) must be a TaskRef or compensateWith(task, payload), got ${describe(compensate)}`,
        );
      }
      expected.compensate = isRef
        ? { task: compensate.name! }
        : { task: compensate.task!, payload: JSON.stringify(compensate.payload ?? null) };
      const ref = isRef ? (compensate as TaskRef) : compensate.ref;
      if (ref) this.refs.set(ref.name, ref);
    }
    let meta = this.recorded(seq);
    let state = this.journal[`${seq}:s`];
    if (this.dry && state !== 'ok' && state !== 'failed') return this.stop({ kind: 'suspend' });
    if (!meta) {
      ({ meta, state } = await this.store.begin(
        this.workflowId,
        String(seq),
        expected,
        'started',
        JSON.stringify(payload ?? null),
      ));
    }
    this.check(seq, meta, expected);
    if (state === 'started' && this.journal[String(seq)] !== undefined) {
      // Begun by an earlier run: read its state again, as it may have settled since.
      ({ state } = await this.store.begin(this.workflowId, String(seq), meta, 'started'));
    }
    if (state === 'ok' || state === 'failed') return this.settledStep(seq, meta, state);
    // Begun by this run, or by one that died before its job was added: the id makes it once.
    await this.effects.enqueueStep(
      this.workflowId,
      String(seq),
      task as TaskRef,
      payload,
      meta.queue,
    );
    return this.stop({ kind: 'suspend' });
  }

  private async settledStep(seq: number, meta: EntryMeta, state: string): Promise<unknown> {
    let out = this.journal[`${seq}:${state === 'ok' ? 'out' : 'err'}`];
    if (out === undefined) {
      // Settled after this replay read the journal.
      const stored = await this.store.read(this.workflowId);
      out = stored?.journal[`${seq}:${state === 'ok' ? 'out' : 'err'}`] ?? 'null';
    }
    if (state === 'ok') return JSON.parse(out) as unknown;
    const error = JSON.parse(out) as StoredError;
    throw new TaskFailedError(
      meta.task!,
      stepJobId(this.workflowId, String(seq)),
      error.name,
      error.message,
      error.attemptsMade ?? 0,
      error.stack,
    );
  }

  private async runSleep(seq: number, duration: Duration): Promise<void> {
    const ms = parseDuration(
      duration,
      `ctx.sleep() #${seq} of workflow ${this.workflowId}`,
      (p) => {
        throw new InvalidWorkflowError(p);
      },
    );
    const expected: EntryMeta = { kind: 'sleep', at: Date.now(), until: Date.now() + ms };
    let meta = this.recorded(seq);
    let state = this.journal[`${seq}:s`];
    if (this.dry && state !== 'ok') return this.stop({ kind: 'suspend' }) as never;
    if (!meta)
      ({ meta, state } = await this.store.begin(this.workflowId, String(seq), expected, 'started'));
    this.check(seq, meta, expected);
    if (state === 'ok') return;
    if (Date.now() >= meta.until!) {
      await this.store.settle(this.workflowId, String(seq), true, 'null');
      return;
    }
    await this.effects.wakeAt(this.workflowId, `t${seq}`, meta.until!);
    this.stop({ kind: 'suspend' });
    return HALTED as never;
  }

  private async runWait(
    seq: number,
    name: string,
    options: { timeout?: Duration },
  ): Promise<unknown> {
    if (typeof name !== 'string' || !SIGNAL_NAME.test(name)) {
      throw new InvalidWorkflowError(
        `ctx.waitFor() #${seq} of workflow ${this.workflowId}: a signal name must be 1–100 characters of letters, digits and . _ -, got ${describe(name)}`,
      );
    }
    const timeoutMs =
      options.timeout === undefined
        ? undefined
        : parseDuration(options.timeout, `waitFor('${name}').timeout`, (p) => {
            throw new InvalidWorkflowError(p);
          });
    const expected: EntryMeta = { kind: 'wait', signal: name, at: Date.now() };
    if (timeoutMs !== undefined) expected.until = Date.now() + timeoutMs;
    let meta = this.recorded(seq);
    let state = this.journal[`${seq}:s`];
    let data = this.journal[`${seq}:out`] ?? '';
    if (this.dry && state !== 'signalled' && state !== 'timedout') {
      return this.stop({ kind: 'suspend' });
    }
    if (!meta) {
      ({ state, data } = await this.store.wait(this.workflowId, seq, expected, name));
      meta = expected;
      // Begun by a run that raced this one: its entry is the one to follow.
      const stored = (await this.store.read(this.workflowId))?.journal[String(seq)];
      if (stored) meta = JSON.parse(stored) as EntryMeta;
    }
    this.check(seq, meta, expected);
    if (state === 'waiting' && meta.until !== undefined && Date.now() >= meta.until) {
      ({ state, data } = await this.store.timeout(this.workflowId, seq));
    }
    if (state === 'signalled') return JSON.parse(data || 'null') as unknown;
    if (state === 'timedout') {
      throw new WorkflowTimeoutError(this.workflowId, name, meta.until! - meta.at);
    }
    if (meta.until !== undefined) await this.effects.wakeAt(this.workflowId, `t${seq}`, meta.until);
    return this.stop({ kind: 'suspend' });
  }
}

/** A failed step's error as the journal keeps it. */
export interface StoredError {
  name: string;
  message: string;
  attemptsMade?: number;
  stack?: string;
}

/** The job id of a workflow's step or compensation: `dwf~<workflow id>~<journal field>`. */
export function stepJobId(workflowId: string, field: string): string {
  return `dwf~${workflowId}~${field}`;
}

/** The workflow id and journal field of a step's job id; `undefined` for any other job. */
export function parseStepJobId(
  jobId: string | undefined,
): { id: string; field: string } | undefined {
  if (!jobId?.startsWith('dwf~')) return undefined;
  const end = jobId.lastIndexOf('~');
  if (end <= 4) return undefined;
  const field = jobId.slice(end + 1);
  if (!/^c?\d+$/.test(field)) return undefined;
  return { id: jobId.slice(4, end), field };
}

function label(meta: EntryMeta): string {
  if (meta.kind === 'step') return `step ${meta.task}`;
  if (meta.kind === 'wait') return `waitFor('${meta.signal}')`;
  return meta.kind;
}
