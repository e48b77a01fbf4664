import {
  BadRequestException,
  Body,
  Controller,
  Inject,
  Injectable,
  Post,
  UseInterceptors,
} from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import { Outbox, OutboxInterceptor, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { defineEvent, defineTask, Task, type TaskContext } from '@conveyor/tasks';
import { z } from 'zod';

export const SendConfirmation = defineTask<{ orderId: string }, void>('order.send-confirmation');
export const AuditOrder = defineTask<{ orderId: string }, void>('order.audit', {
  queue: 'audit',
});
export const IndexOrder = defineTask<{ orderId: string }, void>('order.index');
export const Strict = defineTask('order.strict', {
  schema: z.object({ orderId: z.string().min(1) }),
});
export const OrderCreated = defineEvent<{ orderId: string }>('order.created');
export const OrderUpdated = defineEvent<{ orderId: string }>('order.updated');

/** Token of the business table the test controller writes to. */
export const ORDERS_TABLE = Symbol('ORDERS_TABLE');

/** Records what each task handler received, with the job id. */
@Injectable()
export class Seen {
  readonly runs: Array<{ task: string; orderId: string; jobId: string }> = [];

  of(task: string): string[] {
    return this.runs.filter((r) => r.task === task).map((r) => r.orderId);
  }
}

@Injectable()
export class OrderTasks {
  constructor(private readonly seen: Seen) {}

  @Task(SendConfirmation)
  confirm(payload: { orderId: string }, ctx: TaskContext): void {
    this.seen.runs.push({ task: 'confirm', orderId: payload.orderId, jobId: ctx.jobId });
  }

  @Task(AuditOrder, { on: OrderCreated })
  audit(payload: { orderId: string }, ctx: TaskContext): void {
    this.seen.runs.push({ task: 'audit', orderId: payload.orderId, jobId: ctx.jobId });
  }

  @Task(IndexOrder, { on: [OrderCreated, OrderUpdated] })
  index(payload: { orderId: string }, ctx: TaskContext): void {
    this.seen.runs.push({ task: 'index', orderId: payload.orderId, jobId: ctx.jobId });
  }

  @Task(Strict)
  strict(): void {}
}

export interface CreateOrder {
  id: string;
  emit?: boolean;
  fail?: boolean;
}

/** A business route: one row in the orders table, one job, maybe one event, maybe a throw. */
@Controller('orders')
@UseInterceptors(OutboxInterceptor)
export class OrdersController {
  constructor(
    private readonly txHost: TransactionHost<OutboxTransactionalAdapter>,
    private readonly outbox: Outbox,
    @Inject(ORDERS_TABLE) private readonly table: string,
  ) {}

  @Post()
  async create(@Body() body: CreateOrder): Promise<{ jobId: string }> {
    await this.txHost.tx.query(`INSERT INTO "${this.table}" (id) VALUES ($1)`, [body.id]);
    const { jobId } = await this.outbox.enqueue(SendConfirmation, { orderId: body.id });
    if (body.emit) await this.outbox.emit(OrderCreated, { orderId: body.id });
    if (body.fail) throw new BadRequestException('the order cannot be placed');
    return { jobId };
  }
}
