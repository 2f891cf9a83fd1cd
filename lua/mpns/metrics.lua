--- mpns.metrics: the queue's figures in the Prometheus text format, read
-- from Redis (so any process can serve them: an nginx location, a worker).
--   location = /metrics { content_by_lua_block {
--     local text, err = require("mpns.metrics").render{ host = "127.0.0.1", port = 6379 }
--     if not text then ngx.status = 503; ngx.say(err); return end
--     ngx.header["Content-Type"] = "text/plain; version=0.0.4"; ngx.print(text) } }
local conn = require "mpns.store.redis.conn"
local queue = require "mpns.queue"

local M = {}

-- Everything in one script: counters, stream length, pending per group,
-- scheduled retries, live workers (heartbeat within 60 s), jobs.
local READ = [[
local stats = redis.call('HGETALL', ARGV[1])
local groups = {}
if redis.call('EXISTS', ARGV[2]) == 1 then
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', ARGV[2])) do
    local name, pending
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'pending' then pending = g[i + 1] end
    end
    groups[#groups + 1] = name
    groups[#groups + 1] = pending
  end
end
local now = tonumber(redis.call('TIME')[1])
return { stats, redis.call('XLEN', ARGV[2]), groups, redis.call('ZCARD', ARGV[3]),
  redis.call('ZCOUNT', ARGV[4], now - 60, '+inf'), redis.call('ZCARD', ARGV[5]) }
]]

-- name, type, help: the one list of what is exported.
local METRICS = {
  { "mpns_sends_total", "counter", "Sends the workers made and recorded (every attempt)." },
  { "mpns_outcomes_total", "counter", "Channels with a final outcome, by outcome (one per job and channel)." },
  { "mpns_retries_total", "counter", "Sends rescheduled on retry_after." },
  { "mpns_resent_total", "counter", "Sends to a channel after a reclaim (a dead worker's batch)." },
  { "mpns_queue_batches", "gauge", "Batches in the stream (waiting or claimed, not yet acknowledged)." },
  { "mpns_queue_pending_batches", "gauge", "Batches claimed by a worker and not yet acknowledged, by group." },
  { "mpns_retries_scheduled", "gauge", "Sends waiting for their retry time." },
  { "mpns_workers", "gauge", "Workers seen in the last 60 seconds." },
  { "mpns_jobs", "gauge", "Jobs pushed and still kept in Redis." },
}

local function esc(v) return (tostring(v):gsub('[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" })) end

-- The samples of each metric from the script's answer.
local function samples(r)
  local s, stats = {}, {}
  for i = 1, #r[1], 2 do stats[r[1][i]] = tonumber(r[1][i + 1]) end
  s.mpns_sends_total = { { "", stats.sent or 0 } }
  s.mpns_retries_total = { { "", stats.retries or 0 } }
  s.mpns_resent_total = { { "", stats.resent or 0 } }
  s.mpns_outcomes_total = {}
  for k, v in pairs(stats) do
    local o = k:match("^o:(.+)$")
    if o then table.insert(s.mpns_outcomes_total, { '{outcome="' .. esc(o) .. '"}', v }) end
  end
  table.sort(s.mpns_outcomes_total, function(a, b) return a[1] < b[1] end)
  s.mpns_queue_batches = { { "", r[2] } }
  s.mpns_queue_pending_batches = {}
  for i = 1, #r[3], 2 do
    table.insert(s.mpns_queue_pending_batches, { '{group="' .. esc(r[3][i]) .. '"}', r[3][i + 1] })
  end
  s.mpns_retries_scheduled, s.mpns_workers, s.mpns_jobs = { { "", r[4] } }, { { "", r[5] } }, { { "", r[6] } }
  return s
end

--- The metrics as Prometheus text, or nil, err. `opts`: host, port, db,
--- timeout, prefix (the queue's, "mpns:"), or `conn` (a connection from
--- mpns.store.redis: `store:connection()`).
---@param opts table
---@return string|nil text
---@return string|nil err
function M.render(opts)
  local c = opts.conn or conn.new(opts)
  local k = queue.keys(opts.prefix or "mpns:")
  local r, err = c:eval(READ, 0, k.stats, k.stream, k.retry, k.workers, k.jobs)
  if not opts.conn then c:close() end
  if not r then return nil, err end
  local s, out = samples(r), {}
  for _, m in ipairs(METRICS) do
    out[#out + 1] = "# HELP " .. m[1] .. " " .. m[3] .. "\n# TYPE " .. m[1] .. " " .. m[2] .. "\n"
    for _, sample in ipairs(s[m[1]]) do out[#out + 1] = m[1] .. sample[1] .. " " .. sample[2] .. "\n" end
  end
  return table.concat(out)
end

return M
