-- wrk script: POSTs valid toasts over keep-alive to CHANNELS distinct channel
-- ids (default 1000) in turn. Requests are built once, in init.
--   wrk -s bench/wrk_toast.lua http://127.0.0.1:PORT -- [CHANNELS] [distinct]
-- "distinct" gives every request of a pool of 20000 its own body, so the
-- emulator's memory of judged payloads never helps (it holds 1024).
local requests, i = {}, 0

-- Random words of random length, as real toasts to different people differ.
-- (Bodies that differ only in a few bytes at one place and have the same
-- length collide in LuaJIT 2.1's sparse string hash; see emulator/README.md.)
local function words()
  local out = {}
  for w = 1, math.random(2, 8) do
    local len = math.random(2, 9)
    local cs = {}
    for k = 1, len do cs[k] = string.char(math.random(97, 122)) end
    out[w] = table.concat(cs)
  end
  return table.concat(out, " ")
end

local function body(distinct)
  return '<?xml version="1.0" encoding="utf-8"?>'
    .. '<wp:Notification xmlns:wp="WPNotification"><wp:Toast>'
    .. '<wp:Text1>Benchmark</wp:Text1><wp:Text2>'
    .. (distinct and words() or "a toast") .. ' &amp; its text</wp:Text2>'
    .. '<wp:Param>/Page.xaml?a=1&amp;b=2</wp:Param>'
    .. '</wp:Toast></wp:Notification>'
end

function init(args)
  local channels = tonumber(args[1]) or 1000
  local distinct = args[2] == "distinct"
  local headers = {
    ["Content-Type"] = "text/xml",
    ["X-WindowsPhone-Target"] = "toast",
    ["X-NotificationClass"] = "2",
    ["X-MessageID"] = "3f2504e0-4f89-11d3-9a0c-0305e82c3301",
  }
  local run = math.random(1e6) -- fresh channels on every run
  for n = 1, distinct and 20000 or channels do
    local path = ("/throttledthirdparty/01.00/bench-%d-%d"):format(run, (n - 1) % channels + 1)
    requests[n] = wrk.format("POST", path, headers, body(distinct))
  end
end

function request()
  i = i % #requests + 1
  return requests[i]
end
