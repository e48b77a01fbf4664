--[[
  A circuit breaker's state, shared by every worker process of the app. One hash a breaker,
  in the app's hash tag with its failure log, so each call is atomic on one node:

    B           hash  state ("closed" | "open" | "half-open"), until (ms, Redis time: when an
                      open breaker lets a probe through; -1 never, opened by hand), gen (a
                      generation, +1 on every change), probe (the job id of the half-open
                      probe), probeUntil (ms), manual ("1" when opened or closed by hand),
                      openedAt (ms), opens (how many times it opened)
    B:failures  zset  failed attempt -> its time (ms), within the window; closed only

  Every change is published on the channel ARGV[2] (message: the breaker's name), so each
  worker re-reads the state and opens or closes its queues' gates.

  Input:
    KEYS[1]  B, the breaker's hash
    ARGV[1]  op: "fail", "succeed", "probe", "open", "close", "read"
    ARGV[2]  channel; ARGV[3] breaker name
    fail:    ARGV[4] run id (unique to this attempt), ARGV[5] job id, ARGV[6] threshold,
             ARGV[7] window ms, ARGV[8] cooldown ms
    succeed: ARGV[4] job id
    probe:   ARGV[4] job id, ARGV[5] how long the probe may hold its turn (ms)
    open:    ARGV[4] ms to stay open before a probe (-1: until closed by hand)
    close, read: nothing more

  Output: {state, until, gen, changed, now}: the state after the call; for "probe", state
          "probe" when this job is the probe.
]]
local rcall = redis.call
local B, op, channel, name = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
local failuresKey = B .. ":failures"
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local fields = rcall("HMGET", B, "state", "until", "gen", "probe", "probeUntil")
local state = fields[1] or "closed"
local untilMs = tonumber(fields[2] or "0")
local gen = tonumber(fields[3] or "0")
local probe, probeUntil = fields[4], tonumber(fields[5] or "0")

local function reply(result, changed)
  return {result, tostring(untilMs), gen, changed and 1 or 0, tostring(now)}
end

local function change(newState, newUntil, manual)
  gen = gen + 1
  state, untilMs = newState, newUntil
  rcall("HSET", B, "state", state, "until", untilMs, "gen", gen, "manual", manual and "1" or "0")
  rcall("HDEL", B, "probe", "probeUntil")
  if state == "open" then
    rcall("HSET", B, "openedAt", now)
    rcall("HINCRBY", B, "opens", 1)
  end
  rcall("DEL", failuresKey)
  rcall("PUBLISH", channel, name)
  return reply(state, true)
end

if op == "fail" then
  local isProbe = state == "half-open" and probe == ARGV[5]
  if isProbe then return change("open", now + tonumber(ARGV[8]), false) end
  -- Open or half-open: a run that started before is no news.
  if state ~= "closed" then return reply(state, false) end
  local window = tonumber(ARGV[7])
  rcall("ZADD", failuresKey, now, ARGV[4])
  rcall("ZREMRANGEBYSCORE", failuresKey, "-inf", now - window)
  rcall("PEXPIRE", failuresKey, window)
  if rcall("ZCARD", failuresKey) >= tonumber(ARGV[6]) then
    return change("open", now + tonumber(ARGV[8]), false)
  end
  return reply(state, false)
elseif op == "succeed" then
  if state == "half-open" and probe == ARGV[4] then return change("closed", 0, false) end
  return reply(state, false)
elseif op == "probe" then
  if state == "closed" then return reply(state, false) end
  if state == "open" and (untilMs < 0 or now < untilMs) then return reply(state, false) end
  local jobId = ARGV[4]
  if state == "half-open" and probe and probe ~= jobId and probeUntil > now then
    untilMs = probeUntil
    return reply(state, false)
  end
  local changed = false
  if state == "open" then
    gen = gen + 1
    state = "half-open"
    rcall("HSET", B, "state", state, "gen", gen)
    rcall("PUBLISH", channel, name)
    changed = true
  end
  untilMs = now + tonumber(ARGV[5])
  rcall("HSET", B, "probe", jobId, "probeUntil", untilMs)
  return reply("probe", changed)
elseif op == "open" then
  local ms = tonumber(ARGV[4])
  return change("open", ms < 0 and -1 or now + ms, true)
elseif op == "close" then
  return change("closed", 0, true)
elseif op == "read" then
  return reply(state, false)
end
return redis.error_reply("unknown breaker op " .. tostring(op))
