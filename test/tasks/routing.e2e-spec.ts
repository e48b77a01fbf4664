import { Injectable } from '@nestjs/common';
import {
  DeadLetters,
  defineTask,
  InvalidModuleOptionsError,
  InvalidTaskOptionsError,
  QueueInspector,
  step,
  Task,
  type TaskContext,
  TaskFailedError,
  TaskProducer,
  type TasksModuleOptions,
} from '@conveyor/tasks';
import { TasksRegistry } from '@conveyor/tasks/internal';
import { closeRawQueue, countJobs, rawQueue } from '../support/redis';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const SendEmail = defineTask<{ to: string }, string>('email.send');
const DailyReport = defineTask<{ day: string }, string>('reports.daily.pdf');
const Charge = defineTask<{ tenant: string; plan: string }, string>('billing.charge');
const Double = defineTask<number, number>('math.double');

/** Every run, with the queue its job came from. */
@Injectable()
class RoutedTasks {
  readonly runs: Array<{ task: string; queue: string }> = [];

  @Task(SendEmail)
  send({ to }: { to: string }, ctx: TaskContext): string {
    this.runs.push({ task: 'email.send', queue: ctx.queue });
    return `sent to ${to}`;
  }

  @Task(DailyReport)
  report({ day }: { day: string }, ctx: TaskContext): string {
    this.runs.push({ task: 'reports.daily.pdf', queue: ctx.queue });
    return `report ${day}`;
  }

  @Task(Charge)
  charge({ tenant }: { tenant: string; plan: string }, ctx: TaskContext): string {
    this.runs.push({ task: 'billing.charge', queue: ctx.queue });
    return `charged ${tenant}`;
  }

  @Task(Double)
  double(n: number, ctx: TaskContext): number {
    this.runs.push({ task: 'math.double', queue: ctx.queue });
    return n * 2;
  }
}

const ROUTING: Partial<TasksModuleOptions> = {
  queues: { high: {}, low: {}, vip: {} },
  routes: {
    'email.*': 'high',
    'reports.**': { queue: 'low', priority: 5 },
    'math.*': 'low',
  },
  // Only the router sends jobs to 'vip': no task names it and no glob targets it.
  router: (task, payload) =>
    task === 'billing.charge' && (payload as { plan?: string }).plan === 'pro' ? 'vip' : undefined,
};

async function jobsIn(prefix: string, queue: string): Promise<string[]> {
  const raw = rawQueue(prefix, queue);
  try {
    const jobs = await raw.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed']);
    return jobs.map((job) => job.name).sort();
  } finally {
    await closeRawQueue(raw);
  }
}

