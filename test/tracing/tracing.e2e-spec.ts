import {
  type CallHandler,
  Controller,
  type ExecutionContext,
  Injectable,
  type NestInterceptor,
  Post,
  UseInterceptors,
} from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { from, lastValueFrom, type Observable } from 'rxjs';
import { Outbox, OutboxInterceptor } from '@conveyor/outbox';
import { defineTask, Task, type TaskContext, TaskProducer } from '@conveyor/tasks';
import {
  openSql,
  type OutboxTestApp,
  type Sql,
  startOutboxApp,
  stopOutboxApps,
} from '../support/outbox-app';
import { eventually } from '../support/tasks-app';
import { installTracing, parentOf, type TestTracing } from '../support/tracing';

const Ship = defineTask<{ orderId: string }, void>('trace.ship', { queue: 'shipping' });
const Flaky = defineTask<{ n: number }, string>('trace.flaky', {
  queue: 'shipping',
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
});

const handled: Array<{ traceId?: string; spanId?: string }> = [];

@Injectable()
class TracedTasks {
  @Task(Ship)
  ship(): void {
    // The handler runs inside the consumer span: its own spans join the trace.
    const span = trace.getActiveSpan();
    handled.push({ traceId: span?.spanContext().traceId, spanId: span?.spanContext().spanId });
  }

  @Task(Flaky)
  flaky(_: { n: number }, ctx: TaskContext): string {
    if (ctx.attempt === 1) throw new Error('first attempt fails');
    return 'ok';
  }
}

/** Stands in for the app's HTTP instrumentation: a SERVER span around each request. */
@Injectable()
class HttpSpanInterceptor implements NestInterceptor {
  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = ctx.switchToHttp().getRequest<{ method: string; url: string }>();
    const span = trace
      .getTracer('test-http')
      .startSpan(`${request.method} ${request.url}`, { kind: SpanKind.SERVER });
    const active = trace.setSpan(context.active(), span);
    return from(
      context
        .with(active, () => lastValueFrom(next.handle(), { defaultValue: undefined }))
        .finally(() => span.end()),
    );
  }
}

@Controller('orders')
@UseInterceptors(OutboxInterceptor)
class OrdersController {
  constructor(private readonly outbox: Outbox) {}

  @Post()
  async create(): Promise<{ jobId: string }> {
    return { jobId: (await this.outbox.enqueue(Ship, { orderId: 'o-1' })).jobId };
  }
}

