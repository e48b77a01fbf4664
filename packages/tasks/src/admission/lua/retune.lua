--[[
  Applies a task's run limits changed at run time (TaskControl) to the jobs already parked
  in one queue: every line of the task ("t:<task>", and "t:<task>:<key>" per key) gets the
  new limits in cv:scopes, and is woken as far as they allow now, in the same call, so no job
  stays parked behind a limit that no longer holds. Every worker process calls it for the
  queues it consumes when it learns of the change.

  Input:
    KEYS[1]  Q cv:wake: names the queue's hash slot, so a cluster routes the call there
    ARGV[1]  Q, the queue's key prefix
    ARGV[2]  task name
    ARGV[3]  slots (0: none), ARGV[4] rate max (0: none), ARGV[5] rate window ms
    ARGV[6]  reservation ms

  Output: {lines, woken}
]]
local rcall = redis.call

--- @include "includes/wakeScope"

local Q, task = ARGV[1], ARGV[2]
local spec = ARGV[3] .. " " .. ARGV[4] .. " " .. ARGV[5]
local reserveMs = tonumber(ARGV[6])
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local whole, keyed = "t:" .. task, "t:" .. task .. ":"
local lines, woken = 0, 0
local fields = rcall("HKEYS", Q .. "cv:scopes")
for _, scope in ipairs(fields) do
  if scope == whole or string.sub(scope, 1, #keyed) == keyed then
    lines = lines + 1
    rcall("HSET", Q .. "cv:scopes", scope, spec)
    local _, count = wakeScope(Q, scope, now, reserveMs, {precise = true})
    woken = woken + count
  end
end
return {lines, woken}
