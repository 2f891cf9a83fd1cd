--- bench/queued.lua: peak memory of many distinct toasts queued at once.
-- Builds N toasts, each with its own text, and queues every one with
-- send_async on an mpns.client whose run() is never called, aimed at a port
-- nothing listens on, so all N stay live in the queue; then closes the
-- client, which ends each with on_error{kind="closed"}. Measure it with
--   /usr/bin/time -f %M lua5.4 bench/queued.lua [N] [--same] [--table] [--exit]
-- (--same: one shared toast; --table: keep the toasts in a table, no client;
-- --exit: no close, the client's __gc ends the sends at exit. Lua 5.4 takes
-- no collector steps inside a finaliser, so there the N outcome tables of
-- the closed sends all stay allocated until it returns: a peak of its own,
-- about 370 bytes per pending send, that is not the queue's).
local mpns = require "mpns"

local N, same, table_only, at_exit = 100000, false, false, false
for _, a in ipairs(arg or {}) do
  if a == "--same" then same = true
  elseif a == "--table" then table_only = true
  elseif a == "--exit" then at_exit = true
  else N = assert(tonumber(a), "usage: queued.lua [N] [--same] [--table] [--exit]") end
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
if client and not at_exit then client:close() end
