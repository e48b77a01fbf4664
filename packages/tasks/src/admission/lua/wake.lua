--[[
  Looks at the scopes whose wake time has come (a rate window opened, a lease expired) and
  wakes their parked jobs as far as capacity allows. Any worker process may call it, as often
  as it likes: a scope that is not due is left alone, so the cost follows the number of due
  scopes, never the number of parked jobs.

  Input:
    KEYS[1]  Q cv:wake: names the queue's hash slot, so a cluster routes the call there
    ARGV[1]  Q, the queue's key prefix
    ARGV[2]  reservation ms
    ARGV[3]  how many due scopes to look at, at most

  Output: {woken, next, now}: how many jobs were woken, the next wake time in the queue
          (ms, Redis time) or "-1" when no scope waits, and Redis's time now (ms).
]]
local rcall = redis.call

--- @include "includes/wakeScope"

local Q = ARGV[1]
local reserveMs = tonumber(ARGV[2])
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local woken = 0
local due = rcall("ZRANGEBYSCORE", Q .. "cv:wake", "-inf", now, "LIMIT", 0, tonumber(ARGV[3]))
for _, scope in ipairs(due) do
  local _, count = wakeScope(Q, scope, now, reserveMs, {precise = true})
  woken = woken + count
end
local first = rcall("ZRANGE", Q .. "cv:wake", 0, 0, "WITHSCORES")
return {woken, first[2] and tostring(first[2]) or "-1", tostring(now)}
