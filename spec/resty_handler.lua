-- Runs inside the nginx that spec/resty_spec.lua starts: GET /t?uri=..&n=..
-- sends n messages with mpns.resty and answers JSON { sends = { {res, err,
-- text}, ... } }. Sender options come as query args (one sender per set);
-- /t?new=<JSON options> answers whether resty.new accepts them. fake()
-- answers a push as MPNS would, with the body framing its location sets.
local mpns, resty, cjson = require "mpns", require "mpns.resty", require "cjson.safe"

local senders = {}
local OPTIONS = { "timeout", "keepalive_timeout", "pool_size", "pool", "ssl_verify", "cert", "key" }

local function sender_for(a)
  local opts, key = {}, {}
  for i, k in ipairs(OPTIONS) do
    local v = a[k]
    if v == "true" or v == "false" then v = v == "true" else v = tonumber(v) or v end
    opts[k], key[i] = v, tostring(v)
  end
  key = table.concat(key, "|")
  senders[key] = senders[key] or resty.new(opts)
  return senders[key]
end

local function try_new(json)
  local ok, err = pcall(resty.new, cjson.decode(json))
  return { ok = ok, error = not ok and tostring(err) or nil }
end

local M = {}

function M.t()
  local a = ngx.req.get_uri_args()
  ngx.header.content_type = "application/json"
  if a.new then return ngx.say(cjson.encode(try_new(a.new))) end
  local sender, sends = sender_for(a), {}
  for i = 1, tonumber(a.n) or 1 do
    local msg = a.kind == "raw" and mpns.raw("ping")
      or mpns.toast { text1 = "t" .. i, message_id = a.message_id }
    local res, err = sender:send(msg, a.uri)
    sends[i] = { res = res, err = err, text = err and tostring(err) }
  end
  ngx.say(cjson.encode { sends = sends })
end

-- 200 Received with a 3-chunk body (chunked unless the location turns it off).
function M.fake()
  ngx.req.read_body()
  ngx.header["X-NotificationStatus"] = "Received"
  ngx.header["X-DeviceConnectionStatus"] = "Connected"
  ngx.header["X-SubscriptionStatus"] = "Active"
  for i = 1, 3 do
    ngx.say(i, string.rep("x", 1000))
    ngx.flush(true)
  end
end

-- Raw answers that say "do not reuse me" but keep the connection open for
-- 0.3 s: a client that reused it anyway would send into a server that is
-- not listening. "close": Connection: close; "eof": no length (read to close);
-- "extra": bytes past the answer (a client reusing the connection would
-- take them for the next send's answer).
local RAW = {
  close = "Connection: close\r\nContent-Length: 0\r\n\r\n",
  eof = "\r\n",
  extra = "Content-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
}

function M.raw(mode)
  ngx.req.read_body()
  local sock = assert(ngx.req.socket(true))
  assert(sock:send { "HTTP/1.1 200 OK\r\nX-NotificationStatus: Received\r\n",
    "X-DeviceConnectionStatus: Connected\r\nX-SubscriptionStatus: Active\r\n", RAW[mode] })
  ngx.sleep(0.3)
end

return M
