import { beforeDeadline, RedisTimeoutError, relayBackoffMs } from './bounded';

describe('relayBackoffMs', () => {
  it('doubles from retryDelay per failure, with jitter between half and all of it', () => {
    expect(relayBackoffMs(1, 100, 10_000, () => 0)).toBe(50);
    expect(relayBackoffMs(1, 100, 10_000, () => 1)).toBe(100);
    expect(relayBackoffMs(3, 100, 10_000, () => 0)).toBe(200);
    expect(relayBackoffMs(3, 100, 10_000, () => 1)).toBe(400);
  });

  it('never waits longer than maxBackoff, however many failures', () => {
    for (const failures of [10, 31, 1_000, Number.MAX_SAFE_INTEGER]) {
      const wait = relayBackoffMs(failures, 1_000, 30_000, () => 1);
      expect(wait).toBe(30_000);
      expect(relayBackoffMs(failures, 1_000, 30_000, () => 0)).toBe(15_000);
    }
  });

  it('spreads relays that failed together', () => {
    const waits = new Set(Array.from({ length: 50 }, () => relayBackoffMs(4, 1_000, 30_000)));
    expect(waits.size).toBeGreaterThan(1);
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(4_000);
      expect(wait).toBeLessThanOrEqual(8_000);
    }
  });
});

describe('beforeDeadline', () => {
  it('gives what the call gives, or its error, when it answers in time', async () => {
    await expect(beforeDeadline(async () => 'PONG', Date.now() + 1_000, 'PING')).resolves.toBe(
      'PONG',
    );
    const refused = new Error('WRONGPASS invalid username-password pair');
    await expect(
      beforeDeadline(() => Promise.reject(refused), Date.now() + 1_000, 'PING'),
    ).rejects.toBe(refused);
  });

  it('rejects with RedisTimeoutError naming the call when no answer comes', async () => {
    const attempt = beforeDeadline(() => new Promise(() => undefined), Date.now() + 20, 'addBulk');
    await expect(attempt).rejects.toBeInstanceOf(RedisTimeoutError);
    await expect(attempt).rejects.toThrow(/Redis did not answer addBulk within \d+ ms/);
  });

  it('does not make the call once the deadline has passed', async () => {
    const call = jest.fn(async () => 'added');
    await expect(beforeDeadline(call, Date.now() - 1, 'add')).rejects.toBeInstanceOf(
      RedisTimeoutError,
    );
    expect(call).not.toHaveBeenCalled();
  });
});
