--- Begins ctx.waitFor(name) at journal entry <seq>, or reads it once begun. A signal sent
--- before the workflow got here waits in the inbox <hash>:sig:<name> and is taken now.
--- KEYS[1] the workflow's hash
--- ARGV[1] seq, ARGV[2] entry (JSON), ARGV[3] signal name, ARGV[4] now (ms)
--- Returns {state, data}: 'waiting' | 'signalled' (data: the signal's JSON) | 'timedout'.
local journal = KEYS[1] .. ':j'
local seq = ARGV[1]
local state = redis.call('HGET', journal, seq .. ':s')
if state then return {state, redis.call('HGET', journal, seq .. ':out') or ''} end
redis.call('HSET', journal, seq, ARGV[2])
local data = redis.call('LPOP', KEYS[1] .. ':sig:' .. ARGV[3])
if data then
  redis.call('HSET', journal, seq .. ':s', 'signalled', seq .. ':out', data, seq .. ':at', ARGV[4])
  return {'signalled', data}
end
redis.call('HSET', journal, seq .. ':s', 'waiting')
redis.call('HSET', KEYS[1], 'waiting', seq .. '|' .. ARGV[3])
return {'waiting', ''}
