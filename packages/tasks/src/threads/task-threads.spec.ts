import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Task } from '../decorators/task.decorator';
import { InvalidModuleOptionsError, InvalidTaskOptionsError } from '../errors';
import type { TasksModuleOptions } from '../interfaces/module-options.interface';
import { TasksModule } from '../tasks.module';

@Injectable()
class Isolated {
  @Task('report.render', { isolation: 'thread' })
  render(): void {}
}

@Injectable()
class Inline {
  @Task('report.inline')
  render(): void {}
}

// Nothing here reaches Redis: startup fails (or passes) before any connection is used.
const boot = async (providers: unknown[], options: Partial<TasksModuleOptions> = {}) => {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TasksModule.forRoot({ connection: 'redis://127.0.0.1:1', workers: 'none', ...options }),
    ],
    providers: providers as never[],
  }).compile();
  moduleRef.useLogger(false);
  try {
    await moduleRef.init();
  } finally {
    await moduleRef.close();
  }
};

describe('TaskThreads at startup', () => {
  it('fails startup for an isolated task in an app without threads, naming the task', async () => {
    await expect(boot([Isolated])).rejects.toThrow(InvalidTaskOptionsError);
    await expect(boot([Isolated])).rejects.toThrow(
      /"report.render".*isolation is 'thread', but no threads are configured/,
    );
  });

  it('fails startup for an isolated queue in an app without threads, naming the queue', async () => {
    const queues = { reports: { isolation: 'thread' as const } };
    await expect(boot([Inline], { queues })).rejects.toThrow(InvalidModuleOptionsError);
    await expect(boot([Inline], { queues })).rejects.toThrow(
      /queues.reports.isolation is 'thread', but no threads are configured/,
    );
  });

  it('starts an app with threads configured, or with no isolated task', async () => {
    await expect(boot([Inline])).resolves.toBeUndefined();
    await expect(
      boot([Isolated], { threads: { module: { path: '/app/reports.module.js', export: 'R' } } }),
    ).resolves.toBeUndefined();
  });
});
