/**
 * Small checks shared by module, queue, task and enqueue option validation. Each takes a
 * `fail` callback so the caller decides which typed error carries the message.
 */
export type Fail = (problem: string) => never;

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object') return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Milliseconds from a number or a string such as `'1.5s'`; rejects negatives and junk. */
export function parseDuration(value: unknown, path: string, fail: Fail): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      fail(`${path} must be a non-negative number of milliseconds, got ${value}`);
    return Math.round(value);
  }
  if (typeof value === 'string') {
    const match = DURATION.exec(value.trim());
    if (match) return Math.round(Number(match[1]) * UNITS[match[2]]);
    fail(
      `${path} must be milliseconds or a duration like '500ms', '30s', '5m', '1h', '1d'; got '${value}'`,
    );
  }
  return fail(`${path} must be milliseconds or a duration string, got ${describe(value)}`);
}

export function checkInteger(
  value: unknown,
  path: string,
  min: number,
  max: number,
  fail: Fail,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(`${path} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value as number;
}

export function checkObject(value: unknown, path: string, fail: Fail): Record<string, unknown> {
  if (!isPlainObject(value)) fail(`${path} must be an object, got ${describe(value)}`);
  return value as Record<string, unknown>;
}

/** Rejects keys outside `known`, naming the nearest valid one: typos are errors, not no-ops. */
export function checkKnownKeys(
  value: Record<string, unknown>,
  known: readonly string[],
  path: string,
  fail: Fail,
): void {
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    const near = nearest(key, known);
    fail(
      `unknown option ${path ? `${path}.` : ''}${key}` +
        (near ? ` (did you mean '${near}'?)` : ` (valid: ${known.join(', ')})`),
    );
  }
}

/** The candidate closest to `word` by edit distance, if it is close enough to be a typo. */
export function nearest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        previous[j] + 1,
        current[j - 1] + 1,
        previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length];
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${String(value)}`;
}

/** `values` without its undefined entries: spread into options, an explicit undefined wins. */
export function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(values).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}
