import { EnqueueFailedError } from './enqueue-failed.error';
import { InvalidPayloadError } from './invalid-payload.error';
import { RedisUnavailable } from '../redis/redis-unavailable';

class ReplyError extends Error {
  override readonly name = 'ReplyError';
}

describe('EnqueueFailedError.from', () => {
  it('explains an OOM reply without the script sha noise', () => {
    const error = EnqueueFailedError.from(
      'email.send',
      'email',
      new ReplyError("OOM command not allowed when used memory > 'maxmemory'. script: abc"),
    );
    expect(error).toBeInstanceOf(EnqueueFailedError);
    expect(error).toMatchObject({ reason: 'out-of-memory', taskName: 'email.send' });
    expect((error as Error).message).toMatch(
      /^Could not enqueue task "email.send" on queue "email": Redis is out of memory/,
    );
  });

  it('says a failed connection may or may not have added the job', () => {
    const error = EnqueueFailedError.from(
      't',
      'q',
      new Error('connect ECONNREFUSED 127.0.0.1:6379'),
    );
    expect(error).toMatchObject({ reason: 'connection' });
    expect((error as Error).message).toMatch(/may or may not have been added/);
  });

  it("passes Conveyor's own errors through", () => {
    const own = new InvalidPayloadError('t', ['bad']);
    expect(EnqueueFailedError.from('t', 'q', own)).toBe(own);
  });

  it('names the last connection error of a call Redis did not answer, and keeps it as cause', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), {
      code: 'ECONNREFUSED',
    });
    const error = EnqueueFailedError.from(
      't',
      'q',
      new RedisUnavailable('no answer after 500 ms (enqueueTimeout)', refused),
    ) as EnqueueFailedError;
    expect(error).toMatchObject({ reason: 'connection', cause: refused });
    expect(error.message).toMatch(
      /Redis did not answer \(no answer after 500 ms \(enqueueTimeout\); last connection error: connect ECONNREFUSED 127.0.0.1:6390\)/,
    );
  });
});
