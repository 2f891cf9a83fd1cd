-- Runs inside the nginx that spec/resty_spec.lua starts: GET /t?uri=..&n=..
-- sends n messages with mpns.resty and answers JSON { sends = { {res, err,
-- text}, ... } }. Sender options come as query args (one sender per set);
-- /t?new=<JSON options> answers whether resty.new accepts them.
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

return function()
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
