import { Logger } from '@nestjs/common';
import type { Job } from 'bullmq';
import { TaskInstrumentation } from './task-instrumentation';

function job(fields: Partial<Job>): Job {
  return { name: 'email.send', queueName: 'email', opts: {}, ...fields } as Job;
}

describe('TaskInstrumentation', () => {
  it('reports the wait from enqueue (after any requested delay) to the first start only', () => {
    const instrumentation = new TaskInstrumentation();
    const waits: Array<number | undefined> = [];
    instrumentation.observe({ started: (_task, _queue, waitMs) => waits.push(waitMs) });
    instrumentation.started(job({ timestamp: 1_000, processedOn: 1_250, attemptsMade: 0 }));
    instrumentation.started(
      job({ timestamp: 1_000, processedOn: 6_300, attemptsMade: 0, opts: { delay: 5_000 } }),
    );
    instrumentation.started(job({ timestamp: 1_000, processedOn: 9_000, attemptsMade: 1 }));
    expect(waits).toEqual([250, 300, undefined]);
  });

  it('tells a retried failure from a final one, and stops calling a removed observer', () => {
    const instrumentation = new TaskInstrumentation();
    const outcomes: string[] = [];
    const stop = instrumentation.observe({
      failed: (task, queue, _ms, outcome) => outcomes.push(`${task}@${queue}:${outcome}`),
    });
    instrumentation.failed(job({ processedOn: Date.now() }), true);
    instrumentation.failed(job({ processedOn: Date.now() }), false);
    stop();
    instrumentation.failed(job({ processedOn: Date.now() }), false);
    expect(outcomes).toEqual(['email.send@email:retried', 'email.send@email:final']);
  });

  it('keeps calling observers after one throws, and logs the errors once every 10 s', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    try {
      const instrumentation = new TaskInstrumentation();
      let heard = 0;
      instrumentation.observe({
        succeeded: () => {
          throw new Error('metrics bug');
        },
      });
      instrumentation.observe({ succeeded: () => void heard++ });
      for (let i = 0; i < 100; i++) instrumentation.succeeded(job({ processedOn: Date.now() }));
      expect(heard).toBe(100);
      expect(logged).toHaveBeenCalledTimes(1);
      expect(logged.mock.calls[0][0]).toMatch(/observer threw in succeeded, ignored: metrics bug/);
      jest.setSystemTime(1_000_000 + 10_000);
      instrumentation.succeeded(job({ processedOn: Date.now() }));
      expect(logged).toHaveBeenCalledTimes(2);
      expect(logged.mock.calls[1][0]).toMatch(/and 99 more since the last report/);
    } finally {
      logged.mockRestore();
      jest.useRealTimers();
    }
  });
});
