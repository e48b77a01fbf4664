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
