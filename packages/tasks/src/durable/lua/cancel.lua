--- Asks a running workflow to stop: its next run compensates and ends it `cancelled`.
--- KEYS[1] the workflow's hash
--- ARGV[1] reason, ARGV[2] now (ms)
--- Returns 1 when asked, 0 when it has ended or is compensating already, -1 for no such id.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'cancel', ARGV[1], 'updatedAt', ARGV[2])
return 1
