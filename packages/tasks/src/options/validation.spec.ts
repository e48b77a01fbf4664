import { checkKnownKeys, nearest, parseDuration } from './validation';

const fail = (problem: string): never => {
  throw new Error(problem);
};

describe('parseDuration', () => {
  it.each([
    [0, 0],
    [1500, 1500],
    ['250ms', 250],
    ['30s', 30_000],
    ['1.5s', 1500],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['7d', 604_800_000],
  ])('reads %p as %p ms', (input, expected) => {
    expect(parseDuration(input, 'delay', fail)).toBe(expected);
  });

  it.each([[-1], [Number.NaN], [Infinity], ['soon'], ['5 minutes'], ['-5s'], [null], [{}]])(
    'rejects %p, naming the option',
    (input) => {
      expect(() => parseDuration(input, 'delay', fail)).toThrow(/^delay must be/);
    },
  );
});

describe('checkKnownKeys', () => {
  it('names the nearest valid key for a typo', () => {
    expect(() =>
      checkKnownKeys({ concurency: 1 }, ['concurrency', 'rateLimit'], 'queues.email', fail),
    ).toThrow("unknown option queues.email.concurency (did you mean 'concurrency'?)");
  });

  it('lists the valid keys when nothing is close', () => {
    expect(() => checkKnownKeys({ zzz: 1 }, ['delay', 'priority'], '', fail)).toThrow(
      'unknown option zzz (valid: delay, priority)',
    );
  });

  it('accepts known keys', () => {
    expect(() => checkKnownKeys({ delay: 1 }, ['delay'], '', fail)).not.toThrow();
  });
});

describe('nearest', () => {
  it('finds close candidates and ignores distant ones', () => {
    expect(nearest('atempts', ['attempts', 'backoff'])).toBe('attempts');
    expect(nearest('xyz', ['attempts', 'backoff'])).toBeUndefined();
  });
});
