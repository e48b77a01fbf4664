import { Inject, Injectable } from '@nestjs/common';
import {
  InvalidPayloadError,
  InvalidTaskOptionsError,
  InvalidWorkflowError,
  TaskCancelledError,
  UnknownTaskError,
  UnknownWorkflowError,
} from '../errors';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';
import type { ResolvedModuleOptions } from '../options/module-options';
import { TaskCancellation } from '../producer/task-cancellation';
import { TaskProducer } from '../producer/task-producer';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import type { TaskRef } from '../interfaces/task-ref.interface';
import { TasksRegistry } from '../tasks.registry';
import type { WorkflowDefinition } from './define-workflow';
import { DurableState } from './durable-state';
import {
  type EntryMeta,
  FINAL_STATUSES,
  type StoredWorkflow,
  type WorkflowStatus,
} from './durable-store';
import { stepJobId, type StoredError, WorkflowReplay } from './workflow-replay';
import { WorkflowInstrumentation } from './workflow-instrumentation';

/** How one run of a workflow ended. */
export type RunEnd = WorkflowStatus | 'suspended' | 'unknown';

/**
 * Runs a durable workflow once: replays its code against its journal until it returns,
 * throws, or waits (a step's job, a timer, a signal). A workflow that throws, or is
 * cancelled, runs the compensations of its completed steps, one step at a time and newest
 * first, each as a job journaled like a step: a run that dies resumes them where they were.
 */
@Injectable()
export class DurableRuns {
  private readonly logger = new ConveyorLogger('Conveyor');
  private readonly definitions = new Map<string, WorkflowDefinition>();
  // TaskRefs the workflows' code passed, by task name, learnt in replays (see enqueueStep).
  private readonly refs = new Map<string, TaskRef>();

  constructor(
    @Inject(RESOLVED_TASKS_OPTIONS) options: ResolvedModuleOptions,
    private readonly state: DurableState,
    private readonly producer: TaskProducer,
    private readonly instrumentation: WorkflowInstrumentation,
    private readonly registry: TasksRegistry,
    private readonly cancellation: TaskCancellation,
  ) {
    for (const definition of options.workflows) this.definitions.set(definition.name, definition);
  }

  /** The workflows this process can run. */
  get registered(): ReadonlyMap<string, WorkflowDefinition> {
    return this.definitions;
  }

  async run(id: string, jobId: string): Promise<RunEnd> {
    const store = this.state.store;
    const stored = await store.read(id);
    if (!stored) return 'unknown';
    const status = stored.fields.status as WorkflowStatus;
    if (FINAL_STATUSES.has(status)) return status;
    const name = stored.fields.name;
    const definition = this.definitions.get(name);
    if (!definition) throw new UnknownWorkflowError(name, 'name', [...this.definitions.keys()]);
    return this.instrumentation.run(name, id, async () => {
      if (status === 'running' && stored.fields.cancel === undefined) {
        return this.replay(definition, id, stored, jobId);
      }
      if (status === 'running') {
        const error: StoredError = {
          name: 'WorkflowCancelledError',
          message: stored.fields.cancel!,
        };
        await store.transition(id, 'compensating', ['running'], {
          error: JSON.stringify(error),
          cancelled: '1',
        });
      }
      return this.compensate(id, definition);
    });
  }

