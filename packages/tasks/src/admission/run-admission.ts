import { Inject, Injectable, type OnApplicationShutdown } from '@nestjs/common';
import type { Job } from 'bullmq';
import type { ResolvedModuleOptions } from '../options/module-options';
import { RedisConnections } from '../redis/redis-connections';
import { RESOLVED_TASKS_OPTIONS } from '../tasks.constants';
import { type AdmissionPlan, LOOKAHEAD } from './admission-plan';
import { type Lease, LeaseKeeper } from './lease-keeper';
import { admissionScripts, type AdmissionScripts } from './lua-scripts';
import { WAKE_POLL_MS, Waker } from './waker';

const CHECK_RESULT = { always: '1', unreserved: '2', never: '0' } as const;

/** How long a result stays for a second delivery of an exclusive job parked behind its run. */
const DUPLICATE_RESULT_TTL_MS = 3_600_000;

/** What admission decided for one delivery of a job. */
export type Admission =
  /**
   * Start the handler; `lease` (when slots are held) must be released once it stops. `at` is
   * Redis's time of the admission (ms), the moment a rate window counts.
   */
  | { kind: 'admitted'; at: number; lease?: Lease }
  /** A stored result answers this run; the handler does not run. */
  | { kind: 'stored'; result: unknown }
  /** Over a limit: the job is parked until a release or the wake set brings it back. */
  | { kind: 'parked'; parked: number }
  /** This delivery lost BullMQ's lock before admission: leave the job to its new owner. */
  | { kind: 'lost' };

/** How a run that held leases ended, for what its release stores. */
export type RunEnd = { ok: true; result: unknown } | { ok: false };

/**
 * Run admission shared by every worker process, on Redis: stored results, run slots (locks,
 * `singleton`, `maxConcurrent`, per key), rate limits, and the parking and waking of jobs
 * over a limit. The scripts are in `lua/`; each holds one queue's keys only, so a queue's
 * admission stays atomic on a Redis Cluster.
 */
@Injectable()
export class RunAdmission implements OnApplicationShutdown {
  private scriptsInstance?: AdmissionScripts;
  private readonly keeper: LeaseKeeper;
  private readonly waker: Waker;

  constructor(
    private readonly redis: RedisConnections,
    @Inject(RESOLVED_TASKS_OPTIONS) private readonly options: ResolvedModuleOptions,
  ) {
    // The worker connection is made on first use: a process without workers never opens it.
    const scripts = () => this.scripts;
    this.keeper = new LeaseKeeper(scripts, options.leaseMs);
    this.waker = new Waker(scripts, options.leaseMs);
  }

  private get scripts(): AdmissionScripts {
    return (this.scriptsInstance ??= admissionScripts(this.redis.workerClient));
  }

  /** Runs holding leases in this process (handlers still running, including stopped ones). */
  get leasesHeld(): number {
    return this.keeper.size;
  }

  /** Keeps waking `queue`'s parked jobs; `limited`: some task of it has a limit. */
  watch(queue: string, limited: boolean): void {
    this.waker.watch(
      this.options.keys.queueKey(queue),
      WAKE_POLL_MS[limited ? 'limited' : 'other'],
    );
  }

  /**
   * Admits one delivery (`token`) of `job`, or parks it. An admitted run's leases are renewed
   * until `release()`; `onLost` is called if one is lost meanwhile.
   */
  async enter(
    job: Job,
    token: string,
    plan: AdmissionPlan,
    onLost: () => void,
  ): Promise<Admission> {
    const key = this.options.keys.queueKey(job.queueName);
    // BullMQ counts every fetch of a job: with the worker's token, it names this delivery.
    const runId = `${token}:${job.attemptsStarted}`;
    const args: (string | number)[] = [
      key,
      job.id!,
      token,
      runId,
      this.options.leaseMs,
      CHECK_RESULT[resultCheck(plan, job)],
      plan.lookahead,
      job.name,
    ];
    for (const s of plan.scopes) args.push(s.name, s.slots, s.rateMax, s.rateWindowMs);
    const reply = await this.scripts.admit(`${key}cv:wake`, ...args);
    switch (reply[0]) {
      case 3: {
        const at = Number(reply[1]);
        const slotted = plan.scopes.flatMap((scope, i) =>
          scope.slots > 0 ? [{ scope, marked: reply[2][i] === '1' }] : [],
        );
        if (!slotted.length) return { kind: 'admitted', at };
        const lease: Lease = {
          queueKey: key,
          jobId: job.id!,
          runId,
          scopes: slotted.map((s) => s.scope),
          marked: slotted.map((s) => s.marked),
        };
        this.keeper.hold(lease, onLost);
        return { kind: 'admitted', at, lease };
      }
      case 2:
        return { kind: 'stored', result: (JSON.parse(reply[1]) as { v: unknown }).v };
      case 0:
        this.waker.schedule(key, Number(reply[1]) - Number(reply[3]));
        return { kind: 'parked', parked: reply[2] };
      default:
        return { kind: 'lost' };
    }
  }

