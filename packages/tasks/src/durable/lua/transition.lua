--- Moves a workflow to another status if it is in one of the expected ones, with fields.
--- KEYS[1] the workflow's hash
--- ARGV[1] base, ARGV[2] id, ARGV[3] new status, ARGV[4] expected statuses (comma-separated),
--- ARGV[5] now (ms), ARGV[6..] field, value pairs to set
--- Returns 1 when moved, 0 when the workflow was in another status (or is gone).
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if not string.find(',' .. ARGV[4] .. ',', ',' .. status .. ',', 1, true) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'updatedAt', ARGV[5])
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HDEL', KEYS[1], 'waiting')
redis.call('SREM', ARGV[1] .. 'status:' .. status, ARGV[2])
redis.call('SADD', ARGV[1] .. 'status:' .. ARGV[3], ARGV[2])
return 1
