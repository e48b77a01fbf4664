--[[
  Moves a scope's parked jobs back to the front of the wait list, as many as the scope can
  start now, each with a reservation (member "r <jobId>") so the job finds its place held when
  a worker fetches it. While jobs stay parked, the scope is (re)scheduled in the wake set for
  the moment capacity can next free up: its earliest lease expiry, or its oldest start
  leaving the rate window. Returns that moment (nil when nothing is left parked) and how many jobs were woken.

  Key layout, all under one queue's prefix Q so they share its hash slot:
    Q cv:lease:<scope>  zset  "<run id> <jobId>" or "r <jobId>" -> lease expiry (ms, Redis time)
    Q cv:rate:<scope>   zset  member -> start time (ms)
    Q cv:park:<scope>   list  parked job ids, oldest first
    Q cv:scopes         hash  scope -> "<cap> <rateMax> <rateWindowMs>"
    Q cv:wake           zset  scope -> when to look at the scope again (ms)
]]
local PARKED_SCORE = 4102444800000 * 0x1000 -- BullMQ delayed score of 2100-01-01: "until woken"

local function scopeLimits(Q, scope)
  local spec = rcall("HGET", Q .. "cv:scopes", scope)
  if not spec then return 0, 0, 0 end
  local cap, rateMax, rateWindow = string.match(spec, "^(%d+) (%d+) (%d+)$")
  return tonumber(cap), tonumber(rateMax), tonumber(rateWindow)
end

local function wakeScope(Q, scope, now, reserveMs)
  local parkKey = Q .. "cv:park:" .. scope
  local parked = rcall("LLEN", parkKey)
  if parked == 0 then
    rcall("ZREM", Q .. "cv:wake", scope)
    rcall("HDEL", Q .. "cv:scopes", scope)
    return nil, 0
  end
  local cap, rateMax, rateWindow = scopeLimits(Q, scope)
  local leaseKey = Q .. "cv:lease:" .. scope
  local rateKey = Q .. "cv:rate:" .. scope
  local free = parked
  if cap > 0 then
    rcall("ZREMRANGEBYSCORE", leaseKey, "-inf", now)
    free = math.min(free, cap - rcall("ZCARD", leaseKey))
  end
  if rateMax > 0 then
    rcall("ZREMRANGEBYSCORE", rateKey, "-inf", now - rateWindow)
    free = math.min(free, rateMax - rcall("ZCARD", rateKey))
  end
  local woken = 0
  local delayedKey = Q .. "delayed"
  -- A job removed, promoted or cleaned while parked is dropped from the line, not woken, and
  -- the next one takes its turn.
  while free > woken and parked > 0 do
    local ids = rcall("LPOP", parkKey, math.min(free - woken, 1000))
    local scores = rcall("ZMSCORE", delayedKey, unpack(ids))
    local batch, leases, starts = {}, {}, {}
    for i, id in ipairs(ids) do
      if scores[i] and tonumber(scores[i]) >= PARKED_SCORE then
        batch[#batch + 1] = id
        leases[#leases + 1] = now + reserveMs
        leases[#leases + 1] = "r " .. id
        starts[#starts + 1] = now
        starts[#starts + 1] = "r " .. id
      end
    end
    if #batch > 0 then
      rcall("ZREM", delayedKey, unpack(batch))
      -- The fetch end of BullMQ's wait list is its right end: woken jobs are next in line.
      rcall("RPUSH", Q .. "wait", unpack(batch))
      if cap > 0 then
        rcall("ZADD", leaseKey, unpack(leases))
        rcall("PEXPIRE", leaseKey, reserveMs * 2)
      end
      if rateMax > 0 then
        rcall("ZADD", rateKey, unpack(starts))
        rcall("PEXPIRE", rateKey, rateWindow)
      end
      woken = woken + #batch
    end
    parked = parked - #ids
  end
  if woken > 0 and not rcall("HGET", Q .. "meta", "paused") then
    rcall("ZADD", Q .. "marker", 0, "0")
  end
  if parked == 0 then
    rcall("ZREM", Q .. "cv:wake", scope)
    rcall("HDEL", Q .. "cv:scopes", scope)
    return nil, woken
  end
  local due = now
  if cap > 0 then
    local first = rcall("ZRANGE", leaseKey, 0, 0, "WITHSCORES")
    if first[2] and rcall("ZCARD", leaseKey) >= cap then due = math.max(due, tonumber(first[2])) end
  end
  if rateMax > 0 and rcall("ZCARD", rateKey) >= rateMax then
    local oldest = rcall("ZRANGE", rateKey, 0, 0, "WITHSCORES")
    if oldest[2] then due = math.max(due, tonumber(oldest[2]) + rateWindow) end
  end
  rcall("ZADD", Q .. "cv:wake", due, scope)
  return due, woken
end
