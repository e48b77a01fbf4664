import type { RateLimitInfo } from '../control/task-control';
import type { RegisteredTask } from '../tasks.registry';

/** One key of a `concurrencyKey` (or `lock`) task, as `QueueInspector.tenants()` reads it. */
export interface TenantInfo {
  task: string;
  /** What the task's `concurrencyKey` (or `lock`) function returned. */
  key: string;
  /**
   * Runs holding one of the key's slots now, in every worker process (live leases, on Redis
   * time). For a key with a rate limit and no slot limit: its jobs among the queue's active
   * jobs read on the first page (see `tenants()`).
   */
  running: number;
  /** Jobs woken from the key's line, on their way to a worker: their slot is held for them. */
  reserved: number;
  /** Runs at once allowed per key (`maxConcurrent`, 1 for `lock`); `null`: no slot limit. */
  limit: number | null;
  rateLimit?: RateLimitInfo;
  /**
   * The key's backlog: jobs parked in its line (refused by its limit, or looked ahead and
   * found behind it), woken in order as slots free up. Jobs of the key that no worker has
   * met yet are still in BullMQ's `wait` list, counted in the queue's `waiting` only.
   */
  parked: number;
}

/** A page of `QueueInspector.tenants()`. */
export interface TenantPage {
  queue: string;
  /** Sorted by `parked`, then `running`, most first (within this page). */
  tenants: TenantInfo[];
  /** Pass as `cursor` to read on; `null` once every line of the queue was read. */
  cursor: string | null;
}

/** Options of `QueueInspector.tenants()`. */
export interface TenantQuery {
  /**
   * Lines (keys with a backlog) read per call, as a hint to Redis's `HSCAN`, and running
   * jobs looked at on the first page, at most. @default 200
   */
  limit?: number;
  /** From the page before; absent for the first page. */
  cursor?: string;
}

export const MAX_TENANT_LIMIT = 1_000;

/**
 * One queue's keyed limits in one call, every key in the queue's hash slot (so it runs on a
 * Redis Cluster too); bounded: one HSCAN step of the lines, and on the first page the first
 * `limit` active jobs, whose stored scope (`cvs`, see `admission-plan.ts`) names the keys that
 * run with no line. Per key: the line's length and its live leases.
 *
 *   KEYS[1]  Q cv:scopes (the lines: scope -> "<cap> <rateMax> <rateWindowMs>[ holder]")
 *   ARGV[1]  Q, the queue's key prefix
 *   ARGV[2]  HSCAN cursor ("0": first page)
 *   ARGV[3]  limit
 *
 *   Returns {next cursor, then per keyed scope: scope, spec ("" when it has no line),
 *   parked, running (live leases), reserved, active (among the active jobs read)}.
 */
export const TENANTS_SCRIPT = `
local Q = ARGV[1]
local limit = tonumber(ARGV[3])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local scan = redis.call('HSCAN', KEYS[1], ARGV[2], 'COUNT', limit)
local scopes, specs, active = {}, {}, {}
local fields = scan[2]
for i = 1, #fields, 2 do
  local scope, spec = fields[i], fields[i + 1]
  -- Task limits only ("t:..."), not gates ("p:", "b:") nor second deliveries ("j:"), whose
  -- spec names a holder.
  if string.sub(scope, 1, 2) == 't:' and string.match(spec, '^%d+ %d+ %d+$') then
    scopes[#scopes + 1] = scope
    specs[scope] = spec
  end
end
if ARGV[2] == '0' then
  for _, id in ipairs(redis.call('LRANGE', Q .. 'active', 0, limit - 1)) do
    local opts = redis.call('HGET', Q .. id, 'opts')
    if opts then
      local ok, decoded = pcall(cjson.decode, opts)
      if ok and type(decoded) == 'table' and type(decoded.cvs) == 'string' then
        local scope = decoded.cvs
        -- A key with a line of its own comes on the page HSCAN returns it on.
        if not specs[scope] and not active[scope] then
          if redis.call('HEXISTS', KEYS[1], scope) == 0 then scopes[#scopes + 1] = scope end
        end
        active[scope] = (active[scope] or 0) + 1
      end
    end
  end
end
local out = {scan[1]}
for _, scope in ipairs(scopes) do
  local running, reserved = 0, 0
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', Q .. 'cv:lease:' .. scope, '(' .. now, '+inf')) do
    if string.sub(member, 1, 2) == 'r ' then reserved = reserved + 1 else running = running + 1 end
  end
  out[#out + 1] = scope
  out[#out + 1] = specs[scope] or ''
  out[#out + 1] = redis.call('LLEN', Q .. 'cv:park:' .. scope)
  out[#out + 1] = running
  out[#out + 1] = reserved
  out[#out + 1] = active[scope] or 0
end
return out`;

/** What the script answers, flattened. */
export type TenantsReply = [string, ...(string | number)[]];

/** The limits a task runs with now: its overrides (`TaskControl`) over what it declares. */
export interface EffectiveLimits {
  maxConcurrent?: number;
  rateLimit?: { max: number; perMs: number };
}

/**
 * The script's answer as a page. A scope `t:<task>:<key>` is split at the longest name of a
 * keyed task of this app that it starts with (task names may hold `:`); a scope of a task this
 * app does not know is split at its first `:` after the prefix. A task-wide scope (`t:<task>`
 * of a task without key) is left out.
 */
export function tenantPage(
  queue: string,
  reply: TenantsReply,
  tasks: readonly RegisteredTask[],
  limitsOf: (task: string) => EffectiveLimits | undefined,
): TenantPage {
  const [cursor, ...rows] = reply;
  const keyed = tasks
    .filter((task) => task.options.limitKey)
    .map((task) => task.name)
    .sort((a, b) => b.length - a.length);
  const plain = new Set(tasks.filter((task) => !task.options.limitKey).map((task) => task.name));
  const tenants: TenantInfo[] = [];
  for (let i = 0; i + 5 < rows.length; i += 6) {
    const scope = String(rows[i]).slice(2);
    const [parked, leases, reserved, active] = rows.slice(i + 2, i + 6).map(Number);
    // A line emptied by a release stays listed until the wake script passes: nothing to show.
    if (plain.has(scope) || parked + leases + reserved + active === 0) continue;
    const task = keyed.find((name) => scope.startsWith(`${name}:`));
    const split = task ? task.length : scope.indexOf(':');
    if (split <= 0) continue;
    const name = scope.slice(0, split);
    const spec = String(rows[i + 1]);
    const [cap, rateMax, rateWindow] = spec ? spec.split(' ').map(Number) : [];
    const limits = limitsOf(name);
    const slots = spec ? cap : (limits?.maxConcurrent ?? 0);
    const rate = spec
      ? rateMax > 0
        ? { max: rateMax, durationMs: rateWindow }
        : undefined
      : limits?.rateLimit && { max: limits.rateLimit.max, durationMs: limits.rateLimit.perMs };
    tenants.push({
      task: name,
      key: scope.slice(split + 1),
      // A slot limit's leases count every process's runs; without one, the active jobs read.
      running: slots > 0 ? leases : active,
      reserved,
      limit: slots > 0 ? slots : null,
      ...(rate ? { rateLimit: rate } : {}),
      parked,
    });
  }
  tenants.sort(
    (a, b) =>
      b.parked - a.parked ||
      b.running - a.running ||
      a.task.localeCompare(b.task) ||
      a.key.localeCompare(b.key),
  );
  return { queue, tenants, cursor: cursor === '0' ? null : String(cursor) };
}
