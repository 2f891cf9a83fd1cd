--- bench/fanout_cost.lua: what the registry adds to a one-time fan-out, per
-- channel, without the network: the same toast to N channels through
--   list      a plain Lua list of URIs, and
--   registry  mpns.patterns.one_time over an SQLite registry (paged scan,
--             every outcome recorded and flushed),
-- both through a sender that answers every send at once with a Received
-- result (so the libcurl client's own cost is out of the figure). Prints
-- the CPU a channel (os.clock) of each and their difference.
--   lua5.4 bench/fanout_cost.lua [N]                  (or luajit; from the repo root)
-- For instruction counts (valgrind --tool=callgrind), one part per process:
--   lua5.4 bench/fanout_cost.lua N fill DB; then lua5.4 bench/fanout_cost.lua N list
--   and lua5.4 bench/fanout_cost.lua N registry DB, each under callgrind.
local mpns = require "mpns"

local N, MODE, DB = tonumber(arg[1]) or 20000, arg[2] or "both", arg[3]
local PREFIX = "http://127.0.0.1:8080/throttledthirdparty/01.00/fan-"
local RESULT = mpns.parse_response(200, { ["X-NotificationStatus"] = "Received",
  ["X-DeviceConnectionStatus"] = "Connected", ["X-SubscriptionStatus"] = "Active" })
local toast = mpns.toast { text1 = "Fan-out", text2 = "one toast to every channel" }

-- The sender interface, answering in order from wait(): done(res, nil, ctx).
local Instant = {}
Instant.__index = Instant
function Instant.new() return setmetatable({ q = {}, ctx = {}, head = 0, tail = 0 }, Instant) end
function Instant:send(_, _, done, ctx)
  local t = self.tail + 1
  self.tail, self.q[t], self.ctx[t] = t, done, ctx
end
function Instant:wait(n)
  while self.tail - self.head > (n or 0) do
    local h = self.head + 1
    local done, ctx = self.q[h], self.ctx[h]
    self.head, self.q[h], self.ctx[h] = h, nil, nil
    done(RESULT, nil, ctx)
  end
  return true
end

local function list_mode()
  local uris, s, ok = {}, Instant.new(), 0
  for i = 1, N do uris[i] = PREFIX .. i end
  local t = os.clock()
  for i = 1, N do s:send(toast, uris[i], function(res) if res.ok then ok = ok + 1 end end) end
  s:wait()
  assert(ok == N)
  return os.clock() - t
end

local function open(path) return assert(mpns.registry.open { path = path, allowed_hosts = { "127.0.0.1:*" } }) end

local function fill(path)
  local reg, list = open(path), {}
  for i = 1, N do list[i] = { uri = PREFIX .. i, user = "u" .. i % 1000, os = "8.0" } end
  assert(reg:subscribe_many(list) == N)
  reg:close()
end

local function registry_mode(path)
  local reg = open(path)
  local p = mpns.patterns.one_time.new { registry = reg, sender = Instant.new() }
  local t = os.clock()
  local s = p:send(toast)
  t = os.clock() - t
  assert(s.channels == N and s.counts.received == N, tostring(s))
  reg:close()
  return t
end

if MODE == "fill" then return fill(assert(DB, "fill needs a database path")) end
local vm = rawget(_G, "jit") and jit.version or _VERSION
local a = (MODE == "list" or MODE == "both") and list_mode()
local b
if MODE == "registry" then b = registry_mode(assert(DB, "registry needs a filled database"))
elseif MODE == "both" then
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  fill(dir .. "/push.db")
  b = registry_mode(dir .. "/push.db")
  os.execute("rm -rf " .. dir)
end
if a then print(("%s list:     %5.1f us CPU a channel"):format(vm, a / N * 1e6)) end
if b then print(("%s registry: %5.1f us CPU a channel"):format(vm, b / N * 1e6)) end
if a and b then print(("%s the registry adds %.1f us CPU a channel"):format(vm, (b - a) / N * 1e6)) end
