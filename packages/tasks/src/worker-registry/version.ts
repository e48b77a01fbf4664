import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * This package's version, from its package.json (two folders up from here in `src/` and in
 * `dist/` alike); `'unknown'` if it cannot be read (a bundler that left it out).
 */
export const CONVEYOR_VERSION: string = (() => {
  try {
    const json = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as {
      version?: unknown;
    };
    return typeof json.version === 'string' ? json.version : 'unknown';
  } catch {
    return 'unknown';
  }
})();
