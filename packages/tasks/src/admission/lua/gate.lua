--[[
  Parks a fetched job at a closed gate: a paused task ("p:<task>") or an open circuit breaker
  ("b:<breaker>"). The worker closes a gate by parking a job at it with the state it knows
  (its generation); a later state that Redis already holds wins, so a worker that has not yet
  heard of a resume or a closed breaker cannot hold jobs back: it is told to run the job.

  The job goes to the gate's line (the tail; the head when the gate's time has come, for a
  probe candidate that must wait again), and with it the run of jobs of the same task next in
  line, so a backlog is parked a batch at a time. The line is woken by set-gate.lua, or, for
  a breaker, one job at a time once `until` has passed (wakeScope).

  Input:
    KEYS[1]  Q cv:wake: names the queue's hash slot, so a cluster routes the call there
    ARGV[1]  Q, the queue's key prefix
    ARGV[2]  job id
    ARGV[3]  BullMQ's lock token of this delivery
    ARGV[4]  gate
    ARGV[5]  until: when the gate may let a probe through (ms, Redis time); -1 never
    ARGV[6]  generation of the state the worker knows
    ARGV[7]  lookahead: how many next jobs to look at for parking with this one
    ARGV[8]  task name (for the lookahead)
    ARGV[9]  reservation ms (how soon a probe candidate's line is looked at again)

  Output:
    {0, due, parked, now}  parked (due: when the line is looked at again, -1 never)
    {1}                    the gate is open in a later state: run the job
    {4}                    this delivery no longer holds BullMQ's lock: nothing was done
]]
local rcall = redis.call

--- @include "includes/wakeScope"
--- @include "includes/parkFetched"

local Q, jobId, token, gate = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local untilMs, gen = tonumber(ARGV[5]), tonumber(ARGV[6])
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local state, storedUntil, storedGen = gateState(Q, gate)
if storedGen > gen then
  if state == "o" then return {1} end
  untilMs = storedUntil
else
  rcall("HSET", Q .. "cv:gates", gate, "c " .. untilMs .. " " .. gen)
end

if not parkFetched(Q, jobId, token) then return {4} end

local parkKey = Q .. "cv:park:" .. gate
local due = untilMs
if untilMs >= 0 and untilMs <= now then
  rcall("LPUSH", parkKey, jobId)
  due = now + tonumber(ARGV[9])
else
  rcall("RPUSH", parkKey, jobId)
end
local ahead = parkAhead(Q, ARGV[8], tonumber(ARGV[7]), {})
if #ahead > 0 then rcall("RPUSH", parkKey, unpack(ahead)) end
rcall("HSET", Q .. "cv:scopes", gate, "0 0 0 gate")
if due >= 0 then
  rcall("ZADD", Q .. "cv:wake", due, gate)
else
  rcall("ZREM", Q .. "cv:wake", gate)
end
return {0, tostring(due), 1 + #ahead, tostring(now)}
