--- Lists the live worker processes, pruning the index of those whose entry expired first:
--- a read costs what the live entries cost, however many processes died.
--- KEYS[1]  the index (see beat.lua)
--- Returns { now, id, info, seen, expires, id, info, seen, expires, ... } (times in Redis ms).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local out = { now }
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local v = redis.call('HMGET', KEYS[1] .. ':' .. id, 'info', 'seen', 'expires')
  if v[1] then
    out[#out + 1] = id
    out[#out + 1] = v[1]
    out[#out + 1] = v[2]
    out[#out + 1] = v[3]
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
