import { ConsoleLogger, Logger, type LoggerService } from '@nestjs/common';
import { TaskContext } from '../worker/task-context';
import { ConveyorLogger, currentLogShape } from './conveyor-logger';

// What Nest's Logger writes to: the app's logger, set here as app.useLogger() would.
const appLogger = (Logger as unknown as { staticInstanceRef?: LoggerService }).staticInstanceRef;

/** Runs `write` and returns what it printed on stdout and stderr. */
function printed(write: () => void): { out: string; err: string } {
  const out: string[] = [];
  const err: string[] = [];
  const stdout = jest.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    out.push(String(chunk));
    return true;
  });
  const stderr = jest.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk));
    return true;
  });
  try {
    write();
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return { out: out.join(''), err: err.join('') };
}

/** A LoggerService that is no ConsoleLogger, as nestjs-pino's or winston's. */
class RecordingLogger implements LoggerService {
  readonly calls: Array<{ level: string; args: unknown[] }> = [];
  log(...args: unknown[]) {
    this.calls.push({ level: 'log', args });
  }
  warn(...args: unknown[]) {
    this.calls.push({ level: 'warn', args });
  }
  error(...args: unknown[]) {
    this.calls.push({ level: 'error', args });
  }
  debug(...args: unknown[]) {
    this.calls.push({ level: 'debug', args });
  }
}

/** Nest 10/11's ConsoleLogger: no structured params. */
class ConsoleLoggerWithoutParams extends ConsoleLogger {}
Object.defineProperty(ConsoleLoggerWithoutParams.prototype, 'stringifyParams', {
  value: undefined,
});

const fields = { task: 'email.send', queue: 'email', jobId: '7', attempt: 2, durationMs: 15 };
const boom = new Error('smtp down');

function contextFor(jobId: string): TaskContext {
  const job = {
    id: jobId,
    name: 'email.send',
    attemptsMade: 1,
    opts: { attempts: 3 },
    timestamp: 0,
    updateProgress: async () => undefined,
  };
  const signals = { signal: new AbortController().signal };
  return new TaskContext(job, 'email', signals, new Logger('Task email.send'));
}

