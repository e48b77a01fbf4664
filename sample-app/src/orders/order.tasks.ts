import { defineEvent, defineTask } from '@conveyor/tasks';

/** Task definitions, shared by the code that writes them and the handlers that run them. */

export const SendConfirmation = defineTask<
  { orderId: string; email: string },
  { messageId: string }
>('email.send-confirmation', {
  queue: 'email',
  attempts: 5,
  // The mail provider is flaky: retry soon, then less and less often.
  backoff: { type: 'exponential', delay: '500ms', max: '10s', jitter: 0.2 },
  // The provider allows 10 sends a second for the whole account, across all workers.
  rateLimit: '10/s',
  // When the provider is down, stop hammering it: after 10 failed sends within a minute, the
  // confirmations wait (parked, no attempt spent) for 15 s, then one send probes the provider.
  circuitBreaker: { name: 'mail-provider', failureThreshold: 10, window: '1m', cooldown: '15s' },
  // Support looks confirmations up by order or address: the dashboard finds them in the index.
  searchable: ['orderId', 'email'],
});

export const ChargePayment = defineTask<
  { orderId: string; amountCents: number },
  { chargeId: string }
>('payment.charge', {
  queue: 'payments',
  attempts: 3,
  backoff: { type: 'fixed', delay: '1s' },
  searchable: ['orderId'],
});

export const ReserveInventory = defineTask<
  { orderId: string; items: OrderItem[] },
  { reserved: number }
>('inventory.reserve');

export const IndexOrder = defineTask<{ orderId: string }, { indexed: boolean }>('search.index', {
  // Soft limit: the handler sees ctx.signal abort and stops indexing cleanly.
  timeout: '2s',
});

export interface OrderItem {
  sku: string;
  quantity: number;
}

/** The event the order service emits; `ReserveInventory` and `IndexOrder` subscribe to it. */
export const OrderCreated = defineEvent<{ orderId: string; items: OrderItem[] }>('order.created');
