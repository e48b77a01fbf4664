import { RedisTimeoutError } from './bounded';
import { isRedisTrouble } from './outbox-publisher';
import { RedisUnavailableError } from './relay-redis';

describe('isRedisTrouble', () => {
  it.each([
    new RedisTimeoutError('addBulk (queue q)', 5_000),
    new RedisUnavailableError('Redis is not reachable (connect ECONNREFUSED 127.0.0.1:6379)'),
    new Error('read ECONNRESET'),
    new Error('Connection is closed.'),
    new Error('Command timed out'),
    new Error("OOM command not allowed when used memory > 'maxmemory'."),
    new Error("READONLY You can't write against a read only replica."),
    new Error('LOADING Redis is loading the dataset in memory'),
    new Error('BUSY Redis is busy running a script.'),
    new Error('CLUSTERDOWN The cluster is down'),
    new Error('WRONGPASS invalid username-password pair or user is disabled.'),
    new Error('NOPERM User relay has no permissions to run the evalsha command'),
    new Error('ERR max number of clients reached'),
  ])('counts "%s" as Redis trouble: retried, never a reason to set a row aside', (error) => {
    expect(isRedisTrouble(error)).toBe(true);
  });

  it.each([
    new Error('Priority should not be float'),
    new Error('Custom Id cannot be integers'),
    new Error('Custom Id cannot contain :'),
    new Error('ERR Error running script (call to f_1234): user_script:1: bad argument'),
  ])('counts "%s" as a refusal of the job itself', (error) => {
    expect(isRedisTrouble(error)).toBe(false);
  });
});