  private async replay(
    definition: WorkflowDefinition,
    id: string,
    stored: StoredWorkflow,
    jobId: string,
  ): Promise<RunEnd> {
    const store = this.state.store;
    const replay = new WorkflowReplay(
      id,
      stored.journal,
      store,
      {
        enqueueStep: (workflowId, field, task, payload, queue) =>
          this.enqueueStep(workflowId, field, task, payload, queue),
        wakeAt: (workflowId, reason, at) => this.state.wake(workflowId, reason, at, jobId),
      },
      this.refs,
    );
    const input = JSON.parse(stored.fields.input) as unknown;
    // Through a then(): a workflow that throws synchronously or returns no promise fails
    // like one that rejects.
    const code = Promise.resolve()
      .then(() => definition.run(replay, input))
      .then(
        (value) => ({ ok: true as const, value }),
        (error: unknown) => ({ ok: false as const, error }),
      );
    const outcome = await Promise.race([code, replay.halted]);
    await replay.settled();
    const halt = replay.halt;
    if (halt?.kind === 'infrastructure') throw halt.error;
    if (halt?.kind === 'nondeterminism') {
      await store.transition(id, 'failed', ['running'], {
        error: JSON.stringify(toStored(halt.error)),
      });
      this.logger.error(halt.error.message, { workflow: definition.name, workflowId: id });
      return 'failed';
    }
    if (halt) return 'suspended';
    if (!('ok' in outcome)) return 'suspended';
    if (outcome.ok) {
      let result: string;
      try {
        result = JSON.stringify(outcome.value ?? null);
      } catch (error) {
        return this.fail(
          id,
          new InvalidWorkflowError(
            `workflow ${id} returned a value that is not JSON: ${(error as Error).message}`,
          ),
          definition,
        );
      }
      const moved = await store.transition(id, 'completed', ['running'], { result });
      return moved ? 'completed' : 'suspended';
    }
    return this.fail(id, outcome.error, definition);
  }

  /** The workflow's code threw: compensate what it did, or fail if there is nothing to undo. */
  private async fail(id: string, error: unknown, definition: WorkflowDefinition): Promise<RunEnd> {
    const moved = await this.state.store.transition(id, 'compensating', ['running'], {
      error: JSON.stringify(toStored(error)),
    });
    if (!moved) return 'suspended';
    return this.compensate(id, definition);
  }

  /**
   * The compensation phase: waits for steps still running (a parallel step), then runs the
   * next compensation not yet done, newest step first. One a run: its job's end wakes the
   * next run. Ends `compensated` (or `cancelled`), `failed` if a compensation failed for
   * good (its job is dead-lettered as any task's), or plain `failed` with nothing to undo.
   */
  private async compensate(id: string, definition: WorkflowDefinition): Promise<RunEnd> {
    const store = this.state.store;
    const stored = await store.read(id);
    if (!stored || stored.fields.status !== 'compensating') {
      return (stored?.fields.status as WorkflowStatus | undefined) ?? 'unknown';
    }
    const { journal } = stored;
    const steps = Object.keys(journal)
      .filter((field) => /^\d+$/.test(field))
      .map(Number)
      .sort((a, b) => b - a)
      .map((seq) => ({
        seq,
        meta: JSON.parse(journal[seq]) as EntryMeta,
        state: journal[`${seq}:s`],
      }))
      .filter(({ meta }) => meta.kind === 'step');
    const running = steps.filter(({ state }) => state === 'started');
    const names = [...running, ...steps.filter(({ state }) => state === 'ok')].flatMap(
      ({ meta }) => [meta.task!, ...(meta.compensate ? [meta.compensate.task] : [])],
    );
    if (names.some((name) => !this.registry.get(name) && !this.refs.has(name))) {
      await this.learnRefs(definition, id, stored);
    }
    if (running.length && stored.fields.cancelled === '1') {
      // Cancelled: the steps still running are cancelled too, then compensation goes on.
      let waiting = false;
      for (const { seq } of running) {
        waiting = (await this.cancelStep(id, String(seq), journal, stored.fields)) || waiting;
      }
      return waiting ? 'suspended' : this.compensate(id, definition);
    }
    if (running.length) {
      for (const { seq, meta } of running) {
        await this.enqueueStep(
          id,
          String(seq),
          meta.task!,
          parse(journal[`${seq}:in`]),
          meta.queue,
        );
      }
      return 'suspended';
    }
    const cancelled = stored.fields.cancelled === '1';
    const toUndo = steps.filter(({ meta, state }) => state === 'ok' && meta.compensate);
    for (const { seq, meta } of toUndo) {
      const field = `c${seq}`;
      const state = journal[`${field}:s`];
      if (state === 'ok') continue;
      if (state === 'failed') {
        await store.transition(id, 'failed', ['compensating'], {
          compensationError: journal[`${field}:err`] ?? '{}',
        });
        return 'failed';
      }
      const compensate = meta.compensate!;
      const payloadJson = compensate.payload ?? journal[`${seq}:in`] ?? 'null';
      const begun = await store.begin(
        id,
        field,
        { kind: 'compensation', task: compensate.task, step: seq, at: Date.now() },
        'started',
        payloadJson,
      );
      if (begun.state === 'ok') continue;
      if (begun.state === 'failed') return this.compensate(id, definition);
      await this.enqueueStep(id, field, compensate.task, parse(payloadJson));
      return 'suspended';
    }
    const end: WorkflowStatus = cancelled ? 'cancelled' : toUndo.length ? 'compensated' : 'failed';
    await store.transition(id, end, ['compensating']);
    return end;
  }

