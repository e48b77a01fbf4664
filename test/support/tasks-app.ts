import type { Provider, Type } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import { TasksModule, type TasksModuleOptions } from '@conveyor/tasks';
import { deletePrefix, REDIS_URL, uniquePrefix } from './redis';

export interface TestApp {
  app: TestingModule;
  prefix: string;
  get<T>(type: Type<T>): T;
  close(): Promise<void>;
}

/**
 * Boots a small Nest app with `TasksModule` on the real Redis, under a prefix of its own
 * (pass `prefix` to share one between two apps in a test).
 */
export async function startTasksApp(
  providers: Provider[],
  options: Partial<TasksModuleOptions> = {},
): Promise<TestApp> {
  const prefix = options.prefix ?? uniquePrefix();
  const app = await Test.createTestingModule({
    imports: [TasksModule.forRoot({ connection: REDIS_URL, ...options, prefix })],
    providers,
  }).compile();
  app.useLogger(false);
  await app.init();
  let closed = false;
  return {
    app,
    prefix,
    get: (type) => app.get(type),
    close: async () => {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** Closes the apps, then removes every key their prefixes wrote. */
export async function stopAll(...apps: (TestApp | undefined)[]): Promise<void> {
  await Promise.all(apps.map((app) => app?.close()));
  await Promise.all([...new Set(apps.filter(Boolean).map((app) => app!.prefix))].map(deletePrefix));
}

/** Polls `probe` until it returns a truthy value, or fails after `timeoutMs`. */
export async function eventually<T>(
  probe: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
