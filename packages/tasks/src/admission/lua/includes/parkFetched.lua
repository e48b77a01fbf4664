--[[
  Takes a job this worker fetched out of BullMQ's active list and parks it in the delayed set
  with PARKED_SCORE, where no worker fetches it and dashboards show it as delayed. Checks the
  run's lock token first, as BullMQ's own moves do: a run that lost its lock moves nothing.
  Returns true when the job was parked.
]]
local function parkFetched(Q, jobId, token)
  local jobKey = Q .. jobId
  if rcall("GET", jobKey .. ":lock") ~= token then return false end
  rcall("DEL", jobKey .. ":lock")
  rcall("SREM", Q .. "stalled", jobId)
  rcall("LREM", Q .. "active", -1, jobId)
  rcall("ZADD", Q .. "delayed", PARKED_SCORE, jobId)
  return true
end

--[[
  Parks, with the job just refused, the run of jobs of the same task that stand next in line
  at the fetch end of the wait list (up to `limit`), so a backlog behind a task-wide limit is
  parked a batch at a time instead of being fetched and refused one job at a time. Only for
  scopes that the task name alone decides (no per-payload key). It stops at a job in
  `reserved` (woken, its place held). Returns the ids parked.
]]
local function parkAhead(Q, taskName, limit, reserved)
  if limit <= 0 then return {} end
  local waitKey = Q .. "wait"
  local ids = rcall("LRANGE", waitKey, -limit, -1)
  local taken = {}
  for i = #ids, 1, -1 do
    if reserved[ids[i]] or rcall("HGET", Q .. ids[i], "name") ~= taskName then break end
    taken[#taken + 1] = ids[i]
  end
  if #taken > 0 then
    rcall("LTRIM", waitKey, 0, -#taken - 1)
    local scored = {}
    for _, id in ipairs(taken) do
      scored[#scored + 1] = PARKED_SCORE
      scored[#scored + 1] = id
    end
    rcall("ZADD", Q .. "delayed", unpack(scored))
  end
  return taken
end

--[[
  The keyed limits' lookahead (a per-key scope's name depends on the payload, which Redis
  cannot read; the producer stores it in the job's options as "cvs"): of the next `limit` jobs
  at the fetch end of the wait list, parks those whose scope already has a line. Fetched, each
  would only park behind that line (admission's rule: a newcomer parks behind parked jobs).
  A job with no stored scope, whose scope has no line, or that holds a reservation (woken, its
  turn kept) stays where it was, in order. Lines are joined in fetch order. Returns how many
  jobs were parked.

  Refusals come in bursts (a worker's slots fetch together), and the jobs one lookahead left
  are the next one's window again: it remembers their scopes ("Q cv:ahead", JSON, job id ->
  scope or "" for none), so the next reads only the jobs it has not seen.
]]
local AHEAD_MEMORY_MS = 60000

local function parkKeyedAhead(Q, limit)
  if limit <= 0 then return 0 end
  local waitKey = Q .. "wait"
  local ids = rcall("LRANGE", waitKey, -limit, -1)
  local aheadKey = Q .. "cv:ahead"
  local memory = {}
  local remembered = rcall("GET", aheadKey)
  if remembered then
    local ok, decoded = pcall(cjson.decode, remembered)
    if ok and type(decoded) == "table" then memory = decoded end
  end

  -- Each job's stored scope ("" for none), from the fetch end (the right) inwards.
  local scopes, names, known = {}, {}, {}
  for i = #ids, 1, -1 do
    local scope = memory[ids[i]]
    if type(scope) ~= "string" then
      scope = ""
      local opts = rcall("HGET", Q .. ids[i], "opts")
      if opts then
        local ok, decoded = pcall(cjson.decode, opts)
        if ok and type(decoded) == "table" and type(decoded.cvs) == "string" then
          scope = decoded.cvs
        end
      end
    end
    scopes[i] = scope
    if scope ~= "" and not known[scope] then
      known[scope] = {}
      names[#names + 1] = scope
    end
  end

  -- A scope with a line is in cv:scopes (one read for all), with its limits; the line itself
  -- is checked only for those.
  local specs = #names > 0 and rcall("HMGET", Q .. "cv:scopes", unpack(names)) or {}
  for n, scope in ipairs(names) do
    local s = known[scope]
    if specs[n] and rcall("LLEN", Q .. "cv:park:" .. scope) > 0 then
      s.lined = true
      local cap, rateMax = string.match(specs[n], "^(%d+) (%d+)")
      s.cap, s.rateMax = tonumber(cap), tonumber(rateMax)
      -- A slotted scope's reservations are among its few leases: read them once.
      if s.cap > 0 then
        s.reserved = {}
        for _, member in ipairs(rcall("ZRANGE", Q .. "cv:lease:" .. scope, 0, -1)) do
          if string.sub(member, 1, 2) == "r " then s.reserved[string.sub(member, 3)] = true end
        end
      end
    end
  end

  local lines, kept, parked, left = {}, {}, {}, {}
  for i = #ids, 1, -1 do
    local id, scope = ids[i], scopes[i]
    local s = known[scope]
    local park = s and s.lined
    if park then
      if s.reserved then
        park = not s.reserved[id]
      elseif s.rateMax > 0 and rcall("ZSCORE", Q .. "cv:rate:" .. scope, "r " .. id) then
        park = false
      end
    end
    if park then
      lines[scope] = lines[scope] or {}
      table.insert(lines[scope], id)
      parked[#parked + 1] = PARKED_SCORE
      parked[#parked + 1] = id
    else
      table.insert(kept, 1, id)
      left[id] = scope
    end
  end
  if #kept > 0 then rcall("SET", aheadKey, cjson.encode(left), "PX", AHEAD_MEMORY_MS) end
  if #parked == 0 then return 0 end
  rcall("LTRIM", waitKey, 0, -#ids - 1)
  if #kept > 0 then rcall("RPUSH", waitKey, unpack(kept)) end
  rcall("ZADD", Q .. "delayed", unpack(parked))
  for scope, line in pairs(lines) do rcall("RPUSH", Q .. "cv:park:" .. scope, unpack(line)) end
  return #parked / 2
end
