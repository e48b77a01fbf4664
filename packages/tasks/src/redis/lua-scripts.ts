import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RedisClient } from './open-connection';

const INCLUDE = /^--- @include "([\w/-]+)"$/gm;

/**
 * The text of `<dir>/<name>.lua` with its `--- @include "…"` lines replaced by the named files
 * (BullMQ's convention), each included once.
 */
export function luaSource(dir: string, name: string, included = new Set<string>()): string {
  const text = readFileSync(join(dir, `${name}.lua`), 'utf8');
  return text.replace(INCLUDE, (_line, include: string) => {
    if (included.has(include)) return '';
    included.add(include);
    return luaSource(dir, include, included);
  });
}

/**
 * Defines `<dir>/<name>.lua` for each name on `redis` (once per connection; ioredis sends
 * EVALSHA and falls back to EVAL) and returns them as functions. Every script takes one key,
 * which names the hash slot a cluster routes the call to.
 */
export function defineScripts<N extends string>(
  redis: RedisClient,
  dir: string,
  names: readonly N[],
): Record<N, (routeKey: string, ...args: (string | number)[]) => Promise<unknown>> {
  const commands = redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
  const scripts = {} as Record<N, (...args: (string | number)[]) => Promise<unknown>>;
  for (const name of names) {
    const command = `conveyor_${name}`;
    if (typeof commands[command] !== 'function') {
      redis.defineCommand(command, { numberOfKeys: 1, lua: luaSource(dir, name) });
    }
    scripts[name] = (...args) => commands[command](...args);
  }
  return scripts;
}
