import { Test, type TestingModule } from '@nestjs/testing';
import { InvalidTaskOptionsError } from '../errors';
import { TasksModule } from '../tasks.module';
import { parseWorkers } from './worker-store';
import { Workers } from './workers';

describe('parseWorkers', () => {
  it('reads entries, skipping one it cannot read, oldest first', () => {
    const entry = (host: string, startedAt: number) =>
      JSON.stringify({
        host,
        pid: 7,
        version: '1.2.3',
        startedAt,
        stopping: false,
        queues: [
          { name: 'email', concurrency: 4, running: 1, finished: 3, runMs: 31, windowMs: 60_000 },
        ],
        running: [{ task: 't', jobId: '9', queue: 'email', startedAt: 5 }],
      });
    const workers = parseWorkers([
      '1000',
      'b:7:x',
      entry('b', 20),
      '900',
      '3900',
      'bad',
      '{not json',
      '900',
      '3900',
      'a:7:y',
      entry('a', 10),
      '950',
      '3950',
    ]);
    expect(workers.map((w) => w.id)).toEqual(['a:7:y', 'b:7:x']);
    expect(workers[0]).toEqual({
      id: 'a:7:y',
      host: 'a',
      pid: 7,
      version: '1.2.3',
      startedAt: new Date(10),
      lastSeenAt: new Date(950),
      expiresAt: new Date(3950),
      stopping: false,
      queues: [
        {
          name: 'email',
          concurrency: 4,
          running: 1,
          finished: 3,
          averageRunMs: 10.3,
          windowMs: 60_000,
        },
      ],
      running: [{ task: 't', jobId: '9', queue: 'email', startedAt: new Date(5) }],
    });
  });
});

describe('Workers input checks', () => {
  let module: TestingModule;
  let workers: Workers;
  beforeAll(async () => {
    // Nothing below reaches Redis: a bad argument is refused before any command is sent.
    module = await Test.createTestingModule({
      imports: [TasksModule.forRoot({ connection: 'redis://127.0.0.1:1', workers: 'none' })],
    }).compile();
    module.useLogger(false);
    await module.init();
    workers = module.get(Workers);
  });
  afterAll(() => module.close());

  it.each([0, -5, '0ms', '2m', 'soon', null])('refuses ping timeout %p', async (timeout) => {
    const call = workers.ping(timeout as never);
    await expect(call).rejects.toBeInstanceOf(InvalidTaskOptionsError);
    await expect(call).rejects.toThrow(/timeout .*\(Workers\.ping\)/);
  });

  it.each([5, '', null])('refuses queue filter %p', async (queue) => {
    await expect(workers.list(queue as never)).rejects.toThrow(
      /queue must be a queue name, got .* \(Workers\.list\)/,
    );
    await expect(workers.active(queue as never)).rejects.toThrow(/\(Workers\.active\)/);
  });
});
