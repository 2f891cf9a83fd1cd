-- examples/push.lua: a toast and a tile from a plain Lua 5.4 script.
--   eval "$(make -s env)"     # from the checkout, once per shell (or: make install)
--   make emulator             # in another shell: the MPNS stand-in on port 8080
--   lua5.4 examples/push.lua http://127.0.0.1:8080/throttledthirdparty/01.00/my-phone
local mpns = require "mpns"
local uri = assert(arg[1], "usage: lua5.4 examples/push.lua CHANNEL_URI")

local toast = mpns.toast{ text1 = "Score", text2 = "Home 2 – 1 Away", param = "/Match.xaml?id=7" }
local tile = mpns.tile{ title = "Match", count = 3, background_image = "/Images/live.png" }

for _, msg in ipairs{ toast, tile } do
  local res, err = msg:send(uri)
  if not res then print(msg.kind, "no answer:", err.kind, err.message)
  elseif res.delete_channel then print(msg.kind, "channel expired: forget it")
  else print(msg.kind, res.outcome, res.retry_after and ("retry in " .. res.retry_after .. " s") or "") end
end
