import { isMainThread } from 'node:worker_threads';
import { Injectable } from '@nestjs/common';
import { defineTask, Task } from '@conveyor/tasks';
import { testbed } from './fixtures.spec-helper';

const Render = defineTask<{ id: string }, { id: string; mainThread: boolean }>('report.render', {
  queue: 'reports',
  isolation: 'thread',
});

@Injectable()
class Reports {
  @Task(Render)
  render({ id }: { id: string }) {
    return { id, mainThread: isMainThread };
  }
}

describe('isolated tasks in ConveyorTestingModule', () => {
  it("runs a task with isolation: 'thread' inline, in the test's thread, with no threads option", async () => {
    const bed = await testbed({ queues: { reports: { isolation: 'thread' } } }, [Reports]);
    try {
      const handle = await bed.producer.enqueue(Render, { id: 'r1' });
      await expect(handle.result()).resolves.toEqual({ id: 'r1', mainThread: true });
    } finally {
      await bed.moduleRef.close();
    }
  });
});
