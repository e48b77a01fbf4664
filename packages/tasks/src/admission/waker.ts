import type { AdmissionScripts } from './lua-scripts';
import { ConveyorLogger, errorField } from '../logging/conveyor-logger';

/**
 * How often a consumed queue's wake set is looked at even when no timer is due: often where
 * tasks have limits, rarely where only a second delivery of a job can park.
 */
export const WAKE_POLL_MS = { limited: 1_000, other: 15_000 };
const DUE_SCOPES_PER_CALL = 100;

/**
 * Wakes parked jobs whose limit frees up with time (a rate window opens, a dead worker's lease
 * expires). Each consumed queue has one timer, set to the next wake time the scripts report,
 * and a slow poll besides, so a wake time set by a process that then died is still honoured.
 * Releases wake their own scope directly; this is for what no release announces.
 */
export class Waker {
  private readonly logger = new ConveyorLogger('Conveyor');
  private readonly queues = new Map<string, { timer?: NodeJS.Timeout; at: number }>();
  private readonly polls: NodeJS.Timeout[] = [];
  private lastErrorLog = 0;
  private closed = false;

  constructor(
    private readonly scripts: () => AdmissionScripts,
    private readonly reserveMs: number,
  ) {}

  /** Starts looking after `queueKey` (`<prefix>:<queue>:`) every `pollMs`. */
  watch(queueKey: string, pollMs: number): void {
    if (this.closed) return;
    if (!this.queues.has(queueKey)) this.queues.set(queueKey, { at: Infinity });
    const poll = setInterval(() => void this.wake(queueKey), pollMs);
    poll.unref();
    this.polls.push(poll);
  }

  /** A script reported that `queueKey` has a scope due in `delayMs`. */
  schedule(queueKey: string, delayMs: number): void {
    if (this.closed) return;
    let state = this.queues.get(queueKey);
    if (!state) this.queues.set(queueKey, (state = { at: Infinity }));
    const at = Date.now() + Math.max(0, delayMs);
    if (state.timer && state.at <= at) return;
    clearTimeout(state.timer);
    state.at = at;
    state.timer = setTimeout(
      () => {
        state.timer = undefined;
        state.at = Infinity;
        void this.wake(queueKey);
      },
      Math.max(0, delayMs),
    );
    state.timer.unref();
  }

  async wake(queueKey: string): Promise<number> {
    if (this.closed) return 0;
    try {
      const [woken, next, now] = await this.scripts().wake(
        `${queueKey}cv:wake`,
        queueKey,
        this.reserveMs,
        DUE_SCOPES_PER_CALL,
      );
      if (next !== '-1') this.schedule(queueKey, Number(next) - Number(now));
      return woken;
    } catch (error) {
      const now = Date.now();
      if (now - this.lastErrorLog >= 10_000) {
        this.lastErrorLog = now;
        this.logger.warn(`could not wake parked jobs: ${(error as Error).message}`, {
          error: errorField(error),
        });
      }
      return 0;
    }
  }

  close(): void {
    this.closed = true;
    for (const poll of this.polls) clearInterval(poll);
    for (const state of this.queues.values()) clearTimeout(state.timer);
    this.queues.clear();
  }
}
