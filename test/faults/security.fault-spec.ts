import { Injectable, type LoggerService } from '@nestjs/common';
import { Test, type TestingModule } from '@nestjs/testing';
import {
  EnqueueFailedError,
  defineTask,
  InvalidModuleOptionsError,
  Task,
  TaskProducer,
  TasksModule,
  type TasksModuleOptions,
} from '@conveyor/tasks';
import { PrivateRedis } from '../support/private-redis';
import { uniquePrefix } from '../support/redis';

const Secret = defineTask<{ card: string }, string>('security.secret', { attempts: 1 });
const SECRET_PAYLOAD = 'card-4111-1111-1111-1111';

@Injectable()
class SecretTasks {
  @Task(Secret)
  run({ card }: { card: string }): string {
    if (card.endsWith('fail')) throw new Error('declined');
    return 'ok';
  }
}

/** Keeps every line Nest's logger is given, with its level. */
class CapturingLogger implements LoggerService {
  readonly lines: Array<{ level: string; text: string }> = [];
  log = (...args: unknown[]) => this.push('log', args);
  error = (...args: unknown[]) => this.push('error', args);
  warn = (...args: unknown[]) => this.push('warn', args);
  debug = (...args: unknown[]) => this.push('debug', args);
  verbose = (...args: unknown[]) => this.push('verbose', args);
  fatal = (...args: unknown[]) => this.push('fatal', args);

  text(levels: string[]): string {
    return this.lines
      .filter((line) => levels.includes(line.level))
      .map((line) => line.text)
      .join('\n');
  }

  private push(level: string, args: unknown[]): void {
    this.lines.push({
      level,
      // Conveyor gives a logger like this one `{ msg, ...fields }`: its fields are read too.
      text: args
        .map((a) =>
          a instanceof Error
            ? a.stack
            : a !== null && typeof a === 'object'
              ? `${String(a)} ${JSON.stringify(a)}`
              : String(a),
        )
        .join(' '),
    });
  }
}

async function boot(options: Partial<TasksModuleOptions>, logger: LoggerService | false = false) {
  const app = await Test.createTestingModule({
    imports: [TasksModule.forRoot({ connection: '', prefix: uniquePrefix(), ...options })],
    providers: [SecretTasks],
  }).compile();
  app.useLogger(logger);
  await app.init();
  return app;
}

describe('security', () => {
  const password = 'pw-Zq8-s3cr3t';
  let redis: PrivateRedis;
  const apps: TestingModule[] = [];

  beforeAll(async () => {
    redis = await PrivateRedis.start({ password });
    const admin = redis.client();
    await admin.call('ACL', 'SETUSER', 'conveyor', 'on', '>acl-Pw-77x', '~*', '&*', '+@all');
    admin.disconnect();
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(() => redis.destroy());

  it('runs jobs on a Redis with requirepass, through a URL or ioredis options', async () => {
    const byUrl = await boot({ connection: redis.url });
    const byOptions = await boot({
      connection: { host: '127.0.0.1', port: redis.port, password },
    });
    apps.push(byUrl, byOptions);
    for (const app of [byUrl, byOptions]) {
      const handle = await app.get(TaskProducer).enqueue(Secret, { card: 'x' });
      await expect(handle.result({ timeout: '20s' })).resolves.toBe('ok');
    }
  });

  it('runs jobs as an ACL user', async () => {
    const app = await boot({
      connection: {
        url: `redis://127.0.0.1:${redis.port}`,
        username: 'conveyor',
        password: 'acl-Pw-77x',
      },
    });
    apps.push(app);
    const handle = await app.get(TaskProducer).enqueue(Secret, { card: 'x' });
    await expect(handle.result({ timeout: '20s' })).resolves.toBe('ok');
  });

  it('accepts rediss:// URLs and never echoes a rejected URL (it may hold a password)', async () => {
    const tls = await Test.createTestingModule({
      imports: [
        TasksModule.forRoot({
          connection: 'rediss://user:tls-pw@redis.example.com:6380',
          workers: 'none',
        }),
      ],
    }).compile();
    await tls.close();
    const error = await boot({ connection: 'http://user:leaked-pw@example.com' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InvalidModuleOptionsError);
    expect(String((error as Error).message)).not.toContain('leaked-pw');
  });

  it('keeps the password out of errors and logs when it is wrong', async () => {
    const wrong = 'wrong-Pw-9981';
    const logger = new CapturingLogger();
    const app = await boot(
      {
        connection: `redis://:${wrong}@127.0.0.1:${redis.port}`,
        workers: 'none',
      },
      logger,
    );
    apps.push(app);
    const error = (await app
      .get(TaskProducer)
      .enqueue(Secret, { card: 'x' })
      .catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(EnqueueFailedError);
    expect(error.message).toMatch(/WRONGPASS/);
    const seen = `${error.message}\n${error.stack}\n${logger.text(['log', 'warn', 'error', 'fatal', 'debug', 'verbose'])}`;
    expect(seen).not.toContain(wrong);
    expect(seen).not.toContain(password);
    expect(seen).not.toContain('redis://');
    expect(logger.text(['error'])).toMatch(/WRONGPASS/);
  });

  it('does not log payloads at info level, for jobs that succeed or fail', async () => {
    const logger = new CapturingLogger();
    const app = await boot({ connection: redis.url }, logger);
    apps.push(app);
    const producer = app.get(TaskProducer);
    const ok = await producer.enqueue(Secret, { card: SECRET_PAYLOAD });
    const bad = await producer.enqueue(Secret, { card: `${SECRET_PAYLOAD}-fail` });
    await expect(ok.result({ timeout: '20s' })).resolves.toBe('ok');
    await expect(bad.result({ timeout: '20s' })).rejects.toMatchObject({ message: 'declined' });
    // The failure was logged (the line a payload would leak into), before the result settled.
    expect(logger.text(['warn', 'error'])).toMatch(new RegExp(`job ${bad.id}\\b.*declined`));
    expect(logger.text(['log', 'warn', 'error', 'fatal'])).not.toContain(SECRET_PAYLOAD);
    expect(logger.text(['log', 'warn', 'error', 'fatal'])).not.toContain(password);
  });
});
