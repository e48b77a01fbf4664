--[[
  Extends the leases of runs still going, on Redis time, while each run still holds its
  lease: one that expired and was taken over (or released) is reported lost, not renewed.

  Input:
    KEYS[1]  Q cv:wake: names the queue's hash slot, so a cluster routes the call there
    ARGV[1]  Q, the queue's key prefix
    ARGV[2]  lease ms
    ARGV[3…] per lease, 2 values: scope, member ("<run id> <jobId>", or marked, "w <run id>
             <jobId>": a marked lease stays marked, an unmarked one may have been marked)

  Output: the 1-based positions (per pair) of the leases that were lost.
]]
local rcall = redis.call
local Q = ARGV[1]
local leaseMs = tonumber(ARGV[2])
local time = rcall("TIME")
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

local lost = {}
for i = 3, #ARGV, 2 do
  local key = Q .. "cv:lease:" .. ARGV[i]
  local member = ARGV[i + 1]
  local expiry = rcall("ZSCORE", key, member)
  if not expiry and string.sub(member, 1, 2) ~= "w " then
    -- Marked since admission: a job waits for this run (see admit.lua).
    member = "w " .. member
    expiry = rcall("ZSCORE", key, member)
  end
  if expiry and tonumber(expiry) > now then
    rcall("ZADD", key, "XX", now + leaseMs, member)
    rcall("PEXPIRE", key, leaseMs * 2)
  else
    if expiry then rcall("ZREM", key, member) end
    lost[#lost + 1] = (i - 1) / 2
  end
end
return lost
