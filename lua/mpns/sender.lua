--- mpns.sender: what both senders share. A sender queues sends and calls
-- done(res, err, ctx) exactly once per send, later (ctx: send's fourth
-- argument, given back so one done serves many sends); the push patterns use only
-- send / wait / after / register_callback and never ask which sender they
-- have (doc/push-kit.md, "Sender interface").
--   local s = mpns.sender.new("client", { max_connections = 64 })
--   local s = mpns.sender.new("resty", { timeout = 15 }, { concurrency = 50 })
local type, error, tostring, format, find =
  type, error, tostring, string.format, string.find

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

--- Why `uri` cannot be a callback URI (X-CallbackURI, recorded by the
-- registry too), or nil: printable ASCII (a header value and a URL: no
-- space, control or 8-bit byte), then the C core's rule for a callback's
-- uri (csrc/check.c: http(s), a host, no credentials, at most 1,024 bytes).
---@param uri any
---@return string|nil why
function M.callback_uri_error(uri)
  if type(uri) ~= "string" or find(uri, "[^\33-\126]") then
    return "callback URI must be an http(s) URL of printable ASCII (no space, control or 8-bit byte)"
  end
  local ok, err = pcall(require("mpns").callback, { uri = uri })
  if not ok then return "callback URI: " .. tostring(err):gsub("^mpns%.callback: field 'uri' ", "") end
end

--- Checks a callback registration; returns the URL it is sent to, or
-- raises naming what is wrong (misuse, like a bad message field).
---@param channel_uri string
---@param callback_uri string the service URL MPNS will POST to
---@param data string|nil the opaque body, at most 1 KB
---@return string url `<channel_uri>/callback`
function M.check_callback(channel_uri, callback_uri, data)
  if type(channel_uri) ~= "string" then error("register_callback: channel URI must be a string", 3) end
  local bad = M.callback_uri_error(callback_uri)
  if bad then error("register_callback: " .. bad, 3) end
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
