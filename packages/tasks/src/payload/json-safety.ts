import { isPlainObject } from '../options/validation';

const MAX_PROBLEMS = 5;

/**
 * Lists what would not survive a JSON round trip unchanged: functions, symbols, BigInt,
 * cycles, NaN and Infinity, class instances (Date, Map, Buffer, …), `undefined` at the top
 * level or inside an array. An empty list means the payload is safe to send.
 */
export function jsonSafetyProblems(payload: unknown): string[] {
  const problems: string[] = [];
  if (payload === undefined) {
    return ['payload is undefined; send null or an object'];
  }
  const ancestors = new Set<object>();

  const visit = (value: unknown, path: string): void => {
    if (problems.length >= MAX_PROBLEMS) return;
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return;
      case 'number':
        if (!Number.isFinite(value))
          problems.push(`${path} is ${value}, which JSON turns into null`);
        return;
      case 'undefined':
        problems.push(`${path} is undefined, which JSON turns into null`);
        return;
      case 'function':
      case 'symbol':
      case 'bigint':
        problems.push(`${path} is a ${typeof value}, which JSON cannot carry`);
        return;
    }
    if (value === null) return;
    const object = value as object;
    if (ancestors.has(object)) {
      problems.push(`${path} refers back to an enclosing object (a cycle)`);
      return;
    }
    if (Array.isArray(object)) {
      ancestors.add(object);
      object.forEach((item, i) => visit(item, `${path}[${i}]`));
      ancestors.delete(object);
      return;
    }
    if (!isPlainObject(object)) {
      const kind = object.constructor?.name ?? 'object';
      problems.push(
        kind === 'Date'
          ? `${path} is a Date, which would arrive as a string; send date.toISOString()`
          : `${path} is a ${kind} instance, which JSON does not carry as is; send plain objects and arrays`,
      );
      return;
    }
    ancestors.add(object);
    for (const key of Object.keys(object)) {
      const child = (object as Record<string, unknown>)[key];
      // An undefined property is simply left out by JSON, as every JS developer expects.
      if (child !== undefined) visit(child, `${path}.${key}`);
    }
    ancestors.delete(object);
  };

  visit(payload, 'payload');
  return problems;
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
  switch (typeof payload) {
    case 'string':
      return 6 * payload.length + 2;
    case 'number':
      return 24;
    case 'boolean':
      return 5;
    case 'undefined':
      return 0;
  }
  if (payload === null || typeof payload !== 'object') return 4;
  if (Array.isArray(payload)) {
    let bytes = 2 + payload.length;
    for (const item of payload) bytes += jsonByteLengthBound(item);
    return bytes;
  }
  let bytes = 2;
  for (const key of Object.keys(payload)) {
    const child = (payload as Record<string, unknown>)[key];
    if (child !== undefined) bytes += 6 * key.length + 4 + jsonByteLengthBound(child);
  }
  return bytes;
}
