import { captureTrace, conveyorTracer, type TraceCarrier } from '@conveyor/tasks';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

/**
 * Runs an outbox write in a PRODUCER span (`create <destination>`) and hands `write` the
 * span's trace context to store in the row, so the relay can continue the trace. Without an
 * SDK the span is a no-op and nothing is stored.
 */
export async function traceWrite<T>(
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
  if (!span.isRecording()) return write(captureTrace(parent) ?? null);
  const ctx = trace.setSpan(parent, span);
  try {
    return await context.with(ctx, () => write(captureTrace(ctx) ?? null));
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
    throw error;
  } finally {
    span.end();
  }
}
