--[[
  Takes a workflow step that never ran out of the dead letters: BullMQ failed it because a
  step it depends on failed for good (its deferred failure, "child … failed"). It moves from
  the queue's failed set to Conveyor's skipped set, its keys expiring with the set's entries,
  so DeadLetters (BullMQ's failed set) lists only jobs whose own handler failed.

    Q cv:skipped  zset  job id -> when it was skipped (ms); entries older than the TTL are
                        dropped as new ones come

  Input:
    KEYS[1]  the job's key (Q <id>): names the queue's hash slot
    ARGV[1]  Q, the queue's key prefix
    ARGV[2]  job id
    ARGV[3]  how long a skipped step is kept, ms

  Output: 1 when moved; 0 when the job was not in the failed set (replayed, removed)
]]
local rcall = redis.call
local Q, jobId, keepMs = ARGV[1], ARGV[2], tonumber(ARGV[3])
if rcall("ZREM", Q .. "failed", jobId) == 0 then return 0 end
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local skipped = Q .. "cv:skipped"
rcall("ZADD", skipped, now, jobId)
rcall("ZREMRANGEBYSCORE", skipped, "-inf", now - keepMs)
rcall("PEXPIRE", skipped, keepMs)
for _, suffix in ipairs({"", ":logs", ":dependencies", ":processed", ":failed", ":unsuccessful"}) do
  rcall("PEXPIRE", KEYS[1] .. suffix, keepMs)
end
return 1
