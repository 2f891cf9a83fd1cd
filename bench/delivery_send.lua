-- The lua-mpns side of bench/delivery: N toasts (bench/toasts.lua, MODE) to
-- the channel URIs PREFIX1..PREFIXN, queued at once, CONCURRENCY connections
-- in flight. Runs under Lua 5.4 and LuaJIT.
--   lua5.4 bench/delivery_send.lua PREFIX N CONCURRENCY MODE [CERT KEY CA]
-- Prints: ok=<received> bad=<other> seconds=<wall time> connections=<opened>
local mpns = require "mpns"
local toasts = require "toasts"
local prefix, n, conc, mode = arg[1], tonumber(arg[2]), tonumber(arg[3]), arg[4]
assert(toasts.MODES[mode], "unknown MODE " .. tostring(mode))

local opts = { max_connections = conc, retry = { max_attempts = 1 } }
if arg[5] then opts.cert, opts.key, opts.ca = arg[5], arg[6], arg[7] end
local client = mpns.client(opts)
local same = mode == "same" and mpns.toast(toasts.fields(mode, 1))

-- Wall time without LuaSocket: monotonic enough for a multi-second run.
local function now()
  local f = io.open("/proc/uptime")
  local t = tonumber(f:read("*l"):match("^(%S+)"))
  f:close()
  return t
end

local ok, bad = 0, 0
local function on_result(res)
  if res and res.ok then ok = ok + 1 else bad = bad + 1 end
end

local t0 = now()
for i = 1, n do
  client:send_async(same or mpns.toast(toasts.fields(mode, i)), prefix .. i, on_result)
end
client:run()
print(("ok=%d bad=%d seconds=%.3f connections=%d"):format(ok, bad, now() - t0,
  client:stats().connections))
client:close()
