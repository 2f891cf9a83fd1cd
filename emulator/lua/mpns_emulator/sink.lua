-- A listener for callbacks in tests: POST /control/sinks/<name> records the
-- request, GET returns what was recorded. It answers 200 to every POST.
local cjson = require "cjson.safe"
local state = require "mpns_emulator.state"

local ngx = ngx
local _M = {}

function _M.record(name, reply)
  ngx.req.read_body()
  local h = ngx.req.get_headers()
  ngx.shared.mpns_state:rpush("sink:" .. name, cjson.encode {
    time = ngx.now(), body = ngx.req.get_body_data() or "",
    content_type = h["content-type"], content_length = h["content-length"],
  })
  return reply(200, { recorded = true })
end

function _M.show(name, reply)
  local items = state.list(ngx.shared.mpns_state, "sink:" .. name)
  return reply(200, "[" .. table.concat(items, ",") .. "]")
end

return _M
