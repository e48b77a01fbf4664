--- Records the outcome of a step (or compensation) job in the journal, once.
--- KEYS[1] the workflow's hash
--- ARGV[1] journal field (<seq> or c<seq>), ARGV[2] 'ok' | 'failed', ARGV[3] result or
--- error (JSON), ARGV[4] now (ms)
--- Returns 1 when recorded, 0 when the entry was already settled or never begun.
local journal = KEYS[1] .. ':j'
local field = ARGV[1]
if redis.call('HGET', journal, field .. ':s') ~= 'started' then return 0 end
redis.call('HSET', journal, field .. ':s', ARGV[2], field .. ':at', ARGV[4])
if ARGV[2] == 'ok' then
  redis.call('HSET', journal, field .. ':out', ARGV[3])
else
  redis.call('HSET', journal, field .. ':err', ARGV[3])
end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[4])
return 1