describe('routing', () => {
  let app: TestApp | undefined;
  let other: TestApp | undefined;

  afterEach(async () => {
    await stopAll(app, other);
    app = other = undefined;
  });

  it("moves a glob-routed task's jobs to the route's queue, where they run", async () => {
    app = await startTasksApp([RoutedTasks], ROUTING);
    const handle = await app.get(TaskProducer).enqueue(SendEmail, { to: 'ada@example.com' });
    expect(handle.queue).toBe('high');
    await expect(handle.result({ timeout: '10s' })).resolves.toBe('sent to ada@example.com');
    expect(app.get(RoutedTasks).runs).toEqual([{ task: 'email.send', queue: 'high' }]);
    expect(await jobsIn(app.prefix, 'high')).toEqual(['email.send']);
    expect(await jobsIn(app.prefix, 'default')).toEqual([]);
  });

  it("gives a '**' route's jobs the route's queue and priority", async () => {
    app = await startTasksApp([RoutedTasks], ROUTING);
    const handle = await app
      .get(TaskProducer)
      .enqueue(DailyReport, { day: '2026-12-01' }, { delay: '1h' });
    expect(handle.queue).toBe('low');
    const raw = rawQueue(app.prefix, 'low');
    try {
      const job = await raw.getJob(handle.id);
      expect(job?.opts.priority).toBe(5);
    } finally {
      await closeRawQueue(raw);
    }
  });

  it('routes by payload with the router function, and leaves other payloads to the routes', async () => {
    app = await startTasksApp([RoutedTasks], ROUTING);
    const producer = app.get(TaskProducer);
    const pro = await producer.enqueue(Charge, { tenant: 'acme', plan: 'pro' });
    const free = await producer.enqueue(Charge, { tenant: 'bob', plan: 'free' });
    expect([pro.queue, free.queue]).toEqual(['vip', 'default']);
    await expect(pro.result({ timeout: '10s' })).resolves.toBe('charged acme');
    await expect(free.result({ timeout: '10s' })).resolves.toBe('charged bob');
    expect(app.get(RoutedTasks).runs).toEqual(
      expect.arrayContaining([
        { task: 'billing.charge', queue: 'vip' },
        { task: 'billing.charge', queue: 'default' },
      ]),
    );
    // A handle from a stored id finds a routed job through the queue kept with the id.
    const kept = await producer.enqueue(Charge, { tenant: 'kim', plan: 'pro' }, { jobId: 'kim-1' });
    await kept.result({ timeout: '10s' });
    expect(await producer.handle(Charge, 'kim-1').state()).toBe('unknown');
    expect(await producer.handle(Charge, 'kim-1', { queue: kept.queue }).state()).toBe('completed');
    expect(() => producer.handle(Charge, pro.id, { queue: 'gold' })).toThrow(
      /handle\(\) queue must be a queue this app declares \(default, high, low, vip\), got 'gold'/,
    );
    // A router may send any task anywhere declared: this process consumes every declared queue.
    expect([...app.get(TasksRegistry).handledQueues()].sort()).toEqual([
      'default',
      'high',
      'low',
      'vip',
    ]);
  });

  it('splits an enqueueMany batch over the queues the router picks', async () => {
    app = await startTasksApp([RoutedTasks], ROUTING);
    const handles = await app.get(TaskProducer).enqueueMany(Charge, [
      { tenant: 'a', plan: 'free' },
      { tenant: 'b', plan: 'pro' },
      { tenant: 'c', plan: 'free' },
    ]);
    expect(handles.map((h) => h.queue)).toEqual(['default', 'vip', 'default']);
    const results = await Promise.all(handles.map((h) => h.result({ timeout: '10s' })));
    expect(results).toEqual(['charged a', 'charged b', 'charged c']);
  });

  it("lets the call site's queue win over the router and the routes", async () => {
    app = await startTasksApp([RoutedTasks], ROUTING);
    const producer = app.get(TaskProducer);
    const email = await producer.enqueue(SendEmail, { to: 'x@example.com' }, { queue: 'vip' });
    const pro = await producer.enqueue(Charge, { tenant: 'acme', plan: 'pro' }, { queue: 'low' });
    expect([email.queue, pro.queue]).toEqual(['vip', 'low']);
    await Promise.all([email.result({ timeout: '10s' }), pro.result({ timeout: '10s' })]);
    expect(app.get(RoutedTasks).runs).toEqual(
      expect.arrayContaining([
        { task: 'email.send', queue: 'vip' },
        { task: 'billing.charge', queue: 'low' },
      ]),
    );
  });

  it('refuses an undeclared queue at the call site or from the router, and writes nothing', async () => {
    app = await startTasksApp([RoutedTasks], {
      ...ROUTING,
      router: (_task, payload) =>
        (payload as { plan?: string }).plan === 'pro' ? 'gold' : undefined,
    });
    const producer = app.get(TaskProducer);
    const call = producer.enqueue(SendEmail, { to: 'x@example.com' }, { queue: 'hgih' });
    await expect(call).rejects.toThrow(InvalidTaskOptionsError);
    await expect(call).rejects.toThrow(
      'Invalid options for task "email.send": queue \'hgih\' was given, which is not declared in TasksModule.forRoot({ queues }); declared: default, high, low, vip',
    );
    await expect(producer.enqueue(Charge, { tenant: 'a', plan: 'pro' })).rejects.toThrow(
      /the router chose queue 'gold', which is not declared/,
    );
    await expect(
      producer.enqueueMany(SendEmail, [{ to: 'a@example.com' }], { queue: 'nope' }),
    ).rejects.toThrow(/queue 'nope' was given, which is not declared/);
    expect(await countJobs(app.prefix, ['default', 'high', 'low', 'vip', 'gold', 'hgih'])).toBe(0);
  });

  it('refuses, without a router, a call-site queue where no worker of the task looks', async () => {
    app = await startTasksApp([RoutedTasks], { ...ROUTING, router: undefined });
    await expect(
      app.get(TaskProducer).enqueue(SendEmail, { to: 'x@example.com' }, { queue: 'low' }),
    ).rejects.toThrow(/queue 'low' is declared, but workers of this task consume only 'high'/);
    expect([...app.get(TasksRegistry).handledQueues()].sort()).toEqual(['default', 'high', 'low']);
  });

  it("lists routed queues, not the tasks' own, for dead letters, health and metrics", async () => {
    // No queues declared: a route may name any queue, and its workers follow it.
    app = await startTasksApp([RoutedTasks], { routes: { 'email.*': 'mail', '**': 'rest' } });
    expect(app.get(DeadLetters).queueNames().sort()).toEqual(['mail', 'rest']);
    expect(app.get(QueueInspector).queueNames().sort()).toEqual(['mail', 'rest']);
    const handle = await app.get(TaskProducer).enqueue(Double, 21);
    await expect(handle.result({ timeout: '10s' })).resolves.toBe(42);
    expect(app.get(RoutedTasks).runs).toEqual([{ task: 'math.double', queue: 'rest' }]);
  });

  it('refuses at startup a route to an undeclared queue, listing the declared ones', async () => {
    await expect(
      startTasksApp([RoutedTasks], { queues: { high: {} }, routes: { 'email.*': 'hihg' } }),
    ).rejects.toThrow(
      new InvalidModuleOptionsError(
        "routes['email.*'] targets queue 'hihg', which is not declared in queues; declared: default, high",
      ).message,
    );
  });

  it('routes workflow steps, the router seeing each step payload', async () => {
    app = await startTasksApp([RoutedTasks], ROUTING);
    const handle = await app
      .get(TaskProducer)
      .chain([
        step(Double, 2),
        step(Double),
        step(SendEmail, { to: 'done@example.com' }),
        step(Charge, { tenant: 'acme', plan: 'pro' }),
      ]);
    const steps = await handle.steps();
    expect(steps.map((s) => s.queue)).toEqual(['low', 'low', 'high', 'vip']);
    await expect(handle.result({ timeout: '10s' })).resolves.toBe('charged acme');
    expect(app.get(RoutedTasks).runs).toEqual([
      { task: 'math.double', queue: 'low' },
      { task: 'math.double', queue: 'low' },
      { task: 'email.send', queue: 'high' },
      { task: 'billing.charge', queue: 'vip' },
    ]);
  });

  it('refuses a routed workflow whose steps span hash tags on a cluster layout', async () => {
    app = await startTasksApp([RoutedTasks], { ...ROUTING, hashTags: 'queue' });
    await expect(
      app.get(TaskProducer).chain([step(Double, 1), step(SendEmail, { to: 'a@example.com' })]),
    ).rejects.toThrow(/its steps span hash tags .*\(low\).*\(high\)/);
  });

  it('fails, with a clear error, a job routed to a queue whose process lacks the task', async () => {
    // The worker knows email.send (routed to 'high') but not billing.charge.
    @Injectable()
    class EmailOnly {
      @Task(SendEmail)
      send(): string {
        return 'sent';
      }
    }
    app = await startTasksApp([EmailOnly], { queues: { high: {} }, routes: { 'email.*': 'high' } });
    other = await startTasksApp([], {
      prefix: app.prefix,
      queues: { high: {} },
      routes: { 'billing.*': 'high' },
      workers: 'none',
    });
    const handle = await other.get(TaskProducer).enqueue(Charge, { tenant: 'a', plan: 'free' });
    expect(handle.queue).toBe('high');
    const outcome = handle.result({ timeout: '10s' });
    await expect(outcome).rejects.toThrow(TaskFailedError);
    await expect(outcome).rejects.toThrow(
      /Unknown task "billing\.charge" in a job of queue 'high', which this process consumes without a @Task\(\) handler for it/,
    );
    const letters = await app.get(DeadLetters).list('high');
    expect(letters.map((l) => [l.taskName, l.error.name, l.attemptsMade])).toEqual([
      ['billing.charge', 'UnknownTaskError', 1],
    ]);
  });
});
