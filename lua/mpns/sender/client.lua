--- mpns.sender.client: the sender interface over the libcurl client
-- (mpns.client: send_async + run). For scripts and workers outside nginx.
--   local s = require("mpns.sender.client").new{ max_connections = 64 }
--   s:send(msg, uri, function(res, err) ... end); s:wait()
local mpns = require "mpns"
local common = require "mpns.sender"
local options = require "mpns.options"

local type, setmetatable, error = type, setmetatable, error

local _M = {}
local mt = { __index = _M }

local OPTIONS = { on_callback_error = "function" }

--- A sender. `client_or_opts`: an mpns.client to share, or its options
-- (a new client). `opts.on_callback_error(err)`: where an error raised by a
-- done callback goes; without it, wait() raises it once the loop is done.
---@param client_or_opts any
---@param opts table|nil
function _M.new(client_or_opts, opts)
  opts = options.check("mpns.sender.client.new", opts, OPTIONS)
  local client = client_or_opts
  if type(client) ~= "userdata" then client = mpns.client(client_or_opts) end
  if opts.on_callback_error then client.on_callback_error = opts.on_callback_error end
  return setmetatable({ client = client, kind = "client" }, mt)
end

--- Queues one send; done(res, err, ctx) runs once, from wait() (or a later send's loop).
---@param msg userdata an mpns message
---@param uri string
---@param done fun(res: table|nil, err: table|nil, ctx: any)
---@param ctx any|nil given back to done: one done serves many sends
function _M:send(msg, uri, done, ctx)
  if type(done) ~= "function" then error("mpns.sender.client: send needs a done function", 2) end
  self.client:send_async(msg, uri, done, nil, ctx)   -- no on_error: a failure is done(nil, err, ctx)
end

--- Runs the loop until every send (and every after) has had its outcome;
-- with `n`, only until at most n are pending (keeps a fan-out's pipe full).
---@param n integer|nil
function _M:wait(n)
  local c = self.client
  if n and n > 0 then
    while c:pending() > n do
      local left, err = c:step(1)
      if not left then error("mpns.sender.client: " .. tostring(err), 2) end
    end
    return true
  end
  local ok, err = c:run()
  if not ok then error("mpns.sender.client: " .. tostring(err), 2) end
  return true
end

--- fn() from the same loop, seconds from now.
function _M:after(seconds, fn)
  self.client:after(seconds, fn)
end

--- Registers an MPNS callback for a channel (authenticated services: the
-- client needs its certificate): POST <channel>/callback with X-CallbackURI.
-- done(res, err); res.ok and outcome "registered" when MPNS answered 200.
---@param channel_uri string
---@param callback_uri string
---@param data string|nil opaque bytes MPNS posts back, at most 1 KB
---@param done fun(res: table|nil, err: table|nil)
function _M:register_callback(channel_uri, callback_uri, data, done)
  local url = common.check_callback(channel_uri, callback_uri, data)
  local msg = mpns.callback { uri = callback_uri, data = data ~= "" and data or nil }
  self.client:send_async(msg, url, function(res, err) return done(common.callback_result(res), err) end)
end

return _M
