import { InvalidModuleOptionsError, InvalidTaskOptionsError } from '../errors';
import { resolveModuleOptions } from './module-options';
import { checkTaskOptions, resolveTaskOptions } from './task-options';

const connection = 'redis://127.0.0.1:6379';
const reportsModule = { path: '/app/dist/reports.module.js', export: 'ReportsModule' };
const resolve = (threads: unknown, queues?: unknown) =>
  resolveModuleOptions({ connection, threads, queues } as never, {});

describe('module option `threads`', () => {
  it('applies defaults: cores less one (at least 1), no recycling, a minute of idling', () => {
    expect(resolve({ module: reportsModule }).threads).toEqual({
      module: reportsModule,
      size: expect.any(Number),
      maxTasksPerThread: undefined,
      maxMemoryPerThreadMb: undefined,
      idleTimeoutMs: 60_000,
      execArgv: undefined,
    });
    expect(resolve({ module: reportsModule }).threads!.size).toBeGreaterThanOrEqual(1);
    expect(
      resolve({
        module: reportsModule,
        size: 4,
        maxTasksPerThread: 100,
        maxMemoryPerThread: 512,
        idleTimeout: '5m',
        execArgv: ['-r', 'ts-node/register'],
      }).threads,
    ).toMatchObject({
      size: 4,
      maxTasksPerThread: 100,
      maxMemoryPerThreadMb: 512,
      idleTimeoutMs: 300_000,
      execArgv: ['-r', 'ts-node/register'],
    });
  });

  it.each([
    [{}, /threads.module must be an object, got undefined/],
    [
      { module: { path: './reports.module', export: 'R' } },
      /absolute file path.*'.\/reports.module'/,
    ],
    [{ module: { path: '/a.js' } }, /threads.module.export must name the module class/],
    [
      { module: reportsModule, size: 0 },
      /threads.size must be an integer from 1 to 1024, got number 0/,
    ],
    [
      { module: reportsModule, maxTasksPerThread: 1.5 },
      /threads.maxTasksPerThread must be an integer .* got number 1.5/,
    ],
    [
      { module: reportsModule, maxMemoryPerThread: '512MB' },
      /threads.maxMemoryPerThread must be an integer/,
    ],
    [{ module: reportsModule, idleTimeout: 'soon' }, /threads.idleTimeout must be .*got 'soon'/],
    [{ module: reportsModule, execArgv: '-r x' }, /threads.execArgv must be a list of strings/],
    [{ module: reportsModule, sise: 2 }, /sise/],
  ])('rejects %j, naming the option and the value', (threads, message) => {
    expect(() => resolve(threads)).toThrow(InvalidModuleOptionsError);
    expect(() => resolve(threads)).toThrow(message);
  });

  it('takes a queue default for isolation (TaskThreads checks that threads exist)', () => {
    expect(
      resolve({ module: reportsModule }, { reports: { isolation: 'thread' } }).queues!.get(
        'reports',
      ),
    ).toEqual({
      concurrency: 1,
      isolation: 'thread',
    });
    expect(() => resolve({ module: reportsModule }, { reports: { isolation: 'process' } })).toThrow(
      /queues.reports.isolation must be 'inline' or 'thread', got 'process'/,
    );
  });
});

describe('task option `isolation`', () => {
  const fail = (problem: string): never => {
    throw new InvalidTaskOptionsError('t', problem);
  };

  it("is 'inline' or 'thread', and left undefined when not given (the queue decides)", () => {
    expect(resolveTaskOptions('t', [{ isolation: 'thread' }]).isolation).toBe('thread');
    expect(resolveTaskOptions('t', [{}]).isolation).toBeUndefined();
    expect(() => checkTaskOptions({ isolation: true }, '', fail)).toThrow(
      /isolation must be 'inline' or 'thread', got boolean true/,
    );
  });

  it('is not a module-wide default: a queue default says it for a queue', () => {
    expect(() => checkTaskOptions({ isolation: 'thread' }, 'defaults', fail, false)).toThrow(
      /unknown option defaults.isolation/,
    );
  });
});
