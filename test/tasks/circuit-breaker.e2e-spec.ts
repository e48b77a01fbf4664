import { Injectable } from '@nestjs/common';
import {
  CircuitBreakers,
  defineTask,
  InvalidTaskOptionsError,
  Task,
  TaskProducer,
  UnknownCircuitBreakerError,
  UnrecoverableTaskError,
} from '@conveyor/tasks';
import { BreakerRuns } from '@conveyor/tasks/internal';
import { closeRawQueue, rawQueue } from '../support/redis';
import { eventually, startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Send = defineTask<{ n: number }, number>('mail.send', {
  queue: 'mail',
  attempts: 50,
  backoff: { type: 'fixed', delay: '10ms' },
  circuitBreaker: { name: 'smtp', failureThreshold: 3, window: '1m', cooldown: '300ms' },
});
const Digest = defineTask<{ n: number }, number>('mail.digest', {
  queue: 'mail',
  circuitBreaker: { name: 'smtp', failureThreshold: 3, window: '1m', cooldown: '300ms' },
});

/**
 * A fake SMTP server, shared by the apps of a test (they run in one Node process, as two
 * worker processes would share the server): while `down`, every send fails. `hold` keeps a
 * run going until released, so "one probe at a time" is seen as a state, not a timing.
 */
class Smtp {
  down = false;
  hold = false;
  readonly attempts: number[] = [];
  readonly delivered: number[] = [];
  running = 0;
  private release?: () => void;

  async send(n: number): Promise<number> {
    this.attempts.push(n);
    this.running++;
    try {
      if (this.hold) await new Promise<void>((resolve) => (this.release = resolve));
      if (this.down) throw new Error('SMTP 421 service not available');
      this.delivered.push(n);
      return n;
    } finally {
      this.running--;
    }
  }

  letGo(): void {
    this.hold = false;
    this.release?.();
  }
}

let smtp: Smtp;

@Injectable()
class Mailer {
  @Task(Send)
  send({ n }: { n: number }): Promise<number> {
    return smtp.send(n);
  }

  @Task(Digest)
  digest({ n }: { n: number }): Promise<number> {
    return smtp.send(n);
  }
}

const queues = { mail: { concurrency: 4 } };

describe('circuit breakers across worker processes', () => {
  let api: TestApp | undefined;
  let workers: TestApp[] = [];
  beforeEach(() => (smtp = new Smtp()));
  afterEach(async () => {
    smtp.letGo();
    await stopAll(api, ...workers);
    api = undefined;
    workers = [];
  });

  async function start(): Promise<{ producer: TaskProducer; breakers: CircuitBreakers }> {
    api = await startTasksApp([Mailer], { workers: 'none', queues });
    workers = [
      await startTasksApp([Mailer], { prefix: api.prefix, queues }),
      await startTasksApp([Mailer], { prefix: api.prefix, queues }),
    ];
    return { producer: api.get(TaskProducer), breakers: api.get(CircuitBreakers) };
  }

  async function parkedCount(prefix: string): Promise<number> {
    const queue = rawQueue(prefix, 'mail');
    try {
      return (await queue.getJobCounts('delayed')).delayed;
    } finally {
      await closeRawQueue(queue);
    }
  }

  it('opens after the threshold, parks the jobs without spending attempts, lets one probe through, and closes on its success', async () => {
    const { producer, breakers } = await start();
    smtp.down = true;
    const first = await producer.enqueue(Send, { n: 0 });
    await eventually(
      async () => (await breakers.state('smtp')).state !== 'closed',
      10_000,
      'the breaker to open',
    );
    // Three failed attempts opened it, and every worker process hears of it.
    const opened = await breakers.state('smtp');
    expect(opened).toMatchObject({ name: 'smtp', opens: 1, manual: false });
    expect(opened.tasks).toEqual(['mail.digest', 'mail.send']);
    expect(smtp.attempts).toEqual([0, 0, 0]);
    await eventually(
      () => workers.every((w) => w.get(BreakerRuns).stateOf('smtp') !== 'closed'),
      10_000,
      'every worker to know the breaker is open',
    );

    // While the dependency stays down, each probe fails and opens it again; jobs keep waiting.
    const handles = await producer.enqueueMany(
      Send,
      Array.from({ length: 20 }, (_, i) => ({ n: i + 1 })),
    );
    await eventually(
      async () => (await breakers.state('smtp')).opens >= 3,
      10_000,
      'failed probes to open the breaker again',
    );
    // Held open by hand (no probe) to look at a still picture: every attempt spent was a run,
    // and after the three that opened it, runs were probes, one per opening at most.
    await breakers.open('smtp');
    await eventually(() => smtp.running === 0, 10_000, 'the last probe to end');
    const jobs = [first, ...handles];
    const spent = (await Promise.all(jobs.map((h) => h.info()))).reduce(
      (sum, info) => sum + (info?.attemptsMade ?? 0),
      0,
    );
    expect(spent).toBe(smtp.attempts.length);
    const { opens } = await breakers.state('smtp');
    expect(smtp.attempts.length - 3).toBeLessThanOrEqual(opens);
    expect(await parkedCount(api!.prefix)).toBeGreaterThanOrEqual(20);

    // The dependency recovers: the next probe closes the breaker and every job runs.
    smtp.down = false;
    await breakers.open('smtp', { for: '100ms' });
    await expect(Promise.all(jobs.map((h) => h.result({ timeout: '20s' })))).resolves.toEqual(
      Array.from({ length: 21 }, (_, i) => i),
    );
    expect((await breakers.state('smtp')).state).toBe('closed');
  });

  it('lets exactly one probe run while half-open; the others wait for its outcome', async () => {
    const { producer, breakers } = await start();
    await breakers.open('smtp', { for: '200ms' });
    smtp.hold = true;
    const handles = await producer.enqueueMany(
      Send,
      Array.from({ length: 10 }, (_, i) => ({ n: i })),
    );
    await eventually(() => smtp.running === 1, 10_000, 'the probe to start');
    expect((await breakers.state('smtp')).state).toBe('half-open');
    // Eight worker slots are free, yet the probe runs alone: everything else waits, parked.
    await eventually(
      async () => (await parkedCount(api!.prefix)) === 9,
      10_000,
      'the other jobs to wait at the gate',
    );
    expect(smtp.running).toBe(1);

    smtp.letGo();
    await expect(
      Promise.all(handles.map((h) => h.result({ timeout: '20s' }))),
    ).resolves.toHaveLength(10);
    expect(smtp.delivered.sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect((await breakers.state('smtp')).state).toBe('closed');
  });

  it('is opened and closed by hand from a process without workers, for every task that shares it', async () => {
    const { producer, breakers } = await start();
    await breakers.open('smtp');
    const state = await breakers.state('smtp');
    expect(state).toMatchObject({ state: 'open', probeAt: null, manual: true });

    const sends = await producer.enqueueMany(Send, [{ n: 1 }, { n: 2 }]);
    const digest = await producer.enqueue(Digest, { n: 3 });
    await eventually(
      async () => (await parkedCount(api!.prefix)) === 3,
      10_000,
      'both tasks to wait at the shared breaker',
    );
    expect(smtp.attempts).toEqual([]);

    await breakers.close('smtp');
    await expect(
      Promise.all([...sends, digest].map((h) => h.result({ timeout: '10s' }))),
    ).resolves.toEqual([1, 2, 3]);
    expect(await breakers.list()).toEqual([
      expect.objectContaining({ name: 'smtp', state: 'closed', manual: true, failures: 0 }),
    ]);
  });

  it('counts only the failures that say something about the dependency', async () => {
    const { breakers } = await start();
    const Bad = defineTask<{ n: number }>('mail.bad', {
      queue: 'strict',
      circuitBreaker: { name: 'strict', failureThreshold: 1, window: '1m', cooldown: '1h' },
    });
    @Injectable()
    class Refuser {
      @Task(Bad)
      refuse(): void {
        throw new UnrecoverableTaskError('the address does not exist');
      }
    }
    const app = await startTasksApp([Refuser], {
      prefix: api!.prefix,
      queues: { ...queues, strict: {} },
    });
    workers.push(app);
    const handles = await app.get(TaskProducer).enqueueMany(Bad, [{ n: 1 }, { n: 2 }]);
    for (const handle of handles) {
      await expect(handle.result({ timeout: '10s' })).rejects.toThrow(/does not exist/);
    }
    await expect(app.get(CircuitBreakers).state('strict')).resolves.toMatchObject({
      state: 'closed',
      failures: 0,
    });
    await expect(breakers.state('strict')).rejects.toBeInstanceOf(UnknownCircuitBreakerError);
  });

  it('refuses bad settings and unknown names with errors that say what was wrong', async () => {
    const { breakers } = await start();
    await expect(breakers.open('smpt')).rejects.toThrow(
      /Unknown circuit breaker "smpt".*known breakers: smtp/,
    );
    await expect(breakers.open('smtp', { for: 'soon' } as never)).rejects.toThrow(
      InvalidTaskOptionsError,
    );
    const Other = defineTask('mail.other', {
      queue: 'mail',
      circuitBreaker: { name: 'smtp', failureThreshold: 9, window: '1m', cooldown: '300ms' },
    });
    @Injectable()
    class Conflicting {
      @Task(Other)
      run(): void {}
    }
    await expect(startTasksApp([Mailer, Conflicting], { queues })).rejects.toThrow(
      /circuitBreaker 'smtp' is shared with task 'mail\.(send|digest)', which gives a different failureThreshold/,
    );
    expect(() =>
      defineTask('x', {
        circuitBreaker: { failureThreshold: 0, window: '1m', cooldown: '1s' },
      }),
    ).toThrow(/circuitBreaker.failureThreshold must be an integer from 1/);
    expect(() =>
      defineTask('x', { circuitBreaker: { failureThreshold: 1, window: 0, cooldown: '1s' } }),
    ).toThrow(/circuitBreaker.window must be greater than 0/);
  });
});
