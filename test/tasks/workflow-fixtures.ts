import { Injectable } from '@nestjs/common';
import {
  defineTask,
  isStepFailure,
  Task,
  type TaskContext,
  UnrecoverableTaskError,
} from '@conveyor/tasks';

export const Start = defineTask<{ n: number }, number>('wf.start');
export const Double = defineTask<number, number>('wf.double');
export const Inc = defineTask<number, number>('wf.inc');
export const Boom = defineTask<number, never>('wf.boom', {
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
});
export const Square = defineTask<{ i: number; fail?: boolean; sleepMs?: number }, number>(
  'wf.square',
);
export const SumDeep = defineTask<unknown[], number>('wf.sum-deep');
export const Noop = defineTask<Record<string, never>, void>('wf.noop');
export const Echo = defineTask<unknown, { got: unknown }>('wf.echo');
export const Tally = defineTask<unknown[], { sum: number; failed: number[] }>('wf.tally');
export const Add = defineTask<{ a: number; b: number }, number>('wf.add');

/** Workflow tasks that record every run, so tests can tell what ran and how often. */
@Injectable()
export class WorkflowTasks {
  readonly runs: Array<{ task: string; payload: unknown; jobId: string }> = [];

  ran(task: string): Array<{ payload: unknown; jobId: string }> {
    return this.runs.filter((run) => run.task === task);
  }

  private record(payload: unknown, ctx: TaskContext): void {
    this.runs.push({ task: ctx.taskName, payload, jobId: ctx.jobId });
  }

  @Task(Start)
  start(payload: { n: number }, ctx: TaskContext): number {
    this.record(payload, ctx);
    return payload.n;
  }

  @Task(Double)
  double(payload: number, ctx: TaskContext): number {
    this.record(payload, ctx);
    return payload * 2;
  }

  @Task(Inc)
  inc(payload: number, ctx: TaskContext): number {
    this.record(payload, ctx);
    return payload + 1;
  }

  @Task(Boom)
  boom(payload: number, ctx: TaskContext): never {
    this.record(payload, ctx);
    throw new RangeError(`cannot handle ${payload}`);
  }

  @Task(Square)
  async square(payload: { i: number; fail?: boolean; sleepMs?: number }, ctx: TaskContext) {
    this.record(payload, ctx);
    if (payload.sleepMs) await new Promise((resolve) => setTimeout(resolve, payload.sleepMs));
    if (payload.fail) throw new UnrecoverableTaskError(`member ${payload.i} refused`);
    return payload.i * payload.i;
  }

  @Task(SumDeep)
  sumDeep(payload: unknown[], ctx: TaskContext): number {
    this.record(payload, ctx);
    const sum = (value: unknown): number =>
      Array.isArray(value) ? value.reduce((total: number, v) => total + sum(v), 0) : Number(value);
    return sum(payload);
  }

  @Task(Noop)
  noop(payload: Record<string, never>, ctx: TaskContext): void {
    this.record(payload, ctx);
  }

  @Task(Echo)
  echo(payload: unknown, ctx: TaskContext): { got: unknown } {
    this.record(payload, ctx);
    return { got: payload };
  }

  @Task(Add)
  add(payload: { a: number; b: number }, ctx: TaskContext): number {
    this.record(payload, ctx);
    return payload.a + payload.b;
  }

  @Task(Tally)
  tally(payload: unknown[], ctx: TaskContext): { sum: number; failed: number[] } {
    this.record(payload, ctx);
    const failed: number[] = [];
    let sum = 0;
    payload.forEach((value, i) => {
      if (isStepFailure(value)) failed.push(i);
      else sum += value as number;
    });
    return { sum, failed };
  }
}
