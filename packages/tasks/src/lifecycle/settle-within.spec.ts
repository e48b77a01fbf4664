import { closeOrIdle, settleWithin } from './settle-within';

const never = () => new Promise<never>(() => undefined);

describe('settleWithin', () => {
  it('returns as soon as the work ends, rejected or not', async () => {
    await expect(settleWithin(Promise.resolve('done'), 60_000)).resolves.toBe('settled');
    await expect(settleWithin(Promise.reject(new Error('closed')), 60_000)).resolves.toBe(
      'settled',
    );
  });

  it('forces work that is still pending at the deadline, and waits for it to end', async () => {
    let end!: () => void;
    const work = new Promise<void>((resolve) => (end = resolve));
    const force = jest.fn(() => end());
    await expect(settleWithin(work, 10, force, 60_000)).resolves.toBe('forced');
    expect(force).toHaveBeenCalledTimes(1);
  });

  it('leaves work behind when the force does not end it, or throws, or hangs', async () => {
    await expect(settleWithin(never(), 5)).resolves.toBe('abandoned');
    await expect(settleWithin(never(), 5, () => undefined, 5)).resolves.toBe('abandoned');
    await expect(
      settleWithin(
        never(),
        5,
        () => {
          throw new Error('no socket');
        },
        5,
      ),
    ).resolves.toBe('abandoned');
    await expect(settleWithin(never(), 5, never, 5)).resolves.toBe('abandoned');
  });

  it('never calls the force of work that ended in time', async () => {
    const force = jest.fn();
    await settleWithin(Promise.resolve(), 60_000, force);
    expect(force).not.toHaveBeenCalled();
  });
});

describe('closeOrIdle', () => {
  it('gives a close that hangs only a grace once nothing is in flight, not the deadline', async () => {
    // An hour's deadline: Jest's own timeout fails this if the wait sits it out.
    await expect(closeOrIdle(never(), () => Promise.resolve(), 3_600_000)).resolves.toBe('settled');
  });

  it('waits for runs in flight, and says so when the deadline passes first', async () => {
    await expect(closeOrIdle(never(), never, 20)).resolves.toBe('abandoned');
    let idle!: () => void;
    const waiting = closeOrIdle(never(), () => new Promise<void>((r) => (idle = r)), 3_600_000);
    idle();
    await expect(waiting).resolves.toBe('settled');
  });

  it('returns as soon as the close ends, runs in flight or not', async () => {
    await expect(closeOrIdle(Promise.resolve(), never, 3_600_000)).resolves.toBe('settled');
  });
});
