import { join } from 'node:path';
import type { KeyLayout } from '../redis/key-layout';
import { defineScripts } from '../redis/lua-scripts';
import type { RedisClient } from '../redis/open-connection';

/** A breaker's state as `lua/breaker.lua` reports it, on this process's clock. */
export interface BreakerState {
  state: 'closed' | 'open' | 'half-open';
  /**
   * Open: when a probe may run (this process's clock, ms); `Infinity` when opened by hand
   * until closed. Half-open: when the probe's turn ends.
   */
  until: number;
  /** The same moment on Redis's clock (ms; -1: never), as the gates compare it. */
  redisUntil: number;
  gen: number;
}

/** What a call of `lua/breaker.lua` did: the state after it, and whether it changed it. */
export interface BreakerReply extends BreakerState {
  /** With op `probe`: this job is the probe. */
  probe: boolean;
  changed: boolean;
}

type BreakerOp = 'fail' | 'succeed' | 'probe' | 'open' | 'close' | 'read';

/** Calls `lua/breaker.lua` for breaker `name` on `redis`. */
export class BreakerScripts {
  private readonly script: (key: string, ...args: (string | number)[]) => Promise<unknown>;

  constructor(
    redis: RedisClient,
    private readonly keys: KeyLayout,
  ) {
    this.script = defineScripts(redis, join(__dirname, 'lua'), ['breaker']).breaker;
  }

  /** The channel on which every change of a breaker is announced (message: its name). */
  get channel(): string {
    return this.keys.appKey('breaker-changed');
  }

  key(name: string): string {
    return this.keys.appKey(`breaker:${name}`);
  }

  async call(op: BreakerOp, name: string, ...args: (string | number)[]): Promise<BreakerReply> {
    const [state, until, gen, changed, now] = (await this.script(
      this.key(name),
      op,
      this.channel,
      name,
      ...args,
    )) as [string, string, number, number, string];
    const redisUntil = Number(until);
    const local = redisUntil < 0 ? Infinity : Date.now() + (redisUntil - Number(now));
    return {
      state: state === 'probe' ? 'half-open' : (state as BreakerState['state']),
      until: state === 'closed' ? 0 : local,
      redisUntil,
      gen: Number(gen),
      probe: state === 'probe',
      changed: changed === 1,
    };
  }
}

/** The breaker's gate in each queue (see `admission/lua/gate.lua`). */
export const breakerGate = (name: string) => `b:${name}`;
