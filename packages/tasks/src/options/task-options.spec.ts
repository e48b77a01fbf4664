import { InvalidTaskOptionsError } from '../errors';
import { checkTaskOptions, resolveTaskOptions } from './task-options';

const fail = (problem: string): never => {
  throw new InvalidTaskOptionsError('t', problem);
};

describe('task option `on` (outbox event subscriptions)', () => {
  it('resolves one event name or a list to a list without duplicates', () => {
    expect(resolveTaskOptions('t', [{ on: 'order.created' }]).on).toEqual(['order.created']);
    expect(resolveTaskOptions('t', [{ on: ['a', 'b', 'a'] }]).on).toEqual(['a', 'b']);
    expect(resolveTaskOptions('t', [{}]).on).toEqual([]);
  });

  it('rejects event names that could not be part of a job id', () => {
    expect(() => checkTaskOptions({ on: 'order:created' }, '', fail)).toThrow(/on must be/);
    expect(() => checkTaskOptions({ on: [] }, '', fail)).toThrow(/at least one event/);
    expect(() => checkTaskOptions({ on: 42 }, '', fail)).toThrow(/got number 42/);
  });

  it('is not accepted as a module-wide default', () => {
    expect(() => checkTaskOptions({ on: 'x' }, 'defaults', fail, false)).toThrow(
      /unknown option defaults.on/,
    );
  });
});
