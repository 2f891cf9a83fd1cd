--- bench/queued.lua: peak memory of many distinct toasts queued at once.
-- Builds N toasts, each with its own text, and queues every one with
-- send_async on an mpns.client whose run() is never called, aimed at a port
-- nothing listens on, so all N stay live in the queue. Measure it with
--   /usr/bin/time -f %M lua5.4 bench/queued.lua [N] [--same] [--table]
-- (--same: one shared toast; --table: keep the toasts in a table, no client).
local mpns = require "mpns"

local N, same, table_only = 100000, false, false
for _, a in ipairs(arg or {}) do
  if a == "--same" then same = true
  elseif a == "--table" then table_only = true
  else N = assert(tonumber(a), "usage: queued.lua [N] [--same] [--table]") end
end

local uri = "http://127.0.0.1:9/nobody/"
local client = not table_only and mpns.client{ max_connections = 50 }
local kept, shared = {}, mpns.toast{ text1 = "Alice, your order 0 shipped" }
local function nothing() end
for i = 1, N do
  local msg = same and shared or mpns.toast{ text1 = "Alice, your order " .. i .. " shipped" }
  if client then client:send_async(msg, uri .. i, nothing, nothing)
  else kept[i] = msg end
end
collectgarbage()
print(("%d %s toasts %s; Lua heap %.1f MB"):format(N, same and "identical" or "distinct",
  client and "queued" or "kept", collectgarbage("count") / 1024))
