import { Logger } from '@nestjs/common';
import { TaskContext } from '@conveyor/tasks';

/** What `createTaskContext()` lets a test set; the rest takes plain defaults. */
export interface TestContextOptions {
  jobId?: string;
  taskName?: string;
  queue?: string;
  /** This attempt's number, from 1. @default 1 */
  attempt?: number;
  /** @default 1 */
  maxAttempts?: number;
  enqueuedAt?: Date;
  /** The signal the handler sees; abort its controller to test how a handler stops. */
  signal?: AbortSignal;
  /** Receives each `ctx.progress()` value. */
  onProgress?: (value: number | Record<string, unknown>) => void;
}

/**
 * A `TaskContext` for calling a handler method directly in a unit test, without a module.
 *
 * @example
 * const controller = new AbortController();
 * const ctx = createTaskContext({ attempt: 3, maxAttempts: 3, signal: controller.signal });
 * await expect(service.sendWelcome({ userId: '42' }, ctx)).resolves.toBe('sent');
 */
export function createTaskContext(options: TestContextOptions = {}): TaskContext {
  const attempt = options.attempt ?? 1;
  if (!Number.isInteger(attempt) || attempt < 1) {
    throw new TypeError(`createTaskContext: attempt must be an integer ≥ 1, got ${attempt}`);
  }
  const taskName = options.taskName ?? 'test-task';
  const signal = options.signal ?? new AbortController().signal;
  return new TaskContext(
    {
      id: options.jobId ?? '1',
      name: taskName,
      attemptsMade: attempt - 1,
      opts: { attempts: options.maxAttempts ?? 1 },
      timestamp: (options.enqueuedAt ?? new Date()).getTime(),
      updateProgress: async (value) => options.onProgress?.(value as Record<string, unknown>),
    },
    options.queue ?? 'default',
    { signal },
    new Logger(`Task ${taskName}`),
  );
}
