import { Inject, Injectable, NotFoundException, type OnModuleInit } from '@nestjs/common';
import { TransactionHost } from '@nestjs-cls/transactional';
import { Outbox, type OutboxTransactionalAdapter } from '@conveyor/outbox';
import { TaskProducer, type TaskState, type WorkflowInfo, Workflows } from '@conveyor/tasks';
import { randomUUID } from 'node:crypto';
import type { CreateOrder } from './order.schema';
import { ChargePayment, OrderCreated, SendConfirmation } from './order.tasks';
import { type Approval, fulfilmentId, StartFulfilment } from './order.saga';
import { APP_CONFIG } from '../tokens';
import type { AppConfig } from '../config';

export interface OrderView {
  id: string;
  customerEmail: string;
  items: CreateOrder['items'];
  amountCents: number;
  createdAt: string;
  jobs: Array<{ task: string; jobId: string; state: TaskState }>;
  /** A large order's saga (see order.saga.ts): its status, current step and history. */
  fulfilment?: Pick<WorkflowInfo, 'id' | 'status' | 'current' | 'history' | 'error'>;
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS orders (
     id uuid PRIMARY KEY,
     customer_email text NOT NULL,
     items jsonb NOT NULL,
     amount_cents integer NOT NULL,
     created_at timestamptz NOT NULL DEFAULT now())`,
  `CREATE TABLE IF NOT EXISTS order_jobs (
     order_id uuid NOT NULL REFERENCES orders (id),
     task text NOT NULL,
     job_id text NOT NULL,
     PRIMARY KEY (order_id, job_id))`,
];

@Injectable()
export class OrdersService implements OnModuleInit {
  constructor(
    private readonly txHost: TransactionHost<OutboxTransactionalAdapter>,
    private readonly outbox: Outbox,
    private readonly producer: TaskProducer,
    private readonly workflows: Workflows,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    for (const statement of SCHEMA) await this.txHost.tx.query(statement);
  }

  /**
   * Runs inside the request's transaction (OutboxInterceptor): the order row, its job rows
   * and the outbox rows commit together, or none of them exists.
   */
  async create(order: CreateOrder): Promise<OrderView> {
    const id = randomUUID();
    const tx = this.txHost.tx;
    await tx.query(
      'INSERT INTO orders (id, customer_email, items, amount_cents) VALUES ($1, $2, $3, $4)',
      [id, order.customerEmail, JSON.stringify(order.items), order.amountCents],
    );
    const jobs =
      order.amountCents > this.config.APPROVAL_THRESHOLD_CENTS
        ? await this.startSaga(id, order)
        : await this.enqueueJobs(id, order);
    for (const job of jobs) {
      await tx.query('INSERT INTO order_jobs (order_id, task, job_id) VALUES ($1, $2, $3)', [
        id,
        job.task,
        job.jobId,
      ]);
    }
    return this.find(id);
  }

  /** A small order: its jobs, enqueued with the row (the outbox publishes them after commit). */
  private async enqueueJobs(id: string, order: CreateOrder) {
    const confirmation = await this.outbox.enqueue(SendConfirmation, {
      orderId: id,
      email: order.customerEmail,
    });
    const payment = await this.outbox.enqueue(
      ChargePayment,
      { orderId: id, amountCents: order.amountCents },
      { idempotencyKey: `charge:${id}` },
    );
    const created = await this.outbox.emit(OrderCreated, { orderId: id, items: order.items });
    return [
      { task: SendConfirmation.name, jobId: confirmation.jobId },
      { task: ChargePayment.name, jobId: payment.jobId },
      ...created.jobs.map(({ task, jobId }) => ({ task, jobId })),
    ];
  }

  /**
   * A large order: one job, committed with the row, starts its saga (a workflow is in Redis,
   * so the outbox is what keeps "the order exists" and "its saga runs" in agreement).
   */
  private async startSaga(id: string, order: CreateOrder) {
    const start = await this.outbox.enqueue(StartFulfilment, {
      orderId: id,
      email: order.customerEmail,
      items: order.items,
      amountCents: order.amountCents,
    });
    return [{ task: StartFulfilment.name, jobId: start.jobId }];
  }

  /** An admin's answer to a large order waiting for approval. */
  async decide(id: string, approval: Approval): Promise<string> {
    await this.find(id);
    return this.workflows.signal(fulfilmentId(id), 'approval', approval);
  }

  async find(id: string): Promise<OrderView> {
    const { rows } = await this.txHost.tx.query<{
      id: string;
      customer_email: string;
      items: CreateOrder['items'];
      amount_cents: number;
      created_at: Date;
    }>('SELECT * FROM orders WHERE id = $1', [id]);
    if (!rows[0]) throw new NotFoundException(`no order ${id}`);
    const jobs = await this.txHost.tx.query<{ task: string; job_id: string }>(
      'SELECT task, job_id FROM order_jobs WHERE order_id = $1 ORDER BY task',
      [id],
    );
    const order = rows[0];
    const fulfilment =
      order.amount_cents > this.config.APPROVAL_THRESHOLD_CENTS
        ? await this.workflows.get(fulfilmentId(id)).catch(() => undefined)
        : undefined;
    return {
      id: order.id,
      customerEmail: order.customer_email,
      items: typeof order.items === 'string' ? JSON.parse(order.items) : order.items,
      amountCents: order.amount_cents,
      createdAt: new Date(order.created_at).toISOString(),
      jobs: await Promise.all(
        jobs.rows.map(async ({ task, job_id }) => ({
          task,
          jobId: job_id,
          // A row not yet relayed has no job in Redis: it is still waiting, in the outbox.
          state: await this.producer
            .handle(task, job_id)
            .state()
            .then((state) => (state === 'unknown' ? 'waiting' : state)),
        })),
      ),
      ...(fulfilment
        ? {
            fulfilment: {
              id: fulfilment.id,
              status: fulfilment.status,
              current: fulfilment.current,
              history: fulfilment.history,
              error: fulfilment.error,
            },
          }
        : {}),
    };
  }
}
