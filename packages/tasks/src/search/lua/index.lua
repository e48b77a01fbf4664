--[[
  Adds jobs to their queue's payload-field index: for each (field, value, job id), the job id
  goes in a sorted set by enqueue time, capped to the newest ARGV[1] ids, and the set lives
  ARGV[2] seconds after its last write. Written by the producer (and the outbox relay) for
  tasks that declare `searchable` fields; read by the dashboard's search. All in the queue's
  hash tag:

    I                   hash  field -> when it was last written (ms): the indexed fields
    I:<field>=<value>   zset  job id -> enqueue time in ms × 1000 + its place in its batch

  Input:
    KEYS[1]  I, <queue key>cv:idx
    ARGV[1]  ids kept per value (newest); ARGV[2] TTL in seconds
    ARGV[3…] quadruples: field, value, job id, score
]]
local rcall = redis.call
local I = KEYS[1]
local cap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local fields = {}
for i = 3, #ARGV, 4 do
  local field, value, id, score = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local key = I .. ":" .. field .. "=" .. value
  rcall("ZADD", key, score, id)
  if rcall("ZCARD", key) > cap then rcall("ZREMRANGEBYRANK", key, 0, -cap - 1) end
  rcall("EXPIRE", key, ttl)
  fields[field] = score
end
-- The indexed fields, once a call whatever the number of jobs.
for field, score in pairs(fields) do
  rcall("HSET", I, field, math.floor(tonumber(score) / 1000))
end
rcall("EXPIRE", I, ttl)
return 1
