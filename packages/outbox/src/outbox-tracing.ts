import { captureTrace, conveyorTracer, type TraceCarrier } from '@conveyor/tasks/internal';
import {
  type Context,
  context,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';

/**
 * Runs an outbox write in a PRODUCER span (`create <destination>`) and hands `write` the
 * span's trace context to store in the row, so the relay can continue the trace. Without an
 * SDK the span is a no-op and nothing is stored.
 */
export function traceWrite<T>(
  destination: string,
  kind: 'task' | 'event',
  write: (trace: TraceCarrier | null) => Promise<T>,
): Promise<T> {
  const parent = context.active();
  const span = conveyorTracer().startSpan(
    `create ${destination}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'bullmq',
        'messaging.operation.type': 'create',
        'messaging.operation.name': 'outbox',
        'conveyor.outbox.kind': kind,
        ...(kind === 'task' ? { 'messaging.destination.name': destination } : {}),
      },
    },
    parent,
  );
  // Without an SDK, no async frame of its own: every write in a transaction passes here.
  if (!span.isRecording()) return write(captureTrace(parent) ?? null);
  return recorded(span, trace.setSpan(parent, span), write);
}

async function recorded<T>(
  span: Span,
  ctx: Context,
  write: (trace: TraceCarrier | null) => Promise<T>,
): Promise<T> {
  try {
    return await context.with(ctx, () => write(captureTrace(ctx) ?? null));
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}
