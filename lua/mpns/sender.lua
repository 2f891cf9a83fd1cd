--- mpns.sender: what both senders share. A sender queues sends and calls
-- done(res, err) exactly once per send, later; the push patterns use only
-- send / wait / after / register_callback and never ask which sender they
-- have (doc/push-kit.md, "Sender interface").
--   local s = mpns.sender.new("client", { max_connections = 64 })
--   local s = mpns.sender.new("resty", { timeout = 15 }, { concurrency = 50 })
local type, error, pairs, tostring, format, find =
  type, error, pairs, tostring, string.format, string.find

local M = {}

local CALLBACK_BODY_MAX = 1024   -- the protocol's limit on a callback's opaque body

--- A sender by name: "client" (libcurl, scripts) or "resty" (cosockets, nginx).
---@param name "client"|"resty"
---@param transport any an mpns.client / mpns.resty sender, or options for one
---@param opts table|nil sender options (see each sender)
function M.new(name, transport, opts)
  if name ~= "client" and name ~= "resty" then
    error("mpns.sender.new: unknown sender '" .. tostring(name) .. "' (client or resty)", 2)
  end
  return require("mpns.sender." .. name).new(transport, opts)
end

--- Checks a sender's own options; raises naming an unknown or mistyped key.
---@param who string the constructor, for the message
---@param opts table|nil
---@param known table name -> Lua type
function M.check_options(who, opts, known)
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(who .. ": options must be a table", 3) end
  for k, v in pairs(opts) do
    local want = known[k]
    if not want then error(format("%s: unknown option '%s'", who, tostring(k)), 3) end
    if type(v) ~= want then error(format("%s: option '%s' must be a %s", who, k, want), 3) end
  end
  return opts
end

--- Checks a callback registration; returns the URL it is sent to, or
-- raises naming what is wrong (misuse, like a bad message field).
---@param channel_uri string
---@param callback_uri string the service URL MPNS will POST to
---@param data string|nil the opaque body, at most 1 KB
---@return string url `<channel_uri>/callback`
function M.check_callback(channel_uri, callback_uri, data)
  if type(channel_uri) ~= "string" then error("register_callback: channel URI must be a string", 3) end
  if type(callback_uri) ~= "string" or not find(callback_uri, "^https?://[^%c%s]+$") then
    error("register_callback: callback URI must be an http(s) URL without spaces or control characters", 3)
  end
  if #callback_uri > 1024 then error("register_callback: callback URI longer than 1024 bytes", 3) end
  if data ~= nil and type(data) ~= "string" then error("register_callback: data must be a string", 3) end
  if data and #data > CALLBACK_BODY_MAX then
    error(format("register_callback: data is %d bytes, over the %d-byte limit", #data, CALLBACK_BODY_MAX), 3)
  end
  return channel_uri .. "/callback"
end

--- What a sender's done(res, err) calls the result of a callback
-- registration: ok when MPNS answered 200.
function M.callback_result(res)
  if res and res.status == 200 then res.ok, res.outcome = true, "registered" end
  return res
end

return M
