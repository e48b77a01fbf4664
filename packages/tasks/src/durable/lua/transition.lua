--- Moves a workflow to another status if it is in one of the expected ones, with fields.
--- KEYS[1] the workflow's hash
--- ARGV[1] base, ARGV[2] id, ARGV[3] new status, ARGV[4] expected statuses (comma-separated),
--- ARGV[5] now (ms), ARGV[6] retention (ms) once the new status is final, 0 to keep,
--- ARGV[7] '1' when the new status is final, ARGV[8..] field, value pairs to set
--- Returns 1 when moved, 0 when the workflow was in another status (or is gone).
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if not string.find(',' .. ARGV[4] .. ',', ',' .. status .. ',', 1, true) then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[3], 'updatedAt', ARGV[5])
for i = 8, #ARGV, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('HDEL', KEYS[1], 'waiting')
redis.call('SREM', ARGV[1] .. 'status:' .. status, ARGV[2])
redis.call('SADD', ARGV[1] .. 'status:' .. ARGV[3], ARGV[2])
local retention = tonumber(ARGV[6])
if ARGV[7] == '1' and retention > 0 then
  -- An ended workflow's keys expire; list() drops its id from the status set when it reads it.
  local names = KEYS[1] .. ':sigs'
  for _, name in ipairs(redis.call('SMEMBERS', names)) do
    redis.call('PEXPIRE', KEYS[1] .. ':sig:' .. name, retention)
  end
  redis.call('PEXPIRE', names, retention)
  redis.call('PEXPIRE', KEYS[1] .. ':j', retention)
  redis.call('PEXPIRE', KEYS[1], retention)
end
return 1