describe('tracing', () => {
  let tracing: TestTracing;
  let sql: Sql;
  let app: OutboxTestApp;

  beforeAll(async () => {
    tracing = installTracing();
    sql = await openSql('postgres');
  });
  afterAll(async () => {
    await sql.close();
    await tracing.shutdown();
  });
  beforeEach(async () => {
    handled.length = 0;
    tracing.reset();
    app = await startOutboxApp({
      backend: 'postgres',
      outbox: { relay: { pollInterval: '100ms' } },
      controllers: [OrdersController],
      providers: [TracedTasks, { provide: APP_INTERCEPTOR, useClass: HttpSpanInterceptor }],
    });
  });
  afterEach(() => stopOutboxApps(sql, app));

  it('runs one trace from the HTTP request through the outbox and the relay to the handler', async () => {
    const response = await fetch(`${app.url}/orders`, { method: 'POST' });
    expect(response.status).toBe(201);
    await eventually(() => handled.length === 1, 20_000, 'the handler to run');
    const spans = (await eventually(
      () => {
        const finished = tracing.spans();
        return finished.some((s) => s.name === 'process shipping') ? finished : undefined;
      },
      10_000,
      'the consumer span to end',
    ))!;

    const byName = (name: string) => {
      const found = spans.filter((s) => s.name === name);
      expect(found).toHaveLength(1);
      return found[0];
    };
    const http = byName('POST /orders');
    const write = byName('create shipping');
    const publish = byName('publish shipping');
    const run = byName('process shipping');

    const traceId = http.spanContext().traceId;
    for (const span of [write, publish, run]) expect(span.spanContext().traceId).toBe(traceId);
    expect(parentOf(http)).toBeUndefined();
    expect(parentOf(write)).toBe(http.spanContext().spanId);
    expect(parentOf(publish)).toBe(write.spanContext().spanId);
    expect(parentOf(run)).toBe(publish.spanContext().spanId);
    expect(handled[0]).toEqual({ traceId, spanId: run.spanContext().spanId });

    expect([write.kind, publish.kind, run.kind]).toEqual([
      SpanKind.PRODUCER,
      SpanKind.PRODUCER,
      SpanKind.CONSUMER,
    ]);
    const { jobId } = (await response.json()) as { jobId: string };
    expect(run.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.destination.name': 'shipping',
      'messaging.operation.type': 'process',
      'messaging.message.id': jobId,
      'conveyor.task': Ship.name,
      'conveyor.attempt': 1,
    });

    // The row kept the context of the span that wrote it.
    const [row] = await sql.query<{ trace: Record<string, string> }>(
      `SELECT trace FROM "${app.table}"`,
    );
    expect(row.trace.traceparent).toBe(`00-${traceId}-${write.spanContext().spanId}-01`);
  });

  it('makes each attempt of an enqueued job a new consumer span under the producer span', async () => {
    const root = trace.getTracer('test').startSpan('caller');
    const handle = await context.with(trace.setSpan(context.active(), root), () =>
      app.get(TaskProducer).enqueue(Flaky, { n: 1 }),
    );
    root.end();
    await handle.result({ timeout: '20s' });
    const runs = (await eventually(
      () => {
        const found = tracing.spans().filter((s) => s.name === 'process shipping');
        return found.length === 2 ? found : undefined;
      },
      10_000,
      'both attempts to end',
    ))!;
    const send = tracing.spans().find((s) => s.name === 'send shipping')!;
    expect(send.kind).toBe(SpanKind.PRODUCER);
    expect(parentOf(send)).toBe(root.spanContext().spanId);
    const [first, second] = [...runs].sort(
      (a, b) => Number(a.attributes['conveyor.attempt']) - Number(b.attributes['conveyor.attempt']),
    );
    for (const run of [first, second]) {
      expect(run.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(parentOf(run)).toBe(send.spanContext().spanId);
    }
    expect(first.spanContext().spanId).not.toBe(second.spanContext().spanId);
    expect(first.attributes['conveyor.attempt']).toBe(1);
    expect(first.status.code).toBe(SpanStatusCode.ERROR);
    expect(second.attributes['conveyor.attempt']).toBe(2);
    expect(second.status.code).not.toBe(SpanStatusCode.ERROR);
  });

  it('puts every job of an enqueueMany batch under its one producer span', async () => {
    const root = trace.getTracer('test').startSpan('caller');
    const handles = await context.with(trace.setSpan(context.active(), root), () =>
      app.get(TaskProducer).enqueueMany(Ship, [{ orderId: 'b-1' }, { orderId: 'b-2' }]),
    );
    root.end();
    await Promise.all(handles.map((handle) => handle.result({ timeout: '20s' })));
    const runs = (await eventually(
      () => {
        const found = tracing.spans().filter((s) => s.name === 'process shipping');
        return found.length === 2 ? found : undefined;
      },
      10_000,
      'both jobs to end',
    ))!;
    const sends = tracing.spans().filter((s) => s.name === 'send shipping');
    expect(sends).toHaveLength(1);
    for (const run of runs) {
      expect(run.spanContext().traceId).toBe(root.spanContext().traceId);
      expect(parentOf(run)).toBe(sends[0].spanContext().spanId);
    }
    expect(handled.map((h) => h.traceId)).toEqual([
      root.spanContext().traceId,
      root.spanContext().traceId,
    ]);
  });
});
