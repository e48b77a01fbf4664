import {
  type Context,
  context,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
  type TextMapGetter,
} from '@opentelemetry/api';
import { DelayedError, type Job, type JobsOptions, WaitingError } from 'bullmq';

/** The tracer of every Conveyor span; a no-op until the app installs an OpenTelemetry SDK. */
export const conveyorTracer = () => trace.getTracer('@conveyor/tasks');

/** Carrier of a W3C trace context (`traceparent`, `tracestate`), as stored with a job or row. */
export type TraceCarrier = Record<string, string>;

const getter: TextMapGetter<TraceCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * The trace context of `ctx` (the active one by default) through the app's propagator, or
 * `undefined` when there is none (no SDK, or no span): nothing is then stored.
 */
export function captureTrace(ctx: Context = context.active()): TraceCarrier | undefined {
  const span = trace.getSpan(ctx);
  if (!span || !trace.isSpanContextValid(span.spanContext())) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(ctx, carrier);
  return Object.keys(carrier).length ? carrier : undefined;
}

/** A context whose parent is the one the carrier holds (the active one when there is none). */
export function restoreTrace(carrier: TraceCarrier | null | undefined): Context {
  return carrier ? propagation.extract(context.active(), carrier, getter) : context.active();
}

/** The trace context a job carries in `opts.telemetry.metadata` (JSON of the carrier). */
export function jobTrace(job: Job): TraceCarrier | undefined {
  const metadata = job.opts?.telemetry?.metadata;
  if (!metadata) return undefined;
  try {
    return JSON.parse(metadata) as TraceCarrier;
  } catch {
    return undefined;
  }
}

/**
 * Starts the PRODUCER span (`send <queue>`) of an enqueue and stores its context in the job
 * options (`telemetry.metadata`, BullMQ's own field for propagation, kept across retries).
 * `undefined` without an SDK: nothing is stored and nothing needs ending.
 */
export function startSendSpan(task: string, queue: string, opts: JobsOptions): Span | undefined {
  const parent = context.active();
  const span = conveyorTracer().startSpan(
    `send ${queue}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.destination.name': queue,
        'messaging.operation.type': 'send',
        'messaging.operation.name': 'send',
        'conveyor.task': task,
      },
    },
    parent,
  );
  if (!span.isRecording()) return undefined;
  const carrier = captureTrace(trace.setSpan(parent, span));
  if (carrier) opts.telemetry = { ...opts.telemetry, metadata: JSON.stringify(carrier) };
  return span;
}

/**
 * Runs one attempt of a job in a CONSUMER span (`process <queue>`) whose parent is the
 * context the job carries, so every attempt of a job is a new span in the enqueuer's trace.
 */
export async function traceRun<T>(job: Job, run: () => Promise<T>): Promise<T> {
  const carrier = jobTrace(job);
  const parent = carrier ? restoreTrace(carrier) : context.active();
  const span = conveyorTracer().startSpan(
    `process ${job.queueName}`,
    { kind: SpanKind.CONSUMER },
    parent,
  );
  // Without an SDK the span is a no-op: no attributes, no context switch, per job.
  if (!span.isRecording()) return run();
  span.setAttributes({
    'messaging.system': 'bullmq',
    'messaging.destination.name': job.queueName,
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'process',
    'messaging.message.id': job.id ?? '',
    'conveyor.task': job.name,
    'conveyor.attempt': job.attemptsMade + 1,
  });
  try {
    return await context.with(trace.setSpan(parent, span), run);
  } catch (error) {
    // Handing back or deferring a job is not a failure of the run.
    if (!(error instanceof DelayedError) && !(error instanceof WaitingError)) failSpan(span, error);
    throw error;
  } finally {
    span.end();
  }
}

/** Marks a span failed with the error. */
export function failSpan(span: Span, error: unknown): void {
  const err = error instanceof Error ? error : new Error(String(error));
  span.recordException(err);
  span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
}
