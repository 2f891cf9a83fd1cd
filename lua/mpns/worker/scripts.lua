--- mpns.worker.scripts: the worker's writes, each one Lua script in Redis
-- (atomic, one round trip). Keys come from the queue's prefix in ARGV.
local M = {}

-- Records a job's outcomes and acknowledges finished batches, at once.
-- ARGV: out, sum, stats, stream, group, retry key, then how many final
-- outcomes, how many others, how many of them all were resent (after a
-- reclaim); then per final outcome uri, outcome; per other uri, outcome,
-- retry due ("" = final), retry member, lease to drop ("" = none); then the
-- stream ids to XACK + XDEL. The first outcome of a (job, channel) wins
-- (HSETNX); a later one only counts in `sent`.
M.record = [[
local out, sum, stats, stream, group, rkey = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local finals, others, counts, retries = tonumber(ARGV[7]), tonumber(ARGV[8]), {}, 0
local per = {}  -- first outcomes per outcome name
local function final(uri, outcome)
  if redis.call('HSETNX', out, uri, outcome) == 1 then per[outcome] = (per[outcome] or 0) + 1 end
end
local i = 10
for _ = 1, finals do
  final(ARGV[i], ARGV[i + 1])
  i = i + 2
end
for _ = 1, others do
  local uri, outcome, due, member, lease = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  i = i + 5
  if lease ~= '' then redis.call('ZREM', rkey, lease) end
  if due == '' then final(uri, outcome)
  elseif redis.call('HEXISTS', out, uri) == 0 then
    redis.call('ZADD', rkey, due, member)
    retries = retries + 1
  end
end
for k, v in pairs(per) do counts['o:' .. k] = v end
counts.sent, counts.retries, counts.resent = finals + others, retries, tonumber(ARGV[9])
for k, v in pairs(counts) do
  if v > 0 then redis.call('HINCRBY', sum, k, v); redis.call('HINCRBY', stats, k, v) end
end
if i <= #ARGV then
  local ids = { unpack(ARGV, i) }
  redis.call('XACK', stream, group, unpack(ids))
  redis.call('XDEL', stream, unpack(ids))
end
return finals + others
]]

-- Claims the next batch (XREADGROUP: a script never blocks) and says
-- which of its channels already have an outcome for the job, so a worker
-- can pipeline it with its records. ARGV: stream, group, consumer, the
-- outcome keys' prefix (q:out:). Returns false (no new batch) or { id,
-- fields, positions in the batch that have an outcome }.
M.claim = [==[
local r = redis.call('XREADGROUP', 'GROUP', ARGV[2], ARGV[3], 'COUNT', 1, 'STREAMS', ARGV[1], '>')
if not r then return false end
local e, f, have = r[1][2][1], {}, {}
for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
local ok, list = pcall(cjson.decode, f.ch or '')
if f.job and ok and type(list) == 'table' then  -- else the worker acks it as a bad entry
  local uris = {}
  for i, it in ipairs(list) do uris[i] = type(it) == 'table' and it[1] or it end
  if #uris > 0 then
    local v = redis.call('HMGET', ARGV[4] .. f.job, unpack(uris))
    for i = 1, #uris do if v[i] then have[#have + 1] = i end end
  end
end
return { e[1], e[2], have }
]==]

-- Leases due retries: ARGV retry key, now, lease until, limit. Each is
-- pushed to `lease until` so a worker that dies holding it gives it back.
M.lease = [[
local due = redis.call('ZRANGEBYSCORE', ARGV[1], '-inf', ARGV[2], 'LIMIT', 0, tonumber(ARGV[4]))
for _, m in ipairs(due) do redis.call('ZADD', ARGV[1], ARGV[3], m) end
return due
]]

-- Renews this worker's claim on its batches (resets their idle time) and
-- announces it. ARGV: stream, group, consumer, workers key, now, then batch
-- ids. Only ids still pending for this consumer are renewed: a batch another
-- worker took over stays theirs. Returns the ids still ours.
M.renew = [==[
local stream, group, me = ARGV[1], ARGV[2], ARGV[3]
redis.call('ZADD', ARGV[4], ARGV[5], me)
if #ARGV < 6 then return {} end
local mine = {}
for _, p in ipairs(redis.call('XPENDING', stream, group, '-', '+', 10000, me)) do mine[p[1]] = true end
local keep = {}
for i = 6, #ARGV do if mine[ARGV[i]] then keep[#keep + 1] = ARGV[i] end end
if #keep > 0 then redis.call('XCLAIM', stream, group, me, 0, unpack(keep)); end
return keep
]==]

return M
