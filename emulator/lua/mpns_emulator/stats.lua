-- Request counters: per HTTP status and per X-NotificationStatus, plus a few
-- named events. Counted in the worker (a table add, not a shared-dict op per
-- request) and added to the mpns_stats shared dict every second and before
-- every read; the emulator runs one worker, so a read is always exact.
local cjson = require "cjson.safe"

local shared = ngx.shared
local _M = {}

-- Keys are built once per value, not per request.
local function keyer(prefix)
  return setmetatable({}, { __index = function(t, k)
    local v = prefix .. k
    t[k] = v
    return v
  end })
end
local hkeys, nkeys = keyer("http:"), keyer("notification:")

local pending = {} -- shared-dict key -> count not yet added

function _M.count(status, notification)
  local k = hkeys[status]
  pending[k] = (pending[k] or 0) + 1
  if notification then
    k = nkeys[notification]
    pending[k] = (pending[k] or 0) + 1
  end
end

function _M.event(name) pending[name] = (pending[name] or 0) + 1 end

-- Adds the worker's counts to the shared dict.
function _M.flush()
  local dict = shared.mpns_stats
  for k, n in pairs(pending) do
    if n > 0 then
      dict:incr(k, n, 0)
      pending[k] = 0
    end
  end
end

function _M.reset() pending = {} end

-- {http = {["200"] = n}, notification = {Received = n}, requests = n, ...}
function _M.snapshot()
  _M.flush()
  local dict = shared.mpns_stats
  local out = { http = {}, notification = {}, requests = 0 }
  for _, k in ipairs(dict:get_keys(0)) do
    local group, name = k:match("^(%a+):(.+)$")
    local n = dict:get(k) or 0
    if group then
      out[group][name] = n
      if group == "http" then out.requests = out.requests + n end
    else
      out[k] = n
    end
  end
  return out
end

_M.json = function() return cjson.encode(_M.snapshot()) end

-- Started by init_worker_by_lua.
function _M.start_flushing()
  local ok, err = ngx.timer.every(1, _M.flush)
  if not ok then ngx.log(ngx.ERR, "mpns emulator: stats timer: ", err) end
end

return _M
