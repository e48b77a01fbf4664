import { EXIT, main } from './conveyor';

/** Runs the command with its output captured; nothing here reaches Redis. */
async function run(args: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) }, env);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('conveyor (bad usage, exit 2)', () => {
  it.each([
    [[], /no command given/],
    [['list'], /unknown command 'list'/],
    [['ping', '--bogus'], /Unknown option '--bogus'/],
    [['ping', '--timeout', 'soon'], /--timeout must be milliseconds or a duration/],
    [['ping', '--timeout', '2m'], /--timeout must be from 1ms to 60s/],
    [['ping', '--pid', 'x'], /--pid must be a process id, got 'x'/],
    [['ping', '--any', '--pid', '7'], /--any goes alone/],
    [['ping', '--prefix', '{bad}'], /--prefix must be 1–100 letters/],
    [['ping', '--redis', 'http://h'], /--redis must be a redis:\/\/ or rediss:\/\/ URL/],
  ])('refuses %p with a message and the usage', async (args, message) => {
    const { code, err } = await run(args);
    expect(code).toBe(EXIT.usage);
    expect(err).toMatch(message);
    expect(err).toContain('Usage: conveyor ping');
  });

  it('prints the usage for --help and exits 0', async () => {
    const { code, out } = await run(['--help']);
    expect(code).toBe(EXIT.ok);
    expect(out).toContain('Exit codes: 0 answered');
  });

  it('exits 3 naming Redis, without its password, when it cannot connect', async () => {
    const { code, err } = await run(['ping', '--timeout', '1s'], {
      REDIS_URL: 'redis://:s3cret@127.0.0.1:1',
    });
    expect(code).toBe(EXIT.redis);
    expect(err).toMatch(/cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/);
    expect(err).not.toContain('s3cret');
  });
});
