--[[
  Adds jobs to their queue's payload-field index: for each (field, value, job id), the job id
  goes in a sorted set by enqueue time, capped to the newest ARGV[1] ids, and the set lives
  ARGV[2] seconds after its last write. Written by the producer (and the outbox relay) for
  tasks that declare `searchable` fields; read by the dashboard's search. All in the queue's
  hash tag:

    I                   hash  field -> when it was last written (ms): the indexed fields
    I:<field>=<value>   zset  job id -> Redis time of the write (µs) + its place in its batch

  Input:
    KEYS[1]  I, <queue key>cv:idx
    ARGV[1]  ids kept per value (newest); ARGV[2] TTL in seconds
    ARGV[3…] quadruples: field, value, job id, the job's place in its batch (0, 1, …)
]]
local rcall = redis.call
local I = KEYS[1]
local cap, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
-- Redis's clock in µs orders writes from every process; a batch keeps its own order.
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local fields = {}
for i = 3, #ARGV, 4 do
  local field, value, id = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local score = now + tonumber(ARGV[i + 3])
  local key = I .. ":" .. field .. "=" .. value
  -- As text with every digit: a Lua number would be written as %.14g, losing the µs.
  rcall("ZADD", key, string.format("%.0f", score), id)
  if rcall("ZCARD", key) > cap then rcall("ZREMRANGEBYRANK", key, 0, -cap - 1) end
  rcall("EXPIRE", key, ttl)
  fields[field] = score
end
-- The indexed fields, once a call whatever the number of jobs.
for field, score in pairs(fields) do
  rcall("HSET", I, field, string.format("%.0f", math.floor(score / 1000)))
end
rcall("EXPIRE", I, ttl)
return 1