  /**
   * Gives back a run's leases once its handler has stopped, storing its result where an
   * idempotent job or a parked second delivery needs it, and wakes what can start now.
   * `fetching`: this worker fetches its next job right after (the run's own end), so the one
   * job woken into the freed slot is taken without waking a blocked worker.
   */
  async release(
    lease: Lease,
    plan: AdmissionPlan,
    end: RunEnd,
    resultTtlMs: number,
    fetching: boolean,
  ): Promise<void> {
    this.keeper.drop(lease);
    const store = !end.ok ? '0' : plan.idempotent && resultTtlMs > 0 ? '1' : '2';
    const scopes: (string | number)[] = [];
    lease.scopes.forEach((s, i) =>
      scopes.push(s.name, s.slots, s.rateMax, s.rateWindowMs, lease.marked[i] ? '1' : '0'),
    );
    await this.scripts.release(
      `${lease.queueKey}cv:wake`,
      lease.queueKey,
      lease.jobId,
      lease.runId,
      this.options.leaseMs,
      store,
      end.ok ? JSON.stringify({ v: end.result ?? null }) : '',
      store === '1' ? resultTtlMs : DUPLICATE_RESULT_TTL_MS,
      fetching ? '1' : '0',
      ...scopes,
    );
  }

  /**
   * Parks a fetched job at a closed gate (`p:<task>`, `b:<breaker>`; see `lua/gate.lua`), as
   * of the state at generation `gen`; `untilMs` (Redis time) is when a breaker's gate may let a
   * probe through, -1 never. Returns `'open'` when Redis holds a later state that opened it.
   */
  async gate(
    job: Job,
    token: string,
    gate: string,
    untilMs: number,
    gen: number,
  ): Promise<'parked' | 'open' | 'lost'> {
    const key = this.options.keys.queueKey(job.queueName);
    const reply = await this.scripts.gate(
      `${key}cv:wake`,
      key,
      job.id!,
      token,
      gate,
      untilMs,
      gen,
      LOOKAHEAD,
      job.name,
      this.options.leaseMs,
    );
    if (reply[0] === 1) return 'open';
    if (reply[0] === 4) return 'lost';
    if (reply[1] !== '-1') this.waker.schedule(key, Number(reply[1]) - Number(reply[3]));
    return 'parked';
  }

  /**
   * Sets `gate` in `queue` as of generation `gen` (`lua/set-gate.lua`): open wakes its line;
   * closed looks at it again at `untilMs` (Redis time; -1 never).
   */
  async setGate(
    queue: string,
    gate: string,
    state: 'open' | 'closed',
    gen: number,
    untilMs = -1,
  ): Promise<number> {
    const key = this.options.keys.queueKey(queue);
    const [woken, next, now] = await this.scripts['set-gate'](
      `${key}cv:wake`,
      key,
      gate,
      state === 'open' ? 'o' : 'c',
      untilMs,
      gen,
      this.options.leaseMs,
    );
    if (next !== '-1') this.waker.schedule(key, Number(next) - Number(now));
    return woken;
  }

  /**
   * Gives the lines of `task` parked in `queue` its limits as changed at run time, and wakes
   * what they allow now (`lua/retune.lua`). `slots`/`rate` 0: none.
   */
  async retune(
    queue: string,
    task: string,
    slots: number,
    rate: { max: number; perMs: number } | undefined,
  ): Promise<{ lines: number; woken: number }> {
    const key = this.options.keys.queueKey(queue);
    const [lines, woken] = await this.scripts.retune(
      `${key}cv:wake`,
      key,
      task,
      slots,
      rate?.max ?? 0,
      rate?.perMs ?? 0,
      this.options.leaseMs,
    );
    if (lines > 0) void this.waker.wake(key);
    return { lines, woken };
  }

  onApplicationShutdown(): void {
    this.keeper.stop();
    this.waker.close();
  }
}

/**
 * Whether admission looks for a stored result. An exclusive job's result is stored only for a
 * second delivery parked behind its run; a job's first delivery (BullMQ counts the fetches)
 * cannot be one, so it skips the read.
 */
function resultCheck(plan: AdmissionPlan, job: Job): AdmissionPlan['checkResult'] {
  const firstDelivery = job.attemptsStarted === 1;
  return plan.checkResult === 'unreserved' && firstDelivery ? 'never' : plan.checkResult;
}
