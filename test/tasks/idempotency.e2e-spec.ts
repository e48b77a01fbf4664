import { Injectable } from '@nestjs/common';
import { DeadLetters, defineTask, Task, type TaskContext, TaskProducer } from '@conveyor/tasks';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Pay = defineTask<{ orderId: string; cents: number }, string>('payment.pay', {
  attempts: 2,
  backoff: { type: 'fixed', delay: 10 },
});
const Audit = defineTask<{ entry: string }, number>('audit.write', { idempotent: true });

@Injectable()
class Ledger {
  readonly payments: string[] = [];
  readonly audits: string[] = [];
  failNext = false;

  @Task(Pay)
  async pay(
    { orderId, cents }: { orderId: string; cents: number },
    ctx: TaskContext,
  ): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, 20));
    this.payments.push(orderId);
    return `paid ${cents} for ${orderId} in job ${ctx.jobId}`;
  }

  @Task(Audit)
  audit({ entry }: { entry: string }): number {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('audit store down');
    }
    this.audits.push(entry);
    return this.audits.length;
  }
}

describe('idempotency', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTasksApp([Ledger], { queues: { default: { concurrency: 10 } } });
  });
  afterEach(() => stopAll(app));

  it('turns 100 concurrent enqueues with one key into one job and one run', async () => {
    const producer = app.get(TaskProducer);
    const handles = await Promise.all(
      Array.from({ length: 100 }, () =>
        producer.enqueue(Pay, { orderId: 'o-1', cents: 500 }, { idempotencyKey: 'pay:o-1' }),
      ),
    );
    expect(new Set(handles.map((h) => h.id)).size).toBe(1);
    const results = await Promise.all(handles.map((h) => h.result({ timeout: '20s' })));
    expect(new Set(results).size).toBe(1);
    expect(app.get(Ledger).payments).toEqual(['o-1']);
  });

  it('answers a re-run of a finished keyed job with its stored result, without the handler', async () => {
    const producer = app.get(TaskProducer);
    const first = await producer.enqueue(
      Pay,
      { orderId: 'o-2', cents: 900 },
      { idempotencyKey: 'pay:o-2' },
    );
    const result = await first.result({ timeout: '20s' });
    // The job is gone (as after its resultTtl), then the same key comes again (an outbox
    // republish, a client retry): the stored result answers, the card is not charged twice.
    expect(await app.get(DeadLetters).count()).toBe(0);
    const bull = (await import('../support/redis')).rawQueue(app.prefix, 'default');
    try {
      await bull.remove(first.id);
    } finally {
      await (await import('../support/redis')).closeRawQueue(bull);
    }
    const again = await producer.enqueue(
      Pay,
      { orderId: 'o-2', cents: 900 },
      { idempotencyKey: 'pay:o-2' },
    );
    expect(again.id).toBe(first.id);
    await expect(again.result({ timeout: '20s' })).resolves.toBe(result);
    expect(app.get(Ledger).payments).toEqual(['o-2']);
  });

  it('derives the key from name and payload for tasks marked idempotent', async () => {
    const producer = app.get(TaskProducer);
    const a = await producer.enqueue(Audit, { entry: 'login' });
    const b = await producer.enqueue(Audit, { entry: 'login' });
    const c = await producer.enqueue(Audit, { entry: 'logout' });
    expect(a.id).toBe(b.id);
    expect(c.id).not.toBe(a.id);
    await Promise.all([a.result({ timeout: '20s' }), c.result({ timeout: '20s' })]);
    expect(app.get(Ledger).audits.sort()).toEqual(['login', 'logout']);
  });

  it('runs a keyed job again after a failure: only successes are stored', async () => {
    app.get(Ledger).failNext = true;
    const handle = await app
      .get(TaskProducer)
      .enqueue(Audit, { entry: 'retry-me' }, { attempts: 2 });
    await expect(handle.result({ timeout: '20s' })).resolves.toBe(1);
    expect(app.get(Ledger).audits).toEqual(['retry-me']);
  });
});
