--[[
  Decides whether a fetched job may start now, atomically across every worker process.

  A job may start when no stored result answers it, and in each of its scopes (a task, or a
  task and a key) a run slot is free (leases "<run id> <jobId>" -> expiry, on Redis time) and
  the rate window has room. A job that may not start is parked: out of the active list into
  the delayed set (PARKED_SCORE) and onto its scope's park list, to be woken by a release or
  by the wake set, never fetched again meanwhile. A job woken from a park list finds a
  reservation ("r <jobId>") that keeps its place. Within a scope, parked jobs start first:
  a newcomer parks behind them.

  A second delivery of a job whose first run still holds a lease (a stalled lock) parks on
  the job's own list "j:<jobId>", woken when that run releases (which stores its result for
  it) or when its lease expires.

  A lease is marked ("w <run id> <jobId>") once a job may wait for it: a refusal in its scope
  marks the scope's live leases, and a woken job (it came from a line) takes a marked one.
  Only a marked lease's release looks for jobs to wake (see release.lua).

  Input:
    KEYS[1]  Q cv:wake: names the queue's hash slot, so a cluster routes the call there
    ARGV[1]  Q, the queue's key prefix ("<prefix>:<queue>:")
    ARGV[2]  job id
    ARGV[3]  BullMQ's lock token of this delivery (a worker reuses it for its next job)
    ARGV[4]  run id, unique to this delivery: leases are "<run id> <jobId>"
    ARGV[5]  lease ms
    ARGV[6]  "1" to answer from a stored result first; "2" only when the job holds no
             reservation (a job woken from its scope's line is not a second delivery)
    ARGV[7]  lookahead: how many next jobs to look at for parking with this one (0: none):
             for a task-wide scope ("t:<task>"), the run of the same task next in line;
             for a keyed scope, those whose stored scope already has a line
    ARGV[8]  task name (for the lookahead)
    ARGV[9…] per scope, 4 values: scope name, slots (0: no slot limit), rate max (0: no
             rate limit), rate window ms

  Output:
    {3, now, marks}  admitted: the run holds a lease in every slotted scope; now is the
                     admission's Redis time (ms), as counted in the rate window; marks has a
                     character per scope, "1" where the run's lease is marked
    {2, json}        answered by a stored result; nothing held
    {0, due, parked, now}  parked, with how many jobs were parked (this one and the ones
                     ahead); due is when the scope is looked at again and now is Redis's
                     time (ms)
    {4}              this delivery no longer holds BullMQ's lock: nothing was done
]]
local rcall = redis.call

--- @include "includes/wakeScope"
--- @include "includes/parkFetched"

local Q, jobId, token = ARGV[1], ARGV[2], ARGV[3]
local member = ARGV[4] .. " " .. jobId
local leaseMs = tonumber(ARGV[5])
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local scopes = {}
for i = 9, #ARGV, 4 do
  scopes[#scopes + 1] = {
    name = ARGV[i], cap = tonumber(ARGV[i + 1]),
    rateMax = tonumber(ARGV[i + 2]), rateWindow = tonumber(ARGV[i + 3]),
  }
end

