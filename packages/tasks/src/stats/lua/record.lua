--[[
  Adds one worker process's run figures of the last few seconds to its queue's history, in
  the current minute of Redis's clock (so every process counts in the same minutes), and
  forgets minutes older than the retention, at most once a minute per hash. Every key is in
  the queue's hash tag:

    S               hash  queue totals: "<minute>:c" completed, ":f" failed attempts,
                          ":d" dead-lettered, ":ms" run time of the finished runs (sum)
    S:tasks         hash  task -> the last minute it had figures
    S:t:<task>      hash  the same four per minute, plus "<minute>:h:<i>" runs whose time
                          falls in bucket i (ms in (2^((i-1)/4), 2^(i/4)]), "<minute>:e:<sig>"
                          failures with that error (20 a minute at most, then "other"),
                          "<minute>:en" distinct errors that minute
    S:e:<task>      hash  sig -> JSON of the error's last sample {name, message, job, at};
                          100 groups at most

  Input:
    KEYS[1]  S, <queue key>cv:stats
    ARGV[1]  retention in minutes
    ARGV[2]  JSON array, one entry a task:
             {t = task, c, f, d, ms, h = {[i] = n}, e = {[sig] = n}, s = {[sig] = sample}}

  Output: the minute written (Redis time, minutes since the epoch).
]]
local rcall = redis.call
local S = KEYS[1]
local retention = tonumber(ARGV[1])
local entries = cjson.decode(ARGV[2])
local time = rcall("TIME")
local minute = math.floor(tonumber(time[1]) / 60)
local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local oldest = minute - retention + 1
local ttl = (retention + 5) * 60
-- Distinct errors a task may record in one minute; the rest count as "other".
local MAX_ERRORS = 20
-- Error samples a task keeps at most (one per group); a new group beyond gets no sample.
local MAX_SAMPLES = 100

local function hdelAll(key, fields)
  for i = 1, #fields, 1000 do
    rcall("HDEL", key, unpack(fields, i, math.min(i + 999, #fields)))
  end
end

-- Drops the fields of minutes before `oldest`, once per minute per hash.
local function trim(key)
  local last = tonumber(rcall("HGET", key, "_t") or "0")
  if last >= minute then return end
  local dead = {}
  for _, field in ipairs(rcall("HKEYS", key)) do
    local m = tonumber(string.match(field, "^(%d+):"))
    if m and m < oldest then dead[#dead + 1] = field end
  end
  hdelAll(key, dead)
  rcall("HSET", key, "_t", minute)
end

local function add(key, field, n)
  if n and n ~= 0 then rcall("HINCRBY", key, minute .. ":" .. field, n) end
end

local tasks = S .. ":tasks"
trim(S)
for _, e in ipairs(entries) do
  local T = S .. ":t:" .. e.t
  local E = S .. ":e:" .. e.t
  trim(T)
  for _, field in ipairs({ "c", "f", "d", "ms" }) do
    add(S, field, e[field])
    add(T, field, e[field])
  end
  if e.h then
    for i, n in pairs(e.h) do add(T, "h:" .. i, n) end
  end
  if e.e then
    for sig, n in pairs(e.e) do
      local field = minute .. ":e:" .. sig
      if rcall("HEXISTS", T, field) == 0 then
        if tonumber(rcall("HGET", T, minute .. ":en") or "0") >= MAX_ERRORS then
          sig = "other"
          field = minute .. ":e:other"
        else
          rcall("HINCRBY", T, minute .. ":en", 1)
        end
      end
      rcall("HINCRBY", T, field, n)
      local sample = e.s and e.s[sig]
      if sample and rcall("HEXISTS", E, sig) == 0 and rcall("HLEN", E) >= MAX_SAMPLES then
        sample = nil
      end
      if sample then
        sample.at = nowMs
        rcall("HSET", E, sig, cjson.encode(sample))
      end
    end
  end
  -- Samples of errors not seen within the retention go, once a minute.
  if tonumber(rcall("HGET", T, "_s") or "0") < minute then
    local stale = {}
    local all = rcall("HGETALL", E)
    for i = 1, #all, 2 do
      local ok, sample = pcall(cjson.decode, all[i + 1])
      if not ok or type(sample) ~= "table" or (tonumber(sample.at) or 0) < nowMs - retention * 60000 then
        stale[#stale + 1] = all[i]
      end
    end
    hdelAll(E, stale)
    rcall("HSET", T, "_s", minute)
  end
  rcall("HSET", tasks, e.t, minute)
  rcall("EXPIRE", T, ttl)
  rcall("EXPIRE", E, ttl)
end
-- Tasks without figures within the retention leave the index, once a minute.
if tonumber(rcall("HGET", S, "_i") or "0") < minute then
  local gone = {}
  local all = rcall("HGETALL", tasks)
  for i = 1, #all, 2 do
    if tonumber(all[i + 1]) < oldest then gone[#gone + 1] = all[i] end
  end
  hdelAll(tasks, gone)
  rcall("HSET", S, "_i", minute)
end
rcall("EXPIRE", S, ttl)
rcall("EXPIRE", tasks, ttl)
return minute
