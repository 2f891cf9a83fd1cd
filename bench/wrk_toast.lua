-- wrk script: POSTs a valid toast to CHANNELS distinct channel ids (default
-- 1000) in turn, over keep-alive. Requests are built once in init.
-- Usage: wrk -s bench/wrk_toast.lua http://127.0.0.1:PORT [-- CHANNELS]
local requests, i = {}, 0

local body = '<?xml version="1.0" encoding="utf-8"?>'
  .. '<wp:Notification xmlns:wp="WPNotification"><wp:Toast>'
  .. '<wp:Text1>Benchmark</wp:Text1><wp:Text2>a toast &amp; its text</wp:Text2>'
  .. '<wp:Param>/Page.xaml?a=1&amp;b=2</wp:Param>'
  .. '</wp:Toast></wp:Notification>'

function init(args)
  local n = tonumber(args[1]) or 1000
  local headers = {
    ["Content-Type"] = "text/xml",
    ["X-WindowsPhone-Target"] = "toast",
    ["X-NotificationClass"] = "2",
    ["X-MessageID"] = "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
  }
  for c = 1, n do
    local path = string.format("/throttledthirdparty/01.00/bench-%d-%06d", math.random(1e6), c)
    requests[c] = wrk.format("POST", path, headers, body)
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end

-- Counts answers that are not 200 Received, so a fast wrong answer shows.
local bad = 0
function response(status, headers)
  if status ~= 200 or headers["X-NotificationStatus"] ~= "Received" then bad = bad + 1 end
end

function done(summary)
  io.write(string.format("requests/sec: %.0f\n", summary.requests / (summary.duration / 1e6)))
end
