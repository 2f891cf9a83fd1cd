--- Seed 000's console pusher: "press P to push to the last registered
-- device", Enter to exit. Keys come from stdin, so it scripts:
--   printf 'pP\n' | lua5.4 examples/stories/console_pusher.lua
-- (run by make stories; EMULATOR=http://127.0.0.1:8080 by default).
local mpns = require "mpns"
local phone = require "phone"

local kit = phone.kit()
local reg, sender = kit.registry, kit.sender

-- What seed 000's REST service stored as the phones registered.
reg:subscribe { user = "ben", uri = phone.uri("ben-old-phone"), os = "7.0" }
reg:subscribe { user = "ben", uri = phone.uri("ben-new-phone"), os = "7.1" }

local function log(text) print(os.date("!%d/%m/%Y %H:%M:%S ") .. text) end

-- The most recently added device: the last in the registry's order.
local function last_device()
  local last
  for ch in reg:channels() do last = ch end
  return last
end

local function push_message(uri, main, secondary)
  log("Ready to Push Message - " .. main)
  sender:send(mpns.toast { text1 = main, text2 = secondary }, uri, function(res, err)
    reg:record(uri, res, err)
    if res then log("Push Notification Sent: " .. tostring(res.notification_status or res.outcome))
    else log("Error pushing toast notification: " .. err.kind .. " - " .. tostring(err.message)) end
  end)
  sender:wait()
end

print("Welcome to the sample push notification server")
print("Running... Press enter to exit")
while true do
  local key = io.read(1)
  if key == nil or key == "\n" then break end
  if key == "p" or key == "P" then
    local device = last_device()
    if device then push_message(device.uri, "Success", "We sent you a message!") end
  end
end
reg:close()
if kit.path then os.remove(kit.path) end
