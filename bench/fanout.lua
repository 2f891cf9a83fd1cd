-- The push kit's fan-out (issue 11): a one-time toast to N registered
-- channels through the libcurl client against the emulator,
--   (a) from a plain Lua list of URIs (send_async each, run), and
--   (b) through mpns.patterns.one_time over an SQLite registry (paged scan,
--       each outcome recorded, buffered writes),
-- each in its own process under /usr/bin/time (peak RSS, the client's CPU
-- seconds: what load on a shared machine changes least), ROUNDS times, the
-- two swapping places each round; prints the median of each and the ratios
-- (target: b <= 1.2 x a, peak RSS <= 64 MB).
--   lua5.4 bench/fanout.lua [N] [ROUNDS=5]      (or luajit; run from the repo root)
-- Worker modes (what the driver runs): fanout.lua list|registry PREFIX N DB
local mpns = require "mpns"

local CONC = 50

local proc = require "proc"          -- spec/proc.lua
local now = proc.uptime

local toast = mpns.toast { text1 = "Fan-out", text2 = "one toast to every channel" }

local function client()
  return mpns.client { max_connections = CONC, retry = { max_attempts = 1 } }
end

-- (a): the URIs in a Lua list, all queued, one run.
local function list_mode(prefix, n)
  local uris = {}
  for i = 1, n do uris[i] = prefix .. "fan-" .. i end
  local c, ok = client(), 0
  local t0 = now()
  for i = 1, n do c:send_async(toast, uris[i], function(res) if res and res.ok then ok = ok + 1 end end) end
  c:run()
  return ok, now() - t0
end

-- (b): the registry holds the channels; the one-time pattern sends.
local function registry_mode(n, db)
  local reg = assert(mpns.registry.open { store = "sqlite", path = db, allowed_hosts = { "127.0.0.1:*" } })
  local p = mpns.patterns.one_time.new { registry = reg, sender = mpns.sender.new("client", client()),
    batch = tonumber(os.getenv("FANOUT_BATCH")) }
  local t0 = now()
  local s = p:send(toast)
  local secs = now() - t0
  assert(s.channels == n, "registry holds " .. s.channels .. " channels, expected " .. n)
  reg:close()
  return s.counts.received or 0, secs
end

if arg[1] == "list" or arg[1] == "registry" then
  local n = tonumber(arg[3])
  local ok, secs
  if arg[1] == "list" then ok, secs = list_mode(arg[2], n) else ok, secs = registry_mode(n, arg[4]) end
  print(("ok=%d seconds=%.3f"):format(ok, secs))
  return
end

-- ---- the driver ------------------------------------------------------------------

local emu = require "emu"
local N, ROUNDS = tonumber(arg[1]) or 100000, tonumber(arg[2]) or 5
local VM = rawget(_G, "jit") and "luajit" or "lua5.4"
local db = os.tmpname()
local e = assert(emu.start { keep = 1 })

local sh = proc.sh

local function median(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  return c[math.ceil(#c / 2)]
end

-- The registry, filled once: N channels on the emulator.
do
  local reg = assert(mpns.registry.open { store = "sqlite", path = db, allowed_hosts = { "127.0.0.1:*" } })
  local list = {}
  for i = 1, N do list[i] = { uri = e.http_prefix .. "fan-" .. i, user = "u" .. i % 1000, os = "8.0" } end
  local t0 = now()
  assert(reg:subscribe_many(list))
  print(("%s: %d channels subscribed into SQLite in %.2f s"):format(VM, reg:count { all = true }, now() - t0))
  reg:close()
end

local results = {}
for _, mode in ipairs { "list", "registry" } do results[mode] = { s = {}, rss = {}, cpu = {} } end
-- The two sides swap places each round: a drift of the machine's load over a
-- run then weighs on both alike.
local ORDERS = { { "list", "registry" }, { "registry", "list" } }
for round = 1, ROUNDS do
  for _, mode in ipairs(ORDERS[round % 2 + 1]) do
    assert(e:reset())
    local out = sh(("/usr/bin/time -f 'rss_kb=%%M cpu=%%U+%%S' %s bench/fanout.lua %s '%s' %d '%s' 2>&1")
      :format(VM, mode, e.http_prefix, N, db))
    local ok, secs = out:match("ok=(%d+) seconds=([%d.]+)")
    local rss = tonumber(out:match("rss_kb=(%d+)"))
    local user, sys = out:match("cpu=([%d.]+)%+([%d.]+)")
    assert(tonumber(ok) == N, mode .. ": not every send was received: " .. out)
    local r = results[mode]
    r.s[round], r.rss[round], r.cpu[round] = tonumber(secs), rss, tonumber(user) + tonumber(sys)
    print(("round %d %-8s %6.2f s  %7.0f sends/s  client CPU %.2f s  peak RSS %.1f MB"):format(round, mode,
      secs, N / secs, r.cpu[round], rss / 1024))
  end
end
e:stop()
os.remove(db); os.remove(db .. "-wal"); os.remove(db .. "-shm")

local a, b = median(results.list.s), median(results.registry.s)
-- the verdict compares list and registry within each round (taken in turn,
-- under the same load), not two medians taken apart
local ratios = {}
for r = 1, ROUNDS do ratios[r] = results.registry.s[r] / results.list.s[r] end
local ratio = median(ratios)
local rss = math.max((table.unpack or unpack)(results.registry.rss))
local ca, cb = median(results.list.cpu), median(results.registry.cpu)
print(("%s: client CPU, median of %d: list %.2f s, registry %.2f s: the registry adds %.1f us a send (%+.0f %%)")
  :format(VM, ROUNDS, ca, cb, (cb - ca) / N * 1e6, (cb / ca - 1) * 100))
print(("%s, %d channels, %d in flight, median of %d: list %.2f s, registry %.2f s: the registry adds %.0f %% (median of the rounds' ratios; target <= 20 %%: %s); registry peak RSS %.1f MB (target <= 64: %s)")
  :format(VM, N, CONC, ROUNDS, a, b, (ratio - 1) * 100, ratio <= 1.2 and "met" or "NOT met",
    rss / 1024, rss / 1024 <= 64 and "met" or "NOT met"))
