-- Request counters in the mpns_stats shared dict: per HTTP status and per
-- X-NotificationStatus, plus a few named events.
local cjson = require "cjson.safe"

local shared = ngx.shared
local _M = {}

-- Keys are built once per value, not per request.
local keys = setmetatable({}, { __index = function(t, k)
  local v = "http:" .. k
  t[k] = v
  return v
end })
local nkeys = setmetatable({}, { __index = function(t, k)
  local v = "notification:" .. k
  t[k] = v
  return v
end })

function _M.count(status, notification)
  local dict = shared.mpns_stats
  dict:incr(keys[status], 1, 0)
  if notification then dict:incr(nkeys[notification], 1, 0) end
end

function _M.event(name) shared.mpns_stats:incr(name, 1, 0) end

-- {http = {["200"] = n}, notification = {Received = n}, requests = n, ...}
function _M.snapshot()
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

return _M