  /**
   * Cancels a running step's job. Removed before it ran (or never added): its failure is
   * recorded here. Running: its worker ends it cancelled, which records the failure and wakes
   * the workflow (`true`: wait for that).
   */
  private async cancelStep(
    id: string,
    field: string,
    journal: Record<string, string>,
    fields: Record<string, string>,
  ): Promise<boolean> {
    const queue = journal[`${field}:q`];
    const reason = fields.cancel ?? 'cancelled';
    const outcome = queue
      ? await this.cancellation.cancel(queue, stepJobId(id, field), reason)
      : 'not-found';
    if (outcome === 'signalled') return true;
    if (outcome === 'finished') return false;
    const error = toStored(new TaskCancelledError(stepJobId(id, field), reason));
    await this.state.store.settle(id, field, false, JSON.stringify(error));
    return false;
  }

  /**
   * Replays the code against the journal without writing, to learn the TaskRefs of steps
   * and compensations whose handlers live in another service: a process that did not run
   * the workflow's earlier runs knows those tasks only through the refs its code passes.
   */
  private async learnRefs(
    definition: WorkflowDefinition,
    id: string,
    stored: StoredWorkflow,
  ): Promise<void> {
    const none = () => Promise.resolve();
    const replay = new WorkflowReplay(
      id,
      stored.journal,
      this.state.store,
      { enqueueStep: none, wakeAt: none },
      this.refs,
      true,
    );
    const input = JSON.parse(stored.fields.input) as unknown;
    const code = Promise.resolve().then(() => definition.run(replay, input));
    await Promise.race([code.catch(() => undefined), replay.halted]);
    await replay.settled();
  }

  private async enqueueStep(
    id: string,
    field: string,
    ref: TaskRef | string,
    payload: unknown,
    queue?: string,
  ): Promise<void> {
    const task = typeof ref === 'string' ? ref : ref.name;
    // A local handler's options win; otherwise the code's ref, so a task handled in another
    // service keeps its options and queue.
    const known = this.registry.get(task) ? task : (this.refs.get(task) ?? ref);
    try {
      const handle = await this.producer.enqueue(known as string, payload, {
        jobId: stepJobId(id, field),
        ...(queue === undefined ? {} : { queue }),
      });
      // Where it went (routing may choose): a cancel of the workflow cancels the job there.
      await this.state.store.placed(id, field, handle.queue);
    } catch (error) {
      // A step that can never be enqueued fails as a step would, in the workflow's code.
      if (
        error instanceof UnknownTaskError ||
        error instanceof InvalidPayloadError ||
        error instanceof InvalidTaskOptionsError
      ) {
        await this.state.store.settle(id, field, false, JSON.stringify(toStored(error)));
        throw new InvalidWorkflowError(
          `step ${field} of workflow ${id} (${task}): ${error.message}`,
        );
      }
      this.logger.warn(`workflow ${id}: could not enqueue step ${field} (${task})`, {
        workflowId: id,
        error: errorField(error),
      });
      throw error;
    }
  }
}

function toStored(error: unknown): StoredError {
  const err = error instanceof Error ? error : new Error(String(error));
  return { name: err.name, message: err.message };
}

function parse(json: string | undefined): unknown {
  return json === undefined ? null : (JSON.parse(json) as unknown);
}
