--[[
  Moves a scope's parked jobs back to the fetch end of the wait list, as many as the scope can
  start now, each with a reservation (member "r <jobId>") so the job finds its place held when
  a worker fetches it. While jobs stay parked, the scope keeps an entry in the wake set at the
  moment capacity can next free up (its earliest lease expiry, or its oldest start leaving the
  rate window): set when a job parks (admit.lua), moved on by the wake script (wake.lua).

  Key layout, all under one queue's prefix Q so they share its hash slot:
    Q cv:lease:<scope>  zset  lease member (below) -> lease expiry (ms, Redis time)
    Q cv:rate:<scope>   zset  member -> start time (ms)
    Q cv:park:<scope>   list  parked job ids, oldest first
    Q cv:scopes         hash  scope -> "<cap> <rateMax> <rateWindowMs>", or
                              "0 0 0 <holder scope>" for a second delivery's line, or
                              "0 0 0 gate" for a gate's line (below)
    Q cv:wake           zset  scope -> when to look at the scope again (ms)
    Q cv:gates          hash  gate -> "<o|c> <until ms, -1: never> <generation>"

  A gate ("p:<task>" for a paused task, "b:<breaker>" for an open circuit breaker) holds
  every job of its line while closed: its line wakes one job, the breaker's probe candidate,
  once `until` has passed, and none while it is "never"; once open, the whole line, a chunk a
  call. See gate.lua and set-gate.lua.

  opts: limits ({cap, rateMax, rateWindow}, read from cv:scopes when absent); precise (the
  wake script: prune expired entries and compute the exact next wake time); fetcher (the
  caller's worker fetches its next job right after, so one woken job needs no marker).
  Returns the next wake time (nil when nothing is left parked, or not precise) and how many
  jobs were woken.
]]
local PARKED_SCORE = 4102444800000 * 0x1000 -- BullMQ delayed score of 2100-01-01: "until woken"

--[[
  Lease members: "<run id> <jobId>" for a run, "w <run id> <jobId>" for a run some job waits
  for (marked: its release wakes), "r <jobId>" for a woken job's reservation. A run id has no
  space; a job id may.
]]
local MARK = "w "

-- The job of a run's lease member; nil for a reservation.
local function leaseJobId(member)
  local prefix = string.sub(member, 1, 2)
  if prefix == "r " then return nil end
  if prefix == MARK then member = string.sub(member, 3) end
  return string.sub(member, string.find(member, " ", 1, true) + 1)
end

-- Marks the unmarked runs among `live` (member, expiry pairs) of the lease set `leaseKey`.
local function markLeases(leaseKey, live)
  for i = 1, #live, 2 do
    local member = live[i]
    local prefix = string.sub(member, 1, 2)
    if prefix ~= "r " and prefix ~= MARK then
      rcall("ZREM", leaseKey, member)
      rcall("ZADD", leaseKey, live[i + 1], MARK .. member)
    end
  end
end

local function scopeLimits(Q, scope)
  local spec = rcall("HGET", Q .. "cv:scopes", scope)
  if not spec then return 0, 0, 0 end
  local cap, rateMax, rateWindow, holder = string.match(spec, "^(%d+) (%d+) (%d+) ?(.*)$")
  return tonumber(cap), tonumber(rateMax), tonumber(rateWindow), holder ~= "" and holder or nil
end

--[[
  The lease expiry of the run of `jobId` that holds a slot in scope `holder`, if one still
  does: a second delivery of the job waits for it.
]]
local function heldUntil(Q, holder, jobId, now)
  local live = rcall("ZRANGEBYSCORE", Q .. "cv:lease:" .. holder, now, "+inf", "WITHSCORES")
  for i = 1, #live, 2 do
    if leaseJobId(live[i]) == jobId then return tonumber(live[i + 1]) end
  end
  return nil
end

-- Jobs an open gate wakes per call: a long line is woken over several calls of the wake script.
local GATE_WAKE_CHUNK = 1000

-- A gate's state: "o" or "c", until (ms; -1 never), generation. A gate never set is open,
-- at generation -1.
local function gateState(Q, gate)
  local spec = rcall("HGET", Q .. "cv:gates", gate)
  if not spec then return "o", 0, -1 end
  local state, untilMs, gen = string.match(spec, "^(%a) (%-?%d+) (%d+)$")
  return state, tonumber(untilMs), tonumber(gen)
end

local function forgetScope(Q, scope)
  rcall("ZREM", Q .. "cv:wake", scope)
  rcall("HDEL", Q .. "cv:scopes", scope)
end

local function wakeScope(Q, scope, now, reserveMs, opts)
  local parkKey = Q .. "cv:park:" .. scope
  local parked = rcall("LLEN", parkKey)
  if parked == 0 then
    if opts.precise then forgetScope(Q, scope) end
    return nil, 0
  end
  local cap, rateMax, rateWindow, holder
  if opts.limits then
    cap, rateMax, rateWindow = opts.limits[1], opts.limits[2], opts.limits[3]
  else
    cap, rateMax, rateWindow, holder = scopeLimits(Q, scope)
  end
  -- A gate's line: none while closed, one probe candidate once its time has come, a chunk
  -- while open. Only the wake script and set-gate.lua look at gates (precise).
  local gateFree, gateNext
  if holder == "gate" then
    if not opts.precise then return nil, 0 end
    local state, untilMs = gateState(Q, scope)
    if state == "o" then
      gateFree = GATE_WAKE_CHUNK
    elseif untilMs < 0 then
      rcall("ZREM", Q .. "cv:wake", scope)
      return nil, 0
    elseif now < untilMs then
      rcall("ZADD", Q .. "cv:wake", untilMs, scope)
      return untilMs, 0
    else
      -- The candidate goes back to the head of the line if the breaker lets no probe through
      -- yet; the line is looked at again after a reservation's time.
      gateFree = 1
      gateNext = now + reserveMs
    end
    holder = nil
  end
  -- A second delivery's line ("j:<jobId>") waits while the first run still holds its lease.
  if holder and opts.precise then
    local heldTo = heldUntil(Q, holder, string.sub(scope, 3), now)
    if heldTo then
      rcall("ZADD", Q .. "cv:wake", heldTo, scope)
      return heldTo, 0
    end
  end
  local leaseKey = Q .. "cv:lease:" .. scope
  local rateKey = Q .. "cv:rate:" .. scope
  -- A line with no limit left (a gate's, or a task whose limits were lifted at run time)
  -- wakes a chunk a call; the wake script takes the rest in turn.
  if cap == 0 and rateMax == 0 and not gateFree then gateFree = GATE_WAKE_CHUNK end
  local free = math.min(parked, gateFree or parked)
  if cap > 0 then
    if opts.precise then
      rcall("ZREMRANGEBYSCORE", leaseKey, "-inf", now)
      free = math.min(free, cap - rcall("ZCARD", leaseKey))
    else
      free = math.min(free, cap - rcall("ZCOUNT", leaseKey, "(" .. now, "+inf"))
    end
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
    local batch = {}
    if #ids == 1 then
      if rcall("ZREM", delayedKey, ids[1]) == 1 then batch[1] = ids[1] end
    else
      local scores = rcall("ZMSCORE", delayedKey, unpack(ids))
      for i, id in ipairs(ids) do
        if scores[i] and tonumber(scores[i]) >= PARKED_SCORE then batch[#batch + 1] = id end
      end
      if #batch > 0 then rcall("ZREM", delayedKey, unpack(batch)) end
    end
    if #batch > 0 then
      local leases, starts = {}, {}
      for _, id in ipairs(batch) do
        leases[#leases + 1] = now + reserveMs
        leases[#leases + 1] = "r " .. id
        starts[#starts + 1] = now
        starts[#starts + 1] = "r " .. id
      end
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
  -- Blocked workers wait on BullMQ's marker; a worker about to fetch needs none for one job.
  if woken > (opts.fetcher and 1 or 0) then rcall("ZADD", Q .. "marker", 0, "0") end
  if parked == 0 then
    forgetScope(Q, scope)
    return nil, woken
  end

  -- A scope with parked jobs keeps its wake entry from the park (admit.lua) until its line
  -- is empty; the wake script moves it on. A release has nothing to reschedule.
  if not opts.precise then return nil, woken end
  local due = gateNext or now
  if cap > 0 and rcall("ZCARD", leaseKey) >= cap then
    local first = rcall("ZRANGE", leaseKey, 0, 0, "WITHSCORES")
    due = math.max(due, tonumber(first[2]))
  end
  if rateMax > 0 and rcall("ZCARD", rateKey) >= rateMax then
    local oldest = rcall("ZRANGE", rateKey, 0, 0, "WITHSCORES")
    due = math.max(due, tonumber(oldest[2]) + rateWindow)
  end
  rcall("ZADD", Q .. "cv:wake", due, scope)
  return due, woken
end

--[[
  A release's fast path, for a scope with a slot limit and no rate limit: the run gave back
  the one slot it held, so one parked job, at most, can take it. Skips jobs removed while
  parked. A line left empty keeps its wake entry until the wake script finds it empty.
  `clock` returns Redis's time (ms): read only when there is a job to reserve a place for.
]]
local function wakeFreedSlot(Q, scope, clock, reserveMs, fetcher)
  local parkKey = Q .. "cv:park:" .. scope
  local id = rcall("LPOP", parkKey)
  while id and rcall("ZREM", Q .. "delayed", id) == 0 do id = rcall("LPOP", parkKey) end
  if not id then return 0 end
  local leaseKey = Q .. "cv:lease:" .. scope
  rcall("RPUSH", Q .. "wait", id)
  rcall("ZADD", leaseKey, clock() + reserveMs, "r " .. id)
  rcall("PEXPIRE", leaseKey, reserveMs * 2)
  if not fetcher then rcall("ZADD", Q .. "marker", 0, "0") end
  return 1
end

