-- Callbacks: an authenticated service registers one per channel with
-- POST <channel>/callback; when the device becomes InActive the emulator POSTs
-- the registered body to it, once (the service re-registers when it is back).
local state = require "mpns_emulator.state"
local config = require "mpns_emulator.config"
local stats = require "mpns_emulator.stats"

local ngx = ngx
local _M = {}

-- Loopback only: the emulator never calls out of the machine.
local function parse_uri(uri)
  local host, port, path = uri:match("^http://([%w%.%[%]:]-):?(%d*)(/.*)$")
  if not host then
    host, port = uri:match("^http://([%w%.%[%]:]-):?(%d*)$")
    path = "/"
  end
  local LOOPBACK = { ["127.0.0.1"] = "127.0.0.1", localhost = "127.0.0.1", ["[::1]"] = "[::1]" }
  if not host or not LOOPBACK[host] then return nil end
  return { host = LOOPBACK[host], port = tonumber(port) or 80, path = path }
end

-- POST <channel>/callback on the TLS port.
function _M.register(c, h)
  local push = require "mpns_emulator.push"
  local function refuse(status, reason) return push.answer(c, status, nil, nil, nil, reason) end
  if c.endpoint ~= "https" then return refuse(401, "callbacks need the authenticated (TLS) endpoint") end
  if ngx.req.get_method() ~= "POST" then
    ngx.header.Allow = "POST"
    return refuse(405, "only POST")
  end
  local uri = h["x-callbackuri"]
  if type(uri) ~= "string" then return refuse(400, "X-CallbackURI header required") end
  if not parse_uri(uri) then return refuse(400, "X-CallbackURI must be a loopback http:// URL here") end
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  if #body > config.max_callback_body or ngx.req.get_body_file() then
    return refuse(400, "callback body over " .. config.max_callback_body .. " bytes")
  end
  if c.rec.subscription == "Expired" then
    return push.answer(c, 404, "Dropped", c.rec.device, "Expired")
  end
  state.set_callback(c.id, { uri = uri, body = body })
  return push.answer(c, 200, nil, c.rec.device, c.rec.subscription)
end

-- Sends the callback (in a timer: cosockets need a request-free context).
local function deliver(premature, id, cb)
  if premature then return end
  local u = parse_uri(cb.uri)
  local entry = { time = ngx.now(), uri = cb.uri }
  local sock = ngx.socket.tcp()
  sock:settimeout(5000)
  local ok, err = sock:connect(u.host:gsub("[%[%]]", ""), u.port)
  if ok then
    ok, err = sock:send(table.concat {
      "POST ", u.path, " HTTP/1.1\r\nHost: ", u.host, ":", u.port,
      "\r\nContent-Type: application/octet-stream\r\nContent-Length: ", #cb.body,
      "\r\nConnection: close\r\n\r\n", cb.body })
  end
  if ok then
    local line
    line, err = sock:receive("*l")
    entry.status = line and tonumber(line:match("^HTTP/%d%.%d (%d%d%d)"))
  end
  sock:close()
  entry.error = err
  state.log_callback(id, entry)
  stats.event(entry.status and "callbacks_sent" or "callbacks_failed")
end

-- The device just became InActive: fire its callback, if one is registered.
function _M.fire(id)
  local cb = state.callback(id)
  if not cb then return end
  state.set_callback(id, nil)
  local ok, err = ngx.timer.at(0, deliver, id, cb)
  if not ok then ngx.log(ngx.ERR, "mpns emulator: callback timer: ", err) end
end

return _M
