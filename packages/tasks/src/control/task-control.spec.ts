import { Test, type TestingModule } from '@nestjs/testing';
import { InvalidTaskOptionsError } from '../errors';
import { TasksModule } from '../tasks.module';
import { parseControls } from './control-store';
import { TaskControl } from './task-control';

describe('parseControls', () => {
  it('reads concurrency overrides by queue', () => {
    expect(parseControls({ 'concurrency:email': '4', 'concurrency:reports': '1' })).toEqual({
      concurrency: new Map([
        ['email', 4],
        ['reports', 1],
      ]),
    });
  });

  it("skips fields it does not know (a later version's) and values out of range", () => {
    const fields = {
      'rateLimit:email': '10/s',
      'concurrency:a': '0',
      'concurrency:b': '2.5',
      'concurrency:c': 'x',
      'concurrency:d': '10001',
      'concurrency:e': '10000',
    };
    expect(parseControls(fields).concurrency).toEqual(new Map([['e', 10_000]]));
  });
});

describe('TaskControl input checks', () => {
  let module: TestingModule;
  let control: TaskControl;
  beforeAll(async () => {
    // Nothing below reaches Redis: a bad argument is refused before any command is sent.
    module = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({
          connection: 'redis://127.0.0.1:1',
          workers: 'none',
          queues: { email: { concurrency: 5 }, reports: {} },
        }),
      ],
    }).compile();
    module.useLogger(false);
    await module.init();
    control = module.get(TaskControl);
  });
  afterAll(() => module.close());

  it('refuses a queue the app neither declares nor handles, listing the known ones', async () => {
    const call = control.resume('emial');
    await expect(call).rejects.toBeInstanceOf(InvalidTaskOptionsError);
    await expect(call).rejects.toThrow(
      "Invalid options: queue 'emial' is not a queue this app declares in TasksModule.forRoot({ queues }) or has a @Task() handler for (did you mean 'email'?); known queues: default, email, reports",
    );
    await expect(control.isPaused(undefined as unknown as string)).rejects.toThrow(
      /queue undefined is not a queue/,
    );
  });

  it.each([0, -1, 2.5, 10_001, NaN, '3'])('refuses concurrency %p', async (n) => {
    await expect(control.setConcurrency('email', n as number)).rejects.toThrow(
      /concurrency must be an integer from 1 to 10000, got .* \(queue 'email'\)/,
    );
  });
});
