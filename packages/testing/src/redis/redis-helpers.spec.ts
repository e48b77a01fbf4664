import { Injectable } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { defineTask, Task, type TaskContext, TaskProducer, TasksModule } from '@conveyor/tasks';
import { Redis } from 'ioredis';
import {
  removePrefix,
  testPrefix,
  waitForDrain,
  waitForState,
  WaitTimeoutError,
} from './redis-helpers';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

const Hold = defineTask<{ id: number }, number>('helpers.hold', { queue: 'held' });
const Quick = defineTask<{ id: number }, number>('helpers.quick');

/** Holds each run until the test releases it, so a job is seen `active` for sure. */
@Injectable()
class HeldHandlers {
  private readonly gates = new Map<number, () => void>();
  readonly done: number[] = [];

  @Task(Hold)
  async hold({ id }: { id: number }, ctx: TaskContext): Promise<number> {
    await new Promise<void>((resolve) => {
      this.gates.set(id, resolve);
      ctx.signal.addEventListener('abort', () => resolve());
    });
    this.done.push(id);
    return id;
  }

  @Task(Quick)
  quick({ id }: { id: number }): number {
    this.done.push(id);
    return id;
  }

  release(id: number): boolean {
    const open = this.gates.get(id);
    open?.();
    return open !== undefined;
  }
}

describe('testPrefix', () => {
  it('makes a prefix no other call makes, under the label', () => {
    const a = testPrefix('orders');
    expect(a).toMatch(/^orders-[0-9a-f]{8}$/);
    expect(testPrefix('orders')).not.toBe(a);
    expect(() => testPrefix('no spaces')).toThrow(/label/);
  });
});

describe('removePrefix', () => {
  const redis = new Redis(REDIS_URL);
  afterAll(() => redis.quit());

  it("removes the prefix's keys under either hash-tag layout, and no one else's", async () => {
    const prefix = testPrefix('cleanup');
    const neighbour = `${prefix}x`;
    await redis.set(`{${prefix}}:default:1`, 'a');
    await redis.set(`{${prefix}:emails}:emails:1`, 'b');
    await redis.set(`{${neighbour}}:default:1`, 'c');

    await expect(removePrefix(REDIS_URL, prefix)).resolves.toBe(2);

    expect(await redis.exists(`{${prefix}}:default:1`, `{${prefix}:emails}:emails:1`)).toBe(0);
    expect(await redis.get(`{${neighbour}}:default:1`)).toBe('c');
    await removePrefix(redis, neighbour);
    expect(await redis.exists(`{${neighbour}}:default:1`)).toBe(0);
    await expect(removePrefix(redis, '*')).rejects.toThrow(/prefix/);
  });
});

describe('waiting on a real worker', () => {
  let prefix: string;
  let app: TestingModule;
  let handlers: HeldHandlers;
  let producer: TaskProducer;

  beforeEach(async () => {
    prefix = testPrefix('helpers');
    app = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({ connection: REDIS_URL, prefix, queues: { default: {}, held: {} } }),
      ],
      providers: [HeldHandlers],
    }).compile();
    app.useLogger(false);
    await app.init();
    handlers = app.get(HeldHandlers);
    producer = app.get(TaskProducer);
  });

  afterEach(async () => {
    await app.close();
    await removePrefix(REDIS_URL, prefix);
  });

  it('waitForState() returns once the job is in a state asked for', async () => {
    const handle = await producer.enqueue(Hold, { id: 1 });

    await expect(waitForState(handle, ['active'])).resolves.toBe('active');
    expect(handlers.release(1)).toBe(true);
    await expect(waitForState(handle, 'completed')).resolves.toBe('completed');
  });

  it('waitForState() gives up at the timeout, naming the state it saw', async () => {
    const handle = await producer.enqueue(Hold, { id: 2 });
    await waitForState(handle, 'active');

    await expect(waitForState(handle, 'completed', { timeout: '100ms' })).rejects.toThrow(
      new WaitTimeoutError(
        `gave up after 100 ms waiting for job ${handle.id} to be completed: it is active`,
      ),
    );
    handlers.release(2);
  });

  it('waitForDrain() returns once every job enqueued so far has run', async () => {
    const handles = await producer.enqueueMany(Quick, [{ id: 10 }, { id: 11 }, { id: 12 }]);
    const held = await producer.enqueue(Hold, { id: 3 });
    await waitForState(held, 'active');

    await expect(waitForDrain(app, { queues: ['held'], timeout: '100ms' })).rejects.toThrow(
      /held: 0 waiting, 1 active/,
    );
    handlers.release(3);
    const snapshots = await waitForDrain(app);

    expect(handlers.done.sort()).toEqual([10, 11, 12, 3].sort());
    expect(snapshots.map((s) => s.queue).sort()).toEqual(['default', 'held']);
    expect(await Promise.all(handles.map((h) => h.state()))).toEqual([
      'completed',
      'completed',
      'completed',
    ]);
  });
});
