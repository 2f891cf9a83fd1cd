-- The channel URIs: POST <prefix>/<channel-id> pushes a notification,
-- POST <prefix>/<channel-id>/callback registers a callback (TLS only).
local config = require "mpns_emulator.config"
local validate = require "mpns_emulator.validate"
local state = require "mpns_emulator.state"
local outcome = require "mpns_emulator.outcome"
local faults = require "mpns_emulator.faults"
local stats = require "mpns_emulator.stats"
local bytes = require "mpns_emulator.bytes"
local ffi = require "ffi"
require "resty.core.var" -- declares ngx_http_lua_ffi_var_get
local get_request = require("resty.core.base").get_request

local ngx = ngx
local var, header, req = ngx.var, ngx.header, ngx.req
local tonumber, type = tonumber, type

local _M = {}

-- Sends the answer, counts it and fills the access log's variables; the
-- three status variables also become the X-*Status headers and X-MessageID
-- is echoed, both by add_header (mpns_push.conf).
-- c may be nil (no channel); 444 closes the connection unanswered.
local function answer(c, status, ns, ds, ss, reason)
  stats.count(status, ns)
  if c and c.kind then var.mpns_kind = c.kind end
  if ns then var.mpns_ns = ns end
  if ds then var.mpns_ds = ds end
  if ss then var.mpns_ss = ss end
  if status == 444 then return ngx.exit(444) end
  if status ~= 200 then ngx.status = status end -- 200 is nginx's default
  if reason then
    header["Content-Length"] = #reason + 1
    ngx.say(reason)
  else
    header["Content-Length"] = "0"
  end
  -- No ngx.exit: every caller returns, and ending the handler is cheaper.
end
_M.answer = answer

-- Why a body of `len` bytes (nil: unknown, chunked) is refused.
local function over_limit(len)
  len = tonumber(len)
  return len and "payload of " .. len .. " bytes over " .. config.max_payload
    or "payload over the size limit"
end

-- The request body (nginx has read it: lua_need_request_body) as a byte
-- view and its length, or nil and a reason when it is over the limit.
-- Read through $request_body by FFI, as resty.core's ngx.var does, but
-- without ffi.string: a pointer into nginx's buffer (valid until the request
-- ends), so a body is not interned as a Lua string (bytes.lua says why).
-- One in memory is measured by validate.request; nginx's body buffer
-- (emulator/run) is larger than the limit, so a body it wrote to a file is
-- over it. An empty body has no $request_body.
local C = ffi.C
local REQUEST_BODY = "request_body"
local lowcase = ffi.new("char[?]", #REQUEST_BODY)
local value, value_len, errmsg = ffi.new("char *[1]"), ffi.new("size_t[1]"), ffi.new("char *[1]")
local EMPTY = ffi.new("const uint8_t[1]")

local function body(h)
  local rc = C.ngx_http_lua_ffi_var_get(get_request(), REQUEST_BODY, #REQUEST_BODY, lowcase, 0,
    value, value_len, errmsg)
  if rc == 0 then return bytes.cast(value[0]), tonumber(value_len[0]) end
  if rc == -1 then error("$request_body: " .. ffi.string(errmsg[0])) end
  if not req.get_body_file() then return EMPTY, 0 end
  return nil, over_limit(h["content-length"])
end

-- POST <channel>: validate, decide from the channel's state, answer.
local function push(c, h)
  if req.get_method() ~= "POST" then
    header.Allow = "POST"
    return answer(c, 405, nil, nil, nil, "only POST")
  end
  local p, n = body(h)
  if not p then return answer(c, 400, nil, nil, nil, n) end
  local rec, why = validate.request(h, p, n)
  if not rec then return answer(c, 400, nil, nil, nil, why) end
  c.kind = rec.kind
  if c.endpoint == "https" then c.service = var.ssl_client_s_dn end
  local r = outcome.decide(c, rec, p, n)
  return answer(c, r.http, r.ns, c.rec.device, r.ss)
end

-- What a channel URI adds to its id: the location prefix (nginx.conf) and
-- "http://127.0.0.1:PORT" (at most 24 characters).
local URI_EXTRA = { http = #"/throttledthirdparty/01.00/" + 24,
                    https = #"/unthrottledthirdparty/01.00/" + 24 }

-- Entry point for both ports; endpoint is "http" or "https", action is nil
-- for a push or "callback". nginx's location regex has put the channel id in
-- $mpns_channel.
function _M.handle(endpoint, action)
  local id = var.mpns_channel
  if #id + URI_EXTRA[endpoint] + (action and #"/callback" or 0) > 1024 then
    return answer(nil, 400, nil, nil, nil, "channel URI over 1024 characters")
  end
  local h = req.get_headers(0) -- every header: the default stops at 100
  local msgid = h["x-messageid"]
  -- Every field at once: one table allocation, no rehash as fields arrive.
  local c = { endpoint = endpoint, id = id, msgid = type(msgid) == "string" and msgid or nil,
              rec = state.load(id), kind = nil, service = nil }
  if c.rec.fail_next then
    if faults.apply(c, answer) then return end
    c.rec = state.load(c.id) -- the delay may have let the control API change it
  end
  if action then return require("mpns_emulator.callback").register(c, h) end
  return push(c, h)
end

-- Any other URI under a channel prefix.
function _M.malformed()
  return answer(nil, 400, nil, nil, nil, "malformed channel URI")
end

-- A body over nginx's client_max_body_size (error_page 413): MPNS's 400
-- with a reason, not nginx's HTML page.
function _M.too_large()
  return answer(nil, 400, nil, nil, nil, over_limit(var.http_content_length))
end

-- The TLS port's certificate failures (error_page 495/496): no certificate is
-- 401, one the test CA did not sign for client use is 403.
function _M.cert_error(status)
  local reason = status == 401 and "client certificate required"
    or "client certificate not accepted: " .. (var.ssl_client_verify or "?")
  return answer(nil, status, nil, nil, nil, reason)
end

return _M
