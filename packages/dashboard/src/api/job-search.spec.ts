import { fieldMatches } from './job-search';

describe('fieldMatches', () => {
  it('compares a field by its text, so 42 finds the number and the string', () => {
    expect(fieldMatches({ orderId: 42 }, 'orderId', '42')).toBe(true);
    expect(fieldMatches({ orderId: '42' }, 'orderId', '42')).toBe(true);
    expect(fieldMatches({ orderId: 421 }, 'orderId', '42')).toBe(false);
  });

  it('follows a dot path, and matches presence without a value', () => {
    expect(fieldMatches({ customer: { id: 'c-7' } }, 'customer.id', 'c-7')).toBe(true);
    expect(fieldMatches({ customer: { id: 'c-7' } }, 'customer.id', undefined)).toBe(true);
    expect(fieldMatches({ customer: null }, 'customer.id', undefined)).toBe(false);
    expect(fieldMatches('text', 'length', undefined)).toBe(false);
  });
});
