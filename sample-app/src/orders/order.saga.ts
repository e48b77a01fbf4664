import { compensateWith, defineTask, defineWorkflow } from '@conveyor/tasks';
import { ChargePayment, type OrderItem, SendConfirmation } from './order.tasks';

/** The saga's own steps: stock held for one order, and what undoes each step. */
export const ReserveStock = defineTask<{ orderId: string; items: OrderItem[] }, { held: number }>(
  'stock.reserve',
);
export const ReleaseStock = defineTask<{ orderId: string; items: OrderItem[] }, void>(
  'stock.release',
);
export const RefundPayment = defineTask<{ orderId: string }, void>('payment.refund', {
  queue: 'payments',
  attempts: 5,
});

/** What an admin sends to an order that waits for approval. */
export interface Approval {
  approved: boolean;
  by: string;
}

/** The task that starts an order's saga once its row is committed (see OrdersService). */
export const StartFulfilment = defineTask<FulfilInput, { workflowId: string }>(
  'order.start-fulfilment',
);

export interface FulfilInput {
  orderId: string;
  email: string;
  items: OrderItem[];
  amountCents: number;
}

/** The id of an order's saga: one per order, so a repeated start starts nothing new. */
export const fulfilmentId = (orderId: string) => `fulfil-${orderId}`;

/**
 * A large order as a saga: hold the stock, wait for an admin's approval (two days at most),
 * charge, confirm. When a later step fails for good, or the approval is refused or never
 * comes, what was done is undone, newest first: the charge refunded, the stock released.
 */
export const FulfilOrder = defineWorkflow<FulfilInput, { chargeId: string }>(
  'order.fulfil',
  async (ctx, { orderId, email, items, amountCents }) => {
    await ctx.step(ReserveStock, { orderId, items }, { compensate: ReleaseStock });
    const approval = await ctx.waitFor<Approval>('approval', { timeout: '2d' });
    if (!approval.approved) throw new Error(`order ${orderId} refused by ${approval.by}`);
    const { chargeId } = await ctx.step(
      ChargePayment,
      { orderId, amountCents },
      { compensate: compensateWith(RefundPayment, { orderId }) },
    );
    await ctx.step(SendConfirmation, { orderId, email });
    return { chargeId };
  },
);
