--[[
  Marks a job cancelled, unless it has already finished: the check and the mark are one step,
  so a job that completes at the same moment is reported finished, never cancelled.

  The mark is twofold: a flag in the job's stored options, which every later delivery of the
  job reads when it is fetched (a restarted worker, a stalled job given back) and ends
  cancelled before its handler; and a marker key that keeps the reason for TaskHandle.state()
  after the job is removed.

  Input:
    KEYS[1]  the job's hash, Q <jobId>
    ARGV[1]  Q, the queue's key prefix
    ARGV[2]  job id
    ARGV[3]  reason
    ARGV[4]  how long the marker lives, seconds

  Output: "finished" (completed or dead-lettered: nothing changed), "missing" (no such job),
          or "marked".
]]
local rcall = redis.call
local Q, jobId = ARGV[1], ARGV[2]
local jobKey = KEYS[1]

if rcall("EXISTS", jobKey) == 0 then return "missing" end
if rcall("ZSCORE", Q .. "completed", jobId) or rcall("ZSCORE", Q .. "failed", jobId) then
  return "finished"
end
local opts = cjson.decode(rcall("HGET", jobKey, "opts") or "{}")
opts["cvCancel"] = ARGV[3]
rcall("HSET", jobKey, "opts", cjson.encode(opts))
rcall("SET", Q .. "cv:cancelled:" .. jobId, ARGV[3], "EX", ARGV[4])
return "marked"
