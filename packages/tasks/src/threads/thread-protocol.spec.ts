import { RetryTaskError, TaskTimeoutError, UnrecoverableTaskError } from '../errors';
import { fromWire, toWire } from './thread-protocol';

// What crosses between threads goes through postMessage, which clones: the round trip here
// clones too, so a field that could not cross fails this test as it would fail a run.
const roundTrip = (error: unknown) => fromWire(structuredClone(toWire(error)));

describe('errors between threads', () => {
  it("gives Conveyor's errors back as instances of their class, with their fields", () => {
    const retry = roundTrip(new RetryTaskError({ delay: '30s', countAttempt: false }));
    expect(retry).toBeInstanceOf(RetryTaskError);
    expect(retry).toMatchObject({ name: 'RetryTaskError', delay: '30s', countAttempt: false });
    expect(roundTrip(new UnrecoverableTaskError('no such user'))).toBeInstanceOf(
      UnrecoverableTaskError,
    );
    const timeout = roundTrip(new TaskTimeoutError('t', 100, 'soft'));
    expect(timeout).toBeInstanceOf(TaskTimeoutError);
    expect(timeout).toMatchObject({ taskName: 't', limitMs: 100, kind: 'soft' });
  });

  it('keeps the name, message, stack, cloneable fields and cause of any other error', () => {
    const error = Object.assign(new TypeError('bad input', { cause: new Error('root') }), {
      code: 'E_BAD',
      callback: () => undefined,
    });
    const back = roundTrip(error) as Error & { code?: string; callback?: unknown };
    expect(back).toMatchObject({ name: 'TypeError', message: 'bad input', code: 'E_BAD' });
    expect(back.stack).toBe(error.stack);
    expect(back.callback).toBeUndefined();
    expect((back.cause as Error).message).toBe('root');
  });

  it('turns a thrown non-error into an Error saying what it was', () => {
    expect(roundTrip('nope')).toMatchObject({ name: 'Error', message: 'nope' });
  });
});
