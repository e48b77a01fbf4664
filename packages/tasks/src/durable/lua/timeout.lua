--- Ends the wait at <seq> as timed out, unless a signal ended it first.
--- KEYS[1] the workflow's hash
--- ARGV[1] seq, ARGV[2] now (ms)
--- Returns {state, data} after the call, as wait.lua.
local journal = KEYS[1] .. ':j'
local seq = ARGV[1]
local state = redis.call('HGET', journal, seq .. ':s')
if state == 'waiting' then
  redis.call('HSET', journal, seq .. ':s', 'timedout', seq .. ':at', ARGV[2])
  redis.call('HDEL', KEYS[1], 'waiting')
  redis.call('HSET', KEYS[1], 'updatedAt', ARGV[2])
  return {'timedout', ''}
end
return {state or 'missing', redis.call('HGET', journal, seq .. ':out') or ''}
