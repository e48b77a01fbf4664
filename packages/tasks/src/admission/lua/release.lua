--[[
  Ends a run's hold: drops its leases, stores its result where something needs it, and wakes
  the parked jobs that can start in the capacity it leaves. Called once the handler has
  really stopped, never earlier. Only a marked lease (some job waits for it; see admit.lua)
  looks for jobs to wake: an unwatched run's release is one ZREM per scope.

  Input:
    KEYS[1]  Q cv:wake: names the queue's hash slot, so a cluster routes the call there
    ARGV[1]  Q, the queue's key prefix
    ARGV[2]  job id
    ARGV[3]  run id
    ARGV[4]  reservation ms (how long a woken job's place is held)
    ARGV[5]  store: "0" nothing (the run failed or was stopped), "1" always (an idempotent
             job), "2" only for a second delivery of this job parked behind this run
    ARGV[6]  the result as stored JSON (with store "1" or "2")
    ARGV[7]  how long a stored result lives, ms
    ARGV[8]  "1" when this worker fetches its next job right after (one woken job then needs
             no marker to be fetched)
    ARGV[9…] per scope the run holds a lease in, 5 values: scope, slots, rate max, rate
             window ms, "1" when admission marked the lease (admit.lua's marks)

  Output: how many parked jobs were woken.
]]
local rcall = redis.call

--- @include "includes/wakeScope"

local Q, jobId = ARGV[1], ARGV[2]
local member = ARGV[3] .. " " .. jobId
local reserveMs = tonumber(ARGV[4])
local store = ARGV[5]
-- Redis's time, read once and only when a job is woken (most releases of a free scope wake none).
local nowMs
local function clock()
  if not nowMs then
    local time = rcall("TIME")
    nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  end
  return nowMs
end

local woken = 0
-- Whether some job may wait for this run: a marked lease, or one it no longer holds (lost,
-- so unknown). A run nobody waited for gives its slots back and wakes nothing.
local watched = false
local fetcher = ARGV[8] == "1"
for i = 9, #ARGV, 5 do
  local scope = ARGV[i]
  local limits = {tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])}
  local leaseKey = Q .. "cv:lease:" .. scope
  -- The lease as admission gave it ("1": marked), or marked since by a job that waits.
  local marked = ARGV[i + 4] == "1"
  local held = rcall("ZREM", leaseKey, marked and MARK .. member or member) == 1
  if not held and not marked then
    marked = rcall("ZREM", leaseKey, MARK .. member) == 1
    held = marked
  end
  watched = watched or marked or not held
  local count = 0
  if not marked and held then
    -- Nobody waited for this run in this scope.
  elseif limits[2] == 0 then
    -- The slot it gave back, if it still held one (a lost lease frees nothing here).
    count = held and wakeFreedSlot(Q, scope, clock, reserveMs, fetcher and woken == 0) or 0
  else
    local _
    _, count = wakeScope(Q, scope, clock(), reserveMs,
      {limits = limits, precise = true, fetcher = fetcher and woken == 0})
  end
  woken = woken + count
end

local duplicates = "j:" .. jobId
local waiting = watched and rcall("EXISTS", Q .. "cv:park:" .. duplicates) == 1
if store == "1" or (store == "2" and waiting) then
  rcall("SET", Q .. "cv:result:" .. jobId, ARGV[6], "PX", ARGV[7])
end
if waiting then
  local _, count = wakeScope(Q, duplicates, clock(), reserveMs,
    {limits = {0, 0, 0}, precise = true, fetcher = fetcher and woken == 0})
  woken = woken + count
end
return woken
