-- SQLite inside nginx blocks the worker while it runs: how long, for the
-- phone-facing service (examples/pushkit/, one worker, registry in SQLite,
-- short transactions). Starts the emulator and the service, then
--   1. wrk POSTs /subscribe with distinct channel URIs for SECONDS:
--      requests/s and latency (each subscribe is one short transaction; the
--      service then sends the on-subscribe tile from a timer);
--   2. a one-time toast to those channels through the admin endpoint, while
--      wrk -c1 measures GET /ping (answered by nginx itself, in the same
--      worker: its latency is how long the worker was busy elsewhere);
--   3. the same /ping measurement with the service idle;
-- with the SQLite store, then the memory store (the difference is SQLite's
-- share), reading the worker's CPU time from /proc.
--   lua5.4 bench/pushkit_sqlite.lua [SECONDS]     (run from the repo root)
local emu = require "emu"
local pushkit = require "pushkit_nginx"
local cjson = require "cjson"

local SECONDS = tonumber(arg[1]) or 5
local SECRET = "bench-" .. os.time()

local sh = require("proc").capture

local WRK_SUBSCRIBE = [[
local prefix, n = nil, 0
function init(args) prefix = args[1] end
function request()
  n = n + 1
  local body = '{"user":"fan","os":"8.0","uri":"' .. prefix .. 'sq-' .. math.random(1e9) .. '-' .. n .. '"}'
  return wrk.format("POST", "/subscribe", { ["Content-Type"] = "application/json" }, body)
end
]]

-- requests/s, p99 and max latency (ms) from wrk's --latency report.
local function wrk_figures(out)
  local function ms(v, unit)
    v = tonumber(v)
    return unit == "us" and v / 1000 or unit == "s" and v * 1000 or v
  end
  local rps = tonumber(out:match("Requests/sec:%s*([%d.]+)"))
  local p99 = { out:match("99%%%s+([%d.]+)(%a+)") }
  local max = { out:match("Latency%s+[%d.]+%a+%s+[%d.]+%a+%s+([%d.]+)(%a+)") }
  local non2xx = tonumber(out:match("Non%-2xx or 3xx responses: (%d+)")) or 0
  return rps, ms(p99[1], p99[2]), ms(max[1], max[2]), non2xx
end

-- CPU seconds (user + system) the service's worker has used so far.
local function worker_cpu(app)
  local pid = sh("pgrep -P " .. app.pid):match("%d+")
  local stat = io.open("/proc/" .. pid .. "/stat"):read("*a")
  local fields = {}
  for x in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = x end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100   -- utime, stime in ticks
end

-- One measurement of the service on `store`.
local function measure(e, app, store)
  print("-- registry store: " .. store)
  local script = os.tmpname()
  local f = assert(io.open(script, "w")); f:write(WRK_SUBSCRIBE); f:close()
  local cpu0 = worker_cpu(app)
  local out = sh(("wrk -t1 -c10 -d%ds --latency -s %s %s -- %s"):format(SECONDS, script, app.url, e.http_prefix))
  os.remove(script)
  os.execute("sleep 2")   -- let the on-subscribe tiles finish
  local rps, p99, max, bad = wrk_figures(out)
  local n = rps * SECONDS
  print(("subscribe: %.0f requests/s, p99 %.1f ms, max %.1f ms, %d not 2xx (wrk -c10, %d s); "
    .. "worker CPU %.0f us per subscribe, its on-subscribe tile included")
    :format(rps, p99, max, bad, SECONDS, (worker_cpu(app) - cpu0) / n * 1e6))
  cpu0 = worker_cpu(app)

  -- The fan-out in the background, /ping measured meanwhile.
  local res = os.tmpname()
  os.execute(("curl -s -o %s -X POST -H 'X-Admin-Secret: %s' -d '%s' %s/admin/one_time &")
    :format(res, SECRET, '{"filter":{"user":"fan"},"messages":[{"kind":"toast","text1":"fan-out"}]}', app.url))
  out = sh(("wrk -t1 -c1 -d%ds --latency %s/ping"):format(SECONDS, app.url))
  local _, busy99, busymax = wrk_figures(out)
  for _ = 1, 600 do
    local body = io.open(res):read("*a")
    if #body > 0 then
      local s = cjson.decode(body)
      print(("fan-out: %s; worker CPU %.0f us per send, recording included")
        :format(s.summary, (worker_cpu(app) - cpu0) / s.sent * 1e6))
      break
    end
    os.execute("sleep 0.1")
  end
  os.remove(res)
  out = sh(("wrk -t1 -c1 -d%ds --latency %s/ping"):format(SECONDS, app.url))
  local _, idle99, idlemax = wrk_figures(out)
  print(("/ping during the fan-out: p99 %.2f ms, max %.1f ms; idle: p99 %.2f ms, max %.1f ms")
    :format(busy99, busymax, idle99, idlemax))
end

-- SQLite (the service's setting), then the memory store: the difference is
-- what SQLite costs the worker.
for _, store in ipairs { "sqlite", "memory" } do
  local e = assert(emu.start { keep = 1 })
  local app = assert(pushkit.start(e, { secret = SECRET, store = store }))
  local ok, err = pcall(measure, e, app, store)
  app:stop()
  e:stop()
  if not ok then error(err, 0) end
end
