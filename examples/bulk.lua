-- examples/bulk.lua: push one tile to many devices the way a web service
-- would: downgraded per device OS, all in flight at once through one client,
-- expired channels forgotten, throttled or inactive ones rescheduled on the
-- same loop with client:after, every outcome counted.
--   eval "$(make -s env)"     # from the checkout, once per shell (or: make install)
--   lua5.4 examples/bulk.lua http://127.0.0.1:8080/throttledthirdparty/01.00/ [N]
local mpns = require "mpns"
local prefix = assert(arg[1], "usage: lua5.4 examples/bulk.lua CHANNEL_URI_PREFIX [N]")
local n = tonumber(arg[2]) or 1000

-- What the service stored when each phone registered: its URI and OS.
local devices = {}
for i = 1, n do
  devices[i] = { uri = prefix .. "device-" .. i, os = ({ "7.0", "7.1", "8.0" })[i % 3 + 1] }
end

local tile = mpns.flip_tile { title = "Scores", count = 3, back_content = "Home 2 - 1 Away",
  wide_back_content = "Home 2 - 1 Away (full time)" }
-- One message per OS, built once; nil (and why) where the OS can show nothing.
local for_os, why_not = {}, {}
for _, os_version in ipairs { "7.0", "7.1", "8.0" } do
  for_os[os_version], why_not[os_version] = tile:for_os(os_version)
end

local client = mpns.client { max_connections = 32, retry = { max_attempts = 3 } }
local counts, rescheduled, forgotten = {}, 0, 0

local function push(device)
  local msg = for_os[device.os]
  if not msg then
    counts["skipped: " .. why_not[device.os]] = (counts["skipped: " .. why_not[device.os]] or 0) + 1
    return
  end
  client:send_async(msg, device.uri, function(res)
    counts[res.outcome] = (counts[res.outcome] or 0) + 1
    if res.delete_channel then
      device.uri = nil                      -- the app was uninstalled
      forgotten = forgotten + 1
    elseif res.outcome == "throttled" or res.outcome == "inactive" then
      rescheduled = rescheduled + 1         -- a real service waits retry_after
      client:after(res.retry_after, function() push(device) end)
    end
  end, function(err)
    counts[err.kind] = (counts[err.kind] or 0) + 1
  end)
end

for _, d in ipairs(devices) do push(d) end
-- A real service would keep running; the demo stops once the first pass is
-- done instead of waiting an hour for the rescheduled ones.
while client:pending() > rescheduled do client:step(1) end
for outcome, count in pairs(counts) do print(("%-12s %d"):format(outcome, count)) end
print(("%d channels forgotten, %d rescheduled"):format(forgotten, rescheduled))
client:close()
