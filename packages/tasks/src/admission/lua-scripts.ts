import { join } from 'node:path';
import type { RedisClient } from '../redis/open-connection';
import { defineScripts } from '../redis/lua-scripts';

/** Reply of `admit.lua`: see its header. */
export type AdmitReply =
  [3, string, string] | [2, string] | [0, number | string, number, number | string] | [4];

/** The admission scripts in `lua/`, each taking the queue's wake key to route it. */
export interface AdmissionScripts {
  admit(routeKey: string, ...args: (string | number)[]): Promise<AdmitReply>;
  release(routeKey: string, ...args: (string | number)[]): Promise<number>;
  renew(routeKey: string, ...args: (string | number)[]): Promise<number[]>;
  wake(routeKey: string, ...args: (string | number)[]): Promise<[number, string, string]>;
  gate(routeKey: string, ...args: (string | number)[]): Promise<GateReply>;
  'set-gate'(routeKey: string, ...args: (string | number)[]): Promise<[number, string, string]>;
  retune(routeKey: string, ...args: (string | number)[]): Promise<[number, number]>;
}

/** Reply of `gate.lua`: see its header. */
export type GateReply = [0, string, number, string] | [1] | [4];

/** Defines the admission scripts on `redis` (once per connection) and returns them. */
export function admissionScripts(redis: RedisClient): AdmissionScripts {
  return defineScripts(redis, join(__dirname, 'lua'), [
    'admit',
    'release',
    'renew',
    'wake',
    'gate',
    'set-gate',
    'retune',
  ]) as unknown as AdmissionScripts;
}
