--- Begins a step, sleep or compensation at a journal field, once; later calls read it.
--- KEYS[1] the workflow's hash
--- ARGV[1] journal field, ARGV[2] entry (JSON, without user data), ARGV[3] first state,
--- ARGV[4] payload (JSON) or ''
--- Returns {entry, state}: the entry as first written, and its state now.
local journal = KEYS[1] .. ':j'
local field = ARGV[1]
if redis.call('HSETNX', journal, field, ARGV[2]) == 1 then
  redis.call('HSET', journal, field .. ':s', ARGV[3])
  if ARGV[4] ~= '' then redis.call('HSET', journal, field .. ':in', ARGV[4]) end
end
return {redis.call('HGET', journal, field), redis.call('HGET', journal, field .. ':s')}
