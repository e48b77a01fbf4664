import { InvalidTaskOptionsError } from '../errors';
import { checkTaskOptions } from '../options/task-options';
import { searchPairs } from './search-index';

describe('the payload-field search index', () => {
  it('indexes numbers, strings and booleans as text, by dot path', () => {
    const payload = { orderId: 42, customer: { id: 'c-7', vip: true }, items: [1], note: null };
    expect(
      searchPairs(['orderId', 'customer.id', 'customer.vip', 'items', 'note', 'missing'], payload),
    ).toEqual([
      ['orderId', '42'],
      ['customer.id', 'c-7'],
      ['customer.vip', 'true'],
    ]);
    // Not through arrays, and not values a search would not compare whole.
    expect(searchPairs(['items.0'], payload)).toEqual([]);
    expect(searchPairs(['big'], { big: 'x'.repeat(201) })).toEqual([]);
    expect(searchPairs(['orderId'], 'not an object')).toEqual([]);
  });

  it('refuses searchable fields it could not index, naming them', () => {
    const check = (searchable: unknown) =>
      checkTaskOptions({ searchable }, 'orders.charge', (problem) => {
        throw new InvalidTaskOptionsError('orders.charge', problem);
      });
    expect(() => check(['orderId', 'customer.id'])).not.toThrow();
    expect(() => check('orderId')).toThrow(
      /searchable must be a list of 1 to 10 payload field paths/,
    );
    expect(() => check([])).toThrow(/searchable must be a list of 1 to 10/);
    expect(() => check(['order id'])).toThrow(/searchable\[0\] must be a payload field/);
    expect(() => check(['a.b.c.d.e.f'])).toThrow(/searchable\[0\]/);
    expect(() => check(['orderId', 'orderId'])).toThrow(/names a field twice/);
  });
});
