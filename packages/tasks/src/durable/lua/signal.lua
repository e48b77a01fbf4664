--- Delivers a signal: to the wait that expects it, or into its inbox for a later waitFor.
--- Atomic with timeout.lua: a wait ends signalled or timed out, never both.
--- KEYS[1] the workflow's hash
--- ARGV[1] signal name, ARGV[2] data (JSON), ARGV[3] now (ms)
--- Returns the seq of the wait it ended (>= 0), -3 when kept in the inbox, -1 for no such
--- workflow, -2 for a workflow that has ended.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return -1 end
if status ~= 'running' and status ~= 'compensating' then return -2 end
local waiting = redis.call('HGET', KEYS[1], 'waiting')
if waiting then
  local bar = string.find(waiting, '|', 1, true)
  local seq = string.sub(waiting, 1, bar - 1)
  local journal = KEYS[1] .. ':j'
  if string.sub(waiting, bar + 1) == ARGV[1] and redis.call('HGET', journal, seq .. ':s') == 'waiting' then
    redis.call('HSET', journal, seq .. ':s', 'signalled', seq .. ':out', ARGV[2], seq .. ':at', ARGV[3])
    redis.call('HDEL', KEYS[1], 'waiting')
    redis.call('HSET', KEYS[1], 'updatedAt', ARGV[3])
    return tonumber(seq)
  end
end
redis.call('RPUSH', KEYS[1] .. ':sig:' .. ARGV[1], ARGV[2])
-- The names with an inbox, so that an ended workflow's inboxes expire with it.
redis.call('SADD', KEYS[1] .. ':sigs', ARGV[1])
return -3
