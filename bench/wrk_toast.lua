-- wrk script: POSTs valid toasts over keep-alive to CHANNELS distinct channel
-- ids (default 1000) in turn. Requests are built once, in init.
--   wrk -s bench/wrk_toast.lua http://127.0.0.1:PORT -- [CHANNELS] [MODE]
-- MODE says what differs between requests (a pool of 20000 requests, so the
-- emulator's memory of judged payloads, 1024 bodies, never helps):
--   same   one toast for every request (the default)
--   text1  personalised text1: "Alice, your order 4711 shipped", a number per request
--   text2  the same personalisation in text2 (later in the body)
--   param  a per-request number in param (near the end of the body)
-- Personalised bodies differ in a few bytes at one place: the case that
-- defeats LuaJIT 2.1's sampled string hash (see bench/README.md).
local requests, i = {}, 0

local NAMES = { "Alice", "Bob", "Chandra", "Dmitri", "Eve", "Fatima", "Grace" }

local function body(mode, n)
  local who = NAMES[n % #NAMES + 1] .. ", your order " .. (4000 + n) .. " shipped"
  local text1, text2, param = "Benchmark", "a toast &amp; its text", "/Page.xaml?a=1&amp;b=2"
  if mode == "text1" then text1 = who
  elseif mode == "text2" then text2 = who
  elseif mode == "param" then param = "/Order.xaml?id=" .. (4000 + n) .. "&amp;from=push"
  end
  return '<?xml version="1.0" encoding="utf-8"?>'
    .. '<wp:Notification xmlns:wp="WPNotification"><wp:Toast>'
    .. '<wp:Text1>' .. text1 .. '</wp:Text1><wp:Text2>' .. text2 .. '</wp:Text2>'
    .. '<wp:Param>' .. param .. '</wp:Param>'
    .. '</wp:Toast></wp:Notification>'
end

function init(args)
  local channels = tonumber(args[1]) or 1000
  local mode = args[2] or "same"
  assert(({ same = 1, text1 = 1, text2 = 1, param = 1 })[mode], "unknown mode " .. mode)
  local headers = {
    ["Content-Type"] = "text/xml",
    ["X-WindowsPhone-Target"] = "toast",
    ["X-NotificationClass"] = "2",
    ["X-MessageID"] = "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
  }
  local run = math.random(1e6) -- fresh channels on every run
  for n = 1, mode == "same" and channels or 20000 do
    local path = ("/throttledthirdparty/01.00/bench-%d-%d"):format(run, (n - 1) % channels + 1)
    requests[n] = wrk.format("POST", path, headers, body(mode, n))
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
