--- Removes one worker process's entry (it is shutting down).
--- KEYS[1]  the index (see beat.lua)
--- ARGV[1]  worker id
redis.call('DEL', KEYS[1] .. ':' .. ARGV[1])
return redis.call('ZREM', KEYS[1], ARGV[1])
