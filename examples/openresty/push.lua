-- GET /push?uri=<channel URI>&text1=..&text2=..&param=..: pushes a toast
-- without blocking the worker and answers with the outcome as JSON.
local mpns, cjson = require "mpns", require "cjson.safe"
local sender = require("mpns.resty").new { timeout = 15, keepalive_timeout = 60 }

return function()
  local a = ngx.req.get_uri_args()
  local ok, msg = pcall(mpns.toast, { text1 = a.text1, text2 = a.text2, param = a.param })
  local res, err
  if ok and type(a.uri) == "string" then res, err = sender:send(msg, a.uri) end
  ngx.header.content_type = "application/json"
  ngx.status = res and 200 or err and 502 or 400
  ngx.say(cjson.encode(res or { error = err or (ok and "uri missing" or msg) }))
end