describe('ConveyorLogger', () => {
  afterEach(() => Logger.overrideLogger(appLogger as LoggerService));

  describe("with Nest's ConsoleLogger, text", () => {
    beforeEach(() => Logger.overrideLogger(new ConsoleLogger({ colors: false })));

    it('prints the fields after the message, on the same line', () => {
      const { out } = printed(() =>
        new ConveyorLogger('Conveyor').warn('job 7 attempt 2/3 failed', fields),
      );
      expect(currentLogShape()).toBe('params');
      expect(out.trim().split('\n')).toHaveLength(1);
      expect(out).toContain(
        "WARN [Conveyor] job 7 attempt 2/3 failed { task: 'email.send', queue: 'email', jobId: '7', attempt: 2, durationMs: 15 }",
      );
    });

    it("prints an error's name and message as fields and its stack on stderr", () => {
      const { out, err } = printed(() =>
        new ConveyorLogger('Conveyor').error('onFailure hook threw', { task: 'email.send' }, boom),
      );
      expect(out).toBe('');
      expect(err).toContain(
        "[Conveyor] onFailure hook threw { task: 'email.send', error: { name: 'Error', message: 'smtp down' } }",
      );
      expect(err).toContain(boom.stack!);
    });

    it('prints a line without fields as its message alone', () => {
      const { out } = printed(() => new ConveyorLogger('Conveyor').log('consuming queues: email'));
      expect(out).toMatch(/LOG \[Conveyor\] consuming queues: email\n$/);
    });

    it("prints a handler's lines with the run's fields instead of a job prefix", () => {
      const { out } = printed(() => contextFor('7').log.log('sending', { to: 'a@b.c' }));
      expect(out).toContain(
        "[Task email.send] sending { to: 'a@b.c', task: 'email.send', queue: 'email', jobId: '7', attempt: 2 }",
      );
    });
  });

  describe("with Nest's ConsoleLogger, JSON", () => {
    beforeEach(() => Logger.overrideLogger(new ConsoleLogger({ json: true })));

    it('writes the fields as params, and the stack as a field', () => {
      const { out, err } = printed(() => {
        new ConveyorLogger('Conveyor').warn('job 7 failed', fields);
        new ConveyorLogger('Conveyor').error('hook threw', { task: 'email.send' }, boom);
      });
      const warn = JSON.parse(out);
      expect(warn).toMatchObject({
        level: 'warn',
        context: 'Conveyor',
        message: 'job 7 failed',
        params: fields,
      });
      const error = JSON.parse(err);
      expect(error).toMatchObject({
        level: 'error',
        message: 'hook threw',
        stack: boom.stack,
        params: { task: 'email.send', error: { name: 'Error', message: 'smtp down' } },
      });
    });
  });

  describe('with an older ConsoleLogger (Nest 10/11)', () => {
    it('keeps text lines as today: the message, a job prefix on handler lines, the stack', () => {
      Logger.overrideLogger(new ConsoleLoggerWithoutParams({ colors: false }));
      const { out, err } = printed(() => {
        new ConveyorLogger('Conveyor').warn('job 7 attempt 2/3 failed', fields);
        contextFor('7').log.log('sending');
        new ConveyorLogger('Conveyor').error('hook threw', { task: 'email.send' }, boom);
      });
      expect(currentLogShape()).toBe('text');
      const lines = out.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/WARN \[Conveyor\] job 7 attempt 2\/3 failed$/);
      expect(lines[1]).toMatch(/LOG \[Task email\.send\] job 7: sending$/);
      expect(err).toMatch(/ERROR \[Conveyor\] hook threw\n/);
      expect(err).toContain(boom.stack!);
    });

    it('writes one object message in JSON mode', () => {
      Logger.overrideLogger(new ConsoleLoggerWithoutParams({ json: true }));
      expect(currentLogShape()).toBe('object');
    });
  });

  describe('with any other LoggerService (nestjs-pino, winston, …)', () => {
    let app: RecordingLogger;
    beforeEach(() => Logger.overrideLogger((app = new RecordingLogger())));

    it('passes one object: the message as msg, the fields beside it, then the context', () => {
      new ConveyorLogger('Conveyor').warn('job 7 failed', fields, boom);
      new ConveyorLogger('Conveyor').error('hook threw', { task: 'email.send' }, boom);
      expect(app.calls).toEqual([
        {
          level: 'warn',
          args: [
            {
              msg: 'job 7 failed',
              ...fields,
              error: { name: 'Error', message: 'smtp down' },
            },
            'Conveyor',
          ],
        },
        {
          level: 'error',
          args: [
            {
              msg: 'hook threw',
              task: 'email.send',
              error: { name: 'Error', message: 'smtp down' },
              stack: boom.stack,
            },
            undefined,
            'Conveyor',
          ],
        },
      ]);
    });

    it('passes an object whose String() is the message, for a logger that expects text', () => {
      new ConveyorLogger('Conveyor').warn('job 7 failed', fields);
      expect(`${app.calls[0].args[0] as object}`).toBe('job 7 failed');
      expect(JSON.stringify(app.calls[0].args[0])).not.toContain('toString');
    });

    it("gives a handler's lines the run's task, queue, job id and attempt", () => {
      const ctx = contextFor('9');
      ctx.log.warn('slow', { jobId: 'not mine', tookMs: 900 });
      ctx.log.error('gave up', boom.stack);
      expect(app.calls).toEqual([
        {
          level: 'warn',
          args: [
            {
              msg: 'slow',
              jobId: '9',
              tookMs: 900,
              task: 'email.send',
              queue: 'email',
              attempt: 2,
            },
            'Task email.send',
          ],
        },
        {
          level: 'error',
          args: [
            {
              msg: 'gave up',
              task: 'email.send',
              queue: 'email',
              jobId: '9',
              attempt: 2,
              stack: boom.stack,
            },
            undefined,
            'Task email.send',
          ],
        },
      ]);
    });

    it('shapes lines buffered before app.useLogger() for the logger they reach', () => {
      Logger.overrideLogger(new ConsoleLogger());
      Logger.attachBuffer();
      try {
        new ConveyorLogger('Conveyor').log('registered 1 task handler(s)', { tasks: ['a'] });
        Logger.overrideLogger((app = new RecordingLogger()));
      } finally {
        Logger.flush();
      }
      expect(app.calls).toEqual([
        {
          level: 'log',
          args: [{ msg: 'registered 1 task handler(s)', tasks: ['a'] }, 'Conveyor'],
        },
      ]);
    });
  });
});
