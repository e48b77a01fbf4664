--- Writes one worker process's entry and prunes the index of entries that expired.
--- KEYS[1]  the index: a sorted set, worker id -> when its entry expires (Redis ms).
---          Each entry is the hash KEYS[1] .. ':' .. id, in the same hash tag.
--- ARGV[1]  worker id
--- ARGV[2]  the entry's description (JSON)
--- ARGV[3]  ttl in ms
--- Returns Redis's time now, in ms.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local entry = KEYS[1] .. ':' .. ARGV[1]
redis.call('HSET', entry, 'info', ARGV[2], 'seen', now, 'expires', now + ttl)
redis.call('PEXPIRE', entry, ttl)
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
-- The index lives as long as its longest-lived entry, so an app that is gone leaves nothing.
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return now
