import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';

const LUA_DIR = join(__dirname, 'lua');
const INCLUDE = /^--- @include "([\w/-]+)"$/gm;

/**
 * The text of `lua/<name>.lua` with its `--- @include "…"` lines replaced by the named files
 * (BullMQ's convention), each included once.
 */
export function luaSource(name: string, included = new Set<string>()): string {
  const text = readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8');
  return text.replace(INCLUDE, (_line, include: string) => {
    if (included.has(include)) return '';
    included.add(include);
    return luaSource(include, included);
  });
}

/** Reply of `admit.lua`: see its header. */
export type AdmitReply =
  [3, string] | [2, string] | [0, number | string, number, number | string] | [4];

/** The admission scripts, defined on one connection (ioredis sends EVALSHA, falling back to EVAL). */
export interface AdmissionScripts {
  admit(routeKey: string, ...args: (string | number)[]): Promise<AdmitReply>;
  release(routeKey: string, ...args: (string | number)[]): Promise<number>;
  renew(routeKey: string, ...args: (string | number)[]): Promise<number[]>;
  wake(routeKey: string, ...args: (string | number)[]): Promise<[number, string, string]>;
}

const SCRIPTS = ['admit', 'release', 'renew', 'wake'] as const;

/** Defines the admission scripts on `redis` (once per connection) and returns them. */
export function admissionScripts(redis: Redis): AdmissionScripts {
  const commands = redis as unknown as Record<string, (...args: unknown[]) => Promise<never>>;
  const scripts = {} as Record<(typeof SCRIPTS)[number], (...args: unknown[]) => Promise<never>>;
  for (const name of SCRIPTS) {
    const command = `conveyor_${name}`;
    if (typeof commands[command] !== 'function') {
      redis.defineCommand(command, { numberOfKeys: 1, lua: luaSource(name) });
    }
    scripts[name] = (...args) => commands[command](...args);
  }
  return scripts as unknown as AdmissionScripts;
}
