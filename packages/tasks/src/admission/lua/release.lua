--[[
  Ends a run's hold: drops its leases, stores its result where something needs it, and wakes
  the parked jobs that can start in the capacity it leaves. Called once the handler has
  really stopped, never earlier.

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
    ARGV[9…] per scope the run holds a lease in, 4 values: scope, slots, rate max, rate
             window ms

  Output: how many parked jobs were woken.
]]
local rcall = redis.call

--- @include "includes/wakeScope"

local Q, jobId = ARGV[1], ARGV[2]
local member = ARGV[3] .. " " .. jobId
local reserveMs = tonumber(ARGV[4])
local store = ARGV[5]
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local woken = 0
local duplicates = "j:" .. jobId
local waiting = rcall("EXISTS", Q .. "cv:park:" .. duplicates) == 1
if store == "1" or (store == "2" and waiting) then
  rcall("SET", Q .. "cv:result:" .. jobId, ARGV[6], "PX", ARGV[7])
end

local fetcher = ARGV[8] == "1"
for i = 9, #ARGV, 4 do
  local scope = ARGV[i]
  local limits = {tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3])}
  local held = rcall("ZREM", Q .. "cv:lease:" .. scope, member) == 1
  local count
  if limits[2] == 0 then
    -- The slot it gave back, if it still held one (a lost lease frees nothing here).
    count = held and wakeFreedSlot(Q, scope, now, reserveMs, fetcher and woken == 0) or 0
  else
    local _
    _, count = wakeScope(Q, scope, now, reserveMs,
      {limits = limits, precise = true, fetcher = fetcher and woken == 0})
  end
  woken = woken + count
end
if waiting then
  local _, count = wakeScope(Q, duplicates, now, reserveMs,
    {limits = {0, 0, 0}, precise = true, fetcher = fetcher and woken == 0})
  woken = woken + count
end
return woken
