import { isPlainObject } from '../options/validation';

const MAX_PROBLEMS = 5;

/** What one walk over a payload found. */
export interface PayloadScan {
  /** What would not survive a JSON round trip unchanged (at most five); empty when safe. */
  problems: string[];
  /** For a safe payload, an upper bound of its serialised size (see `jsonByteLengthBound`). */
  boundBytes: number;
}

/**
 * Walks a payload once, for the checks every enqueue makes: what would not survive a JSON
 * round trip unchanged (functions, symbols, BigInt, cycles, NaN and Infinity, class
 * instances such as Date, Map or Buffer, `undefined` at the top level or inside an array),
 * and a bound of its size. A path is spelled out only for a problem: the walk keeps the
 * keys on a stack instead of building a string per property.
 */
export function scanPayload(payload: unknown): PayloadScan {
  if (payload === undefined) {
    return { problems: ['payload is undefined; send null or an object'], boundBytes: 0 };
  }
  const problems: string[] = [];
  const keys: (string | number)[] = [];
  const ancestors: object[] = [];
  const problem = (message: string): number => {
    let path = 'payload';
    for (const key of keys) path += typeof key === 'number' ? `[${key}]` : `.${key}`;
    problems.push(`${path} ${message}`);
    return 0;
  };

  const visit = (value: unknown): number => {
    if (problems.length >= MAX_PROBLEMS) return 0;
    switch (typeof value) {
      case 'string':
        return 6 * value.length + 2;
      case 'boolean':
        return 5;
      case 'number':
        return Number.isFinite(value) ? 24 : problem(`is ${value}, which JSON turns into null`);
      case 'undefined':
        return problem('is undefined, which JSON turns into null');
      case 'function':
      case 'symbol':
      case 'bigint':
        return problem(`is a ${typeof value}, which JSON cannot carry`);
    }
    if (value === null) return 4;
    const object = value as object;
    if (ancestors.includes(object)) return problem('refers back to an enclosing object (a cycle)');
    if (Array.isArray(object)) {
      let bytes = 2 + object.length;
      ancestors.push(object);
      for (let i = 0; i < object.length; i++) {
        keys.push(i);
        bytes += visit(object[i]);
        keys.pop();
      }
      ancestors.pop();
      return bytes;
    }
    if (!isPlainObject(object)) {
      const kind = object.constructor?.name ?? 'object';
      return problem(
        kind === 'Date'
          ? 'is a Date, which would arrive as a string; send date.toISOString()'
          : `is a ${kind} instance, which JSON does not carry as is; send plain objects and arrays`,
      );
    }
    let bytes = 2;
    ancestors.push(object);
    for (const key of Object.keys(object)) {
      const child = (object as Record<string, unknown>)[key];
      // An undefined property is simply left out by JSON, as every JS developer expects.
      if (child === undefined) continue;
      keys.push(key);
      bytes += 6 * key.length + 4 + visit(child);
      keys.pop();
    }
    ancestors.pop();
    return bytes;
  };

  const boundBytes = visit(payload);
  return { problems, boundBytes };
}

/**
 * Lists what would not survive a JSON round trip unchanged (see `scanPayload`). An empty
 * list means the payload is safe to send.
 */
export function jsonSafetyProblems(payload: unknown): string[] {
  return scanPayload(payload).problems;
}

/** Serialised size of a JSON-safe payload in bytes. */
export function jsonByteLength(payload: unknown): number {
  return Buffer.byteLength(JSON.stringify(payload), 'utf8');
}

/**
 * A cheap upper bound of `jsonByteLength` for a JSON-safe payload, without serialising it.
 * Each UTF-16 unit of a string or key takes at most 6 bytes in JSON (`\u001f`, a lone
 * surrogate as `\udXXX`; other characters take 1–3 UTF-8 bytes), a number at most 24
 * characters (`-1.7976931348623157e+308`), and every separator is counted.
 */
export function jsonByteLengthBound(payload: unknown): number {
  return scanPayload(payload).boundBytes;
}
