import { bucketMs, bucketOf, errorSignature } from './stats-keys';

describe('run history buckets and error groups', () => {
  it('puts a run time in a bucket whose middle is within 9% of it', () => {
    for (const ms of [2, 3, 7, 10, 55, 200, 999, 1_500, 60_000, 3_600_000]) {
      const middle = bucketMs(bucketOf(ms));
      expect(Math.abs(middle - ms) / ms).toBeLessThan(0.09);
    }
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(1)).toBe(0);
    expect(bucketMs(0)).toBe(1);
    // Buckets only grow with the run time.
    expect(bucketOf(200)).toBeGreaterThan(bucketOf(150));
  });

  it('groups failures that differ only by numbers, ids and quoted values', () => {
    expect(errorSignature('RangeError', 'card declined for order 41')).toBe(
      errorSignature('RangeError', 'card declined for order 1042'),
    );
    expect(
      errorSignature('Error', "user 'ada' not found in 3f2504e0-4f89-11d3-9a0c-0305e82c3301"),
    ).toBe('Error: user <value> not found in <id>');
    expect(errorSignature('TypeError', 'x')).not.toBe(errorSignature('RangeError', 'x'));
    // Mongo ObjectIds and e-mail addresses fold too; a plain word of hex letters does not.
    expect(errorSignature('Error', 'no order 507f1f77bcf86cd799439011 for ada@example.com')).toBe(
      'Error: no order <id> for <email>',
    );
    expect(errorSignature('Error', 'bad deadbeef')).toBe('Error: bad deadbeef');
    expect(errorSignature('Error', 'a'.repeat(500))).toHaveLength(200);
  });
});
