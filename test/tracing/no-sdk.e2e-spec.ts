import { Injectable } from '@nestjs/common';
import { trace } from '@opentelemetry/api';
import { defineTask, Task, TaskProducer } from '@conveyor/tasks';
import { closeRawQueue, rawQueue } from '../support/redis';
import { startTasksApp, stopAll, type TestApp } from '../support/tasks-app';

const Noop = defineTask<{ n: number }, number>('trace.noop');

@Injectable()
class NoopTasks {
  @Task(Noop)
  run({ n }: { n: number }): number {
    // The API's no-op: no span is active, and nothing fails for lack of one.
    expect(trace.getActiveSpan()?.isRecording() ?? false).toBe(false);
    return n;
  }
}

describe('tracing without an SDK', () => {
  let app: TestApp;
  beforeEach(async () => {
    app = await startTasksApp([NoopTasks]);
  });
  afterEach(() => stopAll(app));

  it('stores no trace context in the job and runs as usual', async () => {
    const handle = await app.get(TaskProducer).enqueue(Noop, { n: 7 });
    expect(await handle.result({ timeout: '20s' })).toBe(7);
    const queue = rawQueue(app.prefix, 'default');
    try {
      const job = await queue.getJob(handle.id);
      expect(job?.opts.telemetry).toBeUndefined();
    } finally {
      await closeRawQueue(queue);
    }
  });
});