local reservation = "r " .. jobId
local refused, duplicateOf, duplicateDue, reservedAny
for _, s in ipairs(scopes) do
  local parkKey = Q .. "cv:park:" .. s.name
  s.leaseKey = Q .. "cv:lease:" .. s.name
  s.rateKey = Q .. "cv:rate:" .. s.name
  if s.cap > 0 then
    -- Members and their expiries, flattened: member, score, member, score…
    local live = rcall("ZRANGEBYSCORE", s.leaseKey, now, "+inf", "WITHSCORES")
    s.live = live
    for i = 1, #live, 2 do
      local member = live[i]
      if member == reservation then
        s.reserved = true
        reservedAny = true
      elseif leaseJobId(member) == jobId then
        duplicateOf, duplicateDue = member, live[i + 1]
      end
    end
    if duplicateOf then refused = s break end
    if not s.reserved and (#live / 2 >= s.cap or rcall("LLEN", parkKey) > 0) then
      refused = s break
    end
  end
  if s.rateMax > 0 then
    if rcall("ZSCORE", s.rateKey, reservation) then
      s.rateReserved = true
      reservedAny = true
    else
      rcall("ZREMRANGEBYSCORE", s.rateKey, "-inf", now - s.rateWindow)
      if rcall("ZCARD", s.rateKey) >= s.rateMax
        or (not s.reserved and s.cap == 0 and rcall("LLEN", parkKey) > 0) then
        refused = s break
      end
    end
  end
end

-- A stored result answers the run (checked after the leases: holding a reservation tells a
-- job woken from its line apart from a second delivery).
if ARGV[6] == "1" or (ARGV[6] == "2" and not reservedAny) then
  local stored = rcall("GET", Q .. "cv:result:" .. jobId)
  if stored then
    for _, s in ipairs(scopes) do
      if s.reserved then rcall("ZREM", s.leaseKey, reservation) end
      if s.rateReserved then rcall("ZREM", s.rateKey, reservation) end
      if s.reserved or s.rateReserved then
        wakeScope(Q, s.name, now, leaseMs, {limits = {s.cap, s.rateMax, s.rateWindow}, precise = true})
      end
    end
    return {2, stored}
  end
end

if not refused then
  local marks = {}
  for _, s in ipairs(scopes) do
    marks[#marks + 1] = s.reserved and "1" or "0"
    if s.cap > 0 then
      if s.reserved then rcall("ZREM", s.leaseKey, reservation) end
      rcall("ZADD", s.leaseKey, now + leaseMs, s.reserved and MARK .. member or member)
      -- Live holders (and reservations) keep the key alive past this lease's first renewal;
      -- without one, this run sets the key's expiry.
      if #s.live == 0 then
        rcall("PEXPIRE", s.leaseKey, leaseMs * 2)
      end
    end
    if s.rateMax > 0 then
      if s.rateReserved then rcall("ZREM", s.rateKey, reservation) end
      rcall("ZADD", s.rateKey, now, member)
      rcall("PEXPIRE", s.rateKey, s.rateWindow)
    end
  end
  return {3, tostring(now), table.concat(marks)}
end

if not parkFetched(Q, jobId, token) then return {4} end

-- The runs this job now waits for are marked, so that their releases wake it.
if refused.cap > 0 then markLeases(refused.leaseKey, refused.live) end

-- A reservation held in an earlier scope goes back to that scope's next parked job.
local woken = false
for _, s in ipairs(scopes) do
  if s == refused then break end
  if s.reserved or s.rateReserved then
    woken = true
    if s.reserved then rcall("ZREM", s.leaseKey, reservation) end
    if s.rateReserved then rcall("ZREM", s.rateKey, reservation) end
    wakeScope(Q, s.name, now, leaseMs, {limits = {s.cap, s.rateMax, s.rateWindow}, precise = true})
  end
end

if duplicateOf then
  local scope = "j:" .. jobId
  rcall("RPUSH", Q .. "cv:park:" .. scope, jobId)
  rcall("HSET", Q .. "cv:scopes", scope, "0 0 0 " .. refused.name)
  rcall("ZADD", Q .. "cv:wake", duplicateDue, scope)
  return {0, duplicateDue, 1, tostring(now)}
end

local parkKey = Q .. "cv:park:" .. refused.name
-- A job that was woken keeps its place at the head of the line.
if woken or refused.reserved or refused.rateReserved then
  if refused.reserved then rcall("ZREM", refused.leaseKey, reservation) end
  if refused.rateReserved then rcall("ZREM", refused.rateKey, reservation) end
  rcall("LPUSH", parkKey, jobId)
else
  rcall("RPUSH", parkKey, jobId)
end
rcall("HSET", Q .. "cv:scopes", refused.name,
  refused.cap .. " " .. refused.rateMax .. " " .. refused.rateWindow)
local parked = 1
-- Only the first scope (the task's limit) looks ahead.
local lookahead = refused == scopes[1] and tonumber(ARGV[7]) or 0
if lookahead > 0 and refused.name ~= "t:" .. ARGV[8] then
  -- A keyed scope ("t:<task>:<key>"): the next jobs' scopes come from their options.
  parked = parked + parkKeyedAhead(Q, lookahead)
elseif lookahead > 0 then
  -- Jobs woken into this scope's reservations stand at the fetch end too: they keep their turn.
  local reserved = {}
  local holders = {}
  for i = 1, #(refused.live or {}), 2 do holders[#holders + 1] = refused.live[i] end
  if refused.rateMax > 0 then
    for _, member in ipairs(rcall("ZRANGEBYSCORE", refused.rateKey, now - refused.rateWindow, "+inf")) do
      holders[#holders + 1] = member
    end
  end
  for _, member in ipairs(holders) do
    if string.sub(member, 1, 2) == "r " then reserved[string.sub(member, 3)] = true end
  end
  local ahead = parkAhead(Q, ARGV[8], lookahead, reserved)
  if #ahead > 0 then
    rcall("RPUSH", parkKey, unpack(ahead))
    parked = parked + #ahead
  end
end
local due = wakeScope(Q, refused.name, now, leaseMs,
  {limits = {refused.cap, refused.rateMax, refused.rateWindow}, precise = true}) or now
return {0, tostring(due), parked, tostring(now)}
