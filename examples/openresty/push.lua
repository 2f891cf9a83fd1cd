-- GET /push?uri=<channel URI>&text1=..&text2=..&param=..: pushes a toast
-- without blocking the worker and answers with the outcome as JSON.
-- Not an open relay: an http(s) URI whose host the registry's host check
-- refuses gets 403 and nothing is sent. MPNS's hosts (*.notify.live.net)
-- are allowed; $mpns_allowed_hosts (nginx.conf, space-separated) adds more.
local mpns, cjson = require "mpns", require "cjson.safe"
local sender = require("mpns.resty").new { timeout = 15, keepalive_timeout = 60 }

-- One host check per allowed-host list.
local checkers = {}
local function host_check(list)
  if not checkers[list] then
    local hosts = {}
    for h in list:gmatch("%S+") do hosts[#hosts + 1] = h end
    checkers[list] = mpns.registry.host_check(hosts)
  end
  return checkers[list]
end

local function answer(status, body)
  ngx.header.content_type = "application/json"
  ngx.status = status
  ngx.say(cjson.encode(body))
end

return function()
  local a = ngx.req.get_uri_args()
  local ok, msg = pcall(mpns.toast, { text1 = a.text1, text2 = a.text2, param = a.param })
  if not ok then return answer(400, { error = msg }) end
  if type(a.uri) ~= "string" then return answer(400, { error = "uri missing" }) end
  -- Other schemes never reach the network: the sender says invalid_uri.
  if a.uri:lower():match("^https?://") then
    local allowed, why = host_check(ngx.var.mpns_allowed_hosts or "")(a.uri)
    if not allowed then return answer(403, { error = why }) end
  end
  local res, err = sender:send(msg, a.uri)
  answer(res and 200 or 502, res or { error = err })
end
