import { Injectable } from '@nestjs/common';
import {
  RetryTaskError,
  Task,
  type TaskContext,
  UnrecoverableTaskError,
  Workflows,
} from '@conveyor/tasks';
import {
  CardDeclinedError,
  FakeMailer,
  FakePaymentGateway,
  FakeWarehouse,
  ProviderBusyError,
  sleep,
} from './fake-providers';
import {
  ChargePayment,
  IndexOrder,
  OrderCreated,
  type OrderItem,
  ReserveInventory,
  SendConfirmation,
} from './order.tasks';
import {
  FulfilOrder,
  type FulfilInput,
  fulfilmentId,
  ReleaseStock,
  RefundPayment,
  ReserveStock,
  StartFulfilment,
} from './order.saga';

/** The workers' side of an order: each handler shows one Conveyor feature in use. */
@Injectable()
export class OrderHandlers {
  constructor(
    private readonly mailer: FakeMailer,
    private readonly payments: FakePaymentGateway,
    private readonly warehouse: FakeWarehouse,
    private readonly workflows: Workflows,
  ) {}

  /** Retries with backoff against a flaky provider, within a global rate limit. */
  @Task(SendConfirmation)
  async sendConfirmation({ orderId, email }: { orderId: string; email: string }, ctx: TaskContext) {
    const messageId = await this.mailer.send(email, `Order ${orderId} confirmed`, ctx.signal);
    ctx.log.log(`confirmation sent on attempt ${ctx.attempt}`);
    return { messageId };
  }

  /**
   * Enqueued with an idempotency key (`charge:<orderId>`): a redelivered or replayed job
   * returns the stored charge instead of charging twice. A decline is permanent: no retry,
   * straight to the dead-letter queue, from where ops replay it once the limit is raised.
   * A 429 is the provider asking us to wait: the retry honours its `Retry-After` and spends
   * no attempt (up to `maxUncountedRetries`), since the charge itself did not fail.
   */
  @Task(ChargePayment)
  async charge({ orderId, amountCents }: { orderId: string; amountCents: number }) {
    try {
      return { chargeId: await this.payments.charge(`order-${orderId}`, amountCents) };
    } catch (error) {
      if (error instanceof CardDeclinedError) throw new UnrecoverableTaskError(error.message);
      if (error instanceof ProviderBusyError) {
        throw new RetryTaskError({
          delay: `${error.retryAfterSeconds}s`,
          countAttempt: false,
          cause: error,
        });
      }
      throw error;
    }
  }

  /** One of two subscribers of `order.created`. */
  @Task(ReserveInventory, { on: OrderCreated })
  async reserve({ items }: { orderId: string; items: OrderItem[] }) {
    await sleep(5);
    return { reserved: items.reduce((sum, item) => sum + item.quantity, 0) };
  }

  /** The other subscriber, with a soft time limit: it stops cleanly when the signal aborts. */
  @Task(IndexOrder, { on: OrderCreated })
  async index({ orderId }: { orderId: string }, ctx: TaskContext) {
    try {
      await sleep(50, ctx.signal);
      return { indexed: true };
    } catch {
      ctx.log.warn(
        `indexing of ${orderId} stopped at its time limit; the nightly reindex will catch up`,
      );
      return { indexed: false };
    }
  }

  /**
   * Starts a large order's saga, from the outbox: the order row and this job commit together,
   * and the workflow id makes a second delivery start nothing new.
   */
  @Task(StartFulfilment)
  async startFulfilment(input: FulfilInput) {
    const run = await this.workflows.start(FulfilOrder, input, { id: fulfilmentId(input.orderId) });
    return { workflowId: run.id };
  }

  /** The saga's first step: stock held for the order (a stand-in for a warehouse call). */
  @Task(ReserveStock)
  async reserveStock({ orderId, items }: { orderId: string; items: OrderItem[] }) {
    this.warehouse.hold(
      orderId,
      items.reduce((sum, item) => sum + item.quantity, 0),
    );
    return { held: this.warehouse.heldFor(orderId) };
  }

  /** Undoes ReserveStock: idempotent, as every compensation must be. */
  @Task(ReleaseStock)
  async releaseStock({ orderId }: { orderId: string }) {
    this.warehouse.release(orderId);
  }

  /** Undoes a charge: idempotent (a second refund of the same order does nothing). */
  @Task(RefundPayment)
  async refund({ orderId }: { orderId: string }) {
    this.payments.refund(`order-${orderId}`);
  }
}
