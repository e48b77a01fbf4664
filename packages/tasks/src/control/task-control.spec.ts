import { Test, type TestingModule } from '@nestjs/testing';
import { InvalidTaskOptionsError } from '../errors';
import { TasksModule } from '../tasks.module';
import { parseControls } from './control-store';
import { TaskControl } from './task-control';
import { Injectable } from '@nestjs/common';
import { Task } from '../decorators/task.decorator';

@Injectable()
class Mailer {
  @Task('email.send', { queue: 'email' })
  send(): void {}

  @Task('email.digest', { queue: 'email', singleton: true })
  digest(): void {}
}

describe('parseControls', () => {
  it('reads concurrency overrides by queue', () => {
    expect(parseControls({ 'concurrency:email': '4', 'concurrency:reports': '1' })).toEqual({
      concurrency: new Map([
        ['email', 4],
        ['reports', 1],
      ]),
      queueRates: new Map(),
      tasks: new Map(),
      version: 0,
    });
  });

  it('reads queue rates, task overrides and the version', () => {
    const controls = parseControls({
      'rateLimit:email': '100/60000',
      'task:email.send:maxConcurrent': '5',
      'task:email.send:rateLimit': '10/1000',
      'task:report.build:paused': 'true',
      version: '42',
    });
    expect(controls.queueRates).toEqual(new Map([['email', { max: 100, perMs: 60_000 }]]));
    expect(controls.tasks).toEqual(
      new Map([
        ['email.send', { maxConcurrent: 5, rateLimit: { max: 10, perMs: 1000 } }],
        ['report.build', { paused: true }],
      ]),
    );
    expect(controls.version).toBe(42);
  });

  it("skips fields it does not know (a later version's) and values out of range", () => {
    const fields = {
      'rateLimit:email': '10/s',
      'task:a:maxConcurrent': '0',
      'task:b:paused': 'yes',
      'task:c:colour': 'red',
      'concurrency:a': '0',
      'concurrency:b': '2.5',
      'concurrency:c': 'x',
      'concurrency:d': '10001',
      'concurrency:e': '10000',
    };
    const controls = parseControls(fields);
    expect(controls.concurrency).toEqual(new Map([['e', 10_000]]));
    expect(controls.queueRates).toEqual(new Map());
    expect(controls.tasks).toEqual(new Map());
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
      providers: [Mailer],
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

  it('refuses task limits that are not limits, naming what was wrong', async () => {
    await expect(control.setTaskLimits('email.sned', { maxConcurrent: 2 })).rejects.toThrow(
      /task 'email.sned' has no @Task\(\) handler in this app \(did you mean 'email.send'\?\)/,
    );
    await expect(control.setTaskLimits('email.send', {})).rejects.toThrow(
      /limits must give maxConcurrent or rateLimit.*\(task 'email.send'\)/,
    );
    await expect(control.setTaskLimits('email.send', { maxConcurrent: 0 })).rejects.toThrow(
      /maxConcurrent must be an integer from 1/,
    );
    await expect(control.setTaskLimits('email.send', { rateLimit: '10/d' })).rejects.toThrow(
      /rateLimit must be .*'10\/s'.*got '10\/d'/,
    );
    await expect(control.setTaskLimits('email.send', { colour: 'red' } as never)).rejects.toThrow(
      /colour/,
    );
    await expect(control.setTaskLimits('email.digest', { maxConcurrent: 3 })).rejects.toThrow(
      /maxConcurrent of a singleton or lock task cannot change/,
    );
    await expect(control.setQueueLimits('reprots', { maxConcurrent: 3 })).rejects.toThrow(
      /did you mean 'reports'/,
    );
    await expect(control.pauseTask('nope')).rejects.toBeInstanceOf(InvalidTaskOptionsError);
  });

  it.each([0, -1, 2.5, 10_001, NaN, '3'])('refuses concurrency %p', async (n) => {
    await expect(control.setConcurrency('email', n as number)).rejects.toThrow(
      /concurrency must be an integer from 1 to 10000, got .* \(queue 'email'\)/,
    );
  });
});
