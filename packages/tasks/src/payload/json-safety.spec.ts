import { jsonByteLength, jsonByteLengthBound, jsonSafetyProblems } from './json-safety';

describe('jsonSafetyProblems', () => {
  it('accepts plain JSON data, and undefined properties that JSON simply leaves out', () => {
    expect(jsonSafetyProblems({ a: 1, b: 'x', c: [true, null, { d: [] }], e: undefined })).toEqual(
      [],
    );
    expect(jsonSafetyProblems(null)).toEqual([]);
    expect(jsonSafetyProblems(Object.create(null))).toEqual([]);
  });

  it('names the path of each value JSON cannot carry', () => {
    expect(
      jsonSafetyProblems({ list: [1, undefined], f: () => 1, n: Infinity, s: Symbol('x') }),
    ).toEqual([
      'payload.list[1] is undefined, which JSON turns into null',
      'payload.f is a function, which JSON cannot carry',
      'payload.n is Infinity, which JSON turns into null',
      'payload.s is a symbol, which JSON cannot carry',
    ]);
  });

  it('finds cycles but allows the same object twice side by side', () => {
    const shared = { x: 1 };
    expect(jsonSafetyProblems({ a: shared, b: shared })).toEqual([]);
    const loop: unknown[] = [];
    loop.push({ back: loop });
    expect(jsonSafetyProblems(loop)).toEqual([
      'payload[0].back refers back to an enclosing object (a cycle)',
    ]);
  });

  it('rejects class instances, with advice for dates', () => {
    class Money {
      cents = 1;
    }
    expect(jsonSafetyProblems({ at: new Date(0), m: new Money(), b: Buffer.from('x') })).toEqual([
      'payload.at is a Date, which would arrive as a string; send date.toISOString()',
      'payload.m is a Money instance, which JSON does not carry as is; send plain objects and arrays',
      'payload.b is a Buffer instance, which JSON does not carry as is; send plain objects and arrays',
    ]);
  });

  it('stops after five problems', () => {
    expect(jsonSafetyProblems(Array.from({ length: 50 }, () => 10n))).toHaveLength(5);
  });
});

describe('jsonByteLength', () => {
  it('counts UTF-8 bytes, not characters', () => {
    expect(jsonByteLength({ s: 'é' })).toBe('{"s":"é"}'.length + 1);
  });
});

describe('jsonByteLengthBound', () => {
  it('is never below the serialised size, whatever needs escaping', () => {
    const payloads: unknown[] = [
      null,
      true,
      0,
      -Number.MAX_VALUE,
      Number.MIN_VALUE,
      123456789012345680000,
      '',
      'plain',
      '\u0001\u001f"\\\n',
      'é€😀',
      '\ud800 lone surrogate',
      { 'ké\u0001y': ['a', 1, false, null, { nested: '\t' }], skipped: undefined },
      [[], {}, [[]]],
    ];
    for (const payload of payloads) {
      expect(jsonByteLengthBound(payload)).toBeGreaterThanOrEqual(jsonByteLength(payload));
    }
  });
});
