--- Creates a durable workflow's state, once per id.
--- KEYS[1] the workflow's hash, <base>wf:<id> (its journal, <hash>:j, shares its slot)
--- ARGV[1] base (<queue key of conveyor.durable>), ARGV[2] id, ARGV[3] name,
--- ARGV[4] input (JSON), ARGV[5] now (ms)
--- Also indexes it by start time (Redis µs) in <base>created (the newest 10,000), for
--- list({ limit }).
--- Returns {1, name} when created, {0, name} when the id already existed (start is idempotent).
local existing = redis.call('HGET', KEYS[1], 'name')
if existing then return {0, existing} end
redis.call('HSET', KEYS[1], 'name', ARGV[3], 'status', 'running', 'input', ARGV[4],
  'createdAt', ARGV[5], 'updatedAt', ARGV[5])
redis.call('SADD', ARGV[1] .. 'status:running', ARGV[2])
-- Scored by Redis time in µs (written whole: a Lua number prints as %.14g), so two starts in
-- one millisecond keep their order.
local time = redis.call('TIME')
redis.call('ZADD', ARGV[1] .. 'created',
  string.format('%.0f', tonumber(time[1]) * 1000000 + tonumber(time[2])), ARGV[2])
redis.call('ZREMRANGEBYRANK', ARGV[1] .. 'created', 0, -10001)
return {1, ARGV[3]}
