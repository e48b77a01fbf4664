import { Injectable, Scope } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import {
  defineTask,
  DuplicateTaskError,
  InvalidTaskOptionsError,
  Task,
  TaskProducer,
  TasksModule,
} from '@conveyor/tasks';
import { TasksRegistry } from '@conveyor/tasks/internal';
import { REDIS_URL, uniquePrefix } from '../support/redis';
import { startTasksApp, stopAll } from '../support/tasks-app';

const Welcome = defineTask<{ userId: string }, string>('user.welcome', { attempts: 2 });

@Injectable()
class WelcomeTasks {
  @Task(Welcome)
  welcome({ userId }: { userId: string }): string {
    return `welcome ${userId}`;
  }
}

@Injectable()
class LegacyWelcomeTasks {
  @Task('user.welcome')
  welcomeAgain(): string {
    return 'again';
  }
}

@Injectable({ scope: Scope.REQUEST })
class PerRequestTasks {
  @Task('per-request')
  run(): void {}
}

@Injectable()
class NamedTasks {
  @Task('report.build', { queue: 'reports', attempts: 7, timeout: '2m' })
  build(): string {
    return 'built';
  }
}

async function boot(...providers: unknown[]) {
  const moduleRef = await Test.createTestingModule({
    imports: [
      TasksModule.forRoot({ connection: REDIS_URL, prefix: uniquePrefix(), workers: 'none' }),
    ],
    providers: providers as never,
  }).compile();
  moduleRef.useLogger(false);
  try {
    await moduleRef.init();
  } finally {
    await moduleRef.close();
  }
}

describe('handler discovery', () => {
  it('fails startup when two handlers claim one task, naming both', async () => {
    const error = await boot(WelcomeTasks, LegacyWelcomeTasks).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DuplicateTaskError);
    expect((error as Error).message).toBe(
      'Task "user.welcome" has two handlers: WelcomeTasks.welcome and LegacyWelcomeTasks.welcomeAgain. ' +
        'A task name must have exactly one @Task() handler; rename one of them.',
    );
  });

  it('refuses a handler on a request-scoped provider', async () => {
    await expect(boot(PerRequestTasks)).rejects.toThrow(InvalidTaskOptionsError);
    await expect(boot(PerRequestTasks)).rejects.toThrow(
      /PerRequestTasks\.run is on a request-scoped/,
    );
  });

  it('merges module defaults, definition and decorator options, later ones winning', async () => {
    const app = await startTasksApp([WelcomeTasks, NamedTasks], {
      defaults: { attempts: 3, priority: 5, resultTtl: '1h' },
      workers: 'none',
    });
    try {
      const registry = app.get(TasksRegistry);
      expect(registry.get('user.welcome')?.options).toMatchObject({
        queue: 'default',
        attempts: 2,
        priority: 5,
        removeOnComplete: { age: 3600 },
      });
      expect(registry.get('report.build')?.options).toMatchObject({
        queue: 'reports',
        attempts: 7,
        timeoutMs: 120_000,
      });
      const handle = await app.get(TaskProducer).enqueue('report.build', {});
      expect(handle.queue).toBe('reports');
    } finally {
      await stopAll(app);
    }
  });
});
