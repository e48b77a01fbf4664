--[[
  Sets a gate's state in one queue as a worker learned it (a resumed task, a breaker that
  closed, opened again or was opened by hand for a while), unless Redis already holds a later
  generation. Opening wakes the gate's line, a chunk now and the rest through the wake set; a
  closed gate's line is looked at again at its new `until` (never, for -1). Every worker
  process calls it for the queues it consumes when it learns of a change, so a process that
  dies half way leaves no line behind.

  Input:
    KEYS[1]  Q cv:wake: names the queue's hash slot, so a cluster routes the call there
    ARGV[1]  Q, the queue's key prefix
    ARGV[2]  gate
    ARGV[3]  "o" open or "c" closed
    ARGV[4]  until (closed: ms, Redis time, when a probe candidate is woken; -1 never)
    ARGV[5]  generation of the state
    ARGV[6]  reservation ms

  Output: {woken, next, now}: jobs woken, the next wake time of the gate's line ("-1": none)
          and Redis's time now (ms).
]]
local rcall = redis.call

--- @include "includes/wakeScope"

local Q, gate, state = ARGV[1], ARGV[2], ARGV[3]
local untilMs, gen = tonumber(ARGV[4]), tonumber(ARGV[5])
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local _, _, storedGen = gateState(Q, gate)
if storedGen > gen then return {0, "-1", tostring(now)} end
if state == "o" then untilMs = 0 end
rcall("HSET", Q .. "cv:gates", gate, state .. " " .. untilMs .. " " .. gen)
if rcall("LLEN", Q .. "cv:park:" .. gate) == 0 then return {0, "-1", tostring(now)} end
rcall("HSET", Q .. "cv:scopes", gate, "0 0 0 gate")
local due, woken = wakeScope(Q, gate, now, tonumber(ARGV[6]), {precise = true})
return {woken, due and tostring(due) or "-1", tostring(now)}
