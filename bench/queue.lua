-- The send queue's figures (issue 12), against the emulator, under the VM
-- that runs it (the workers too):
--   (a) the single-process libcurl client, no Redis: one toast to N channels;
--   (b) the same fan-out pushed to mpns.queue and sent by 1, then 2
--       bin/mpns-worker processes: time from the first worker's first claim
--       (it announces itself in q:workers then) to the last outcome in
--       Redis, and the ratio to (a), which is timed from its first send, as
--       this is; also the time from the workers' process start (start-up:
--       the VM, the modules, libcurl, connecting); (a), 1 and 2 workers take
--       turns, 3 rounds, medians (the machine is shared: a ratio from one
--       round compares like with like);
--   (c) Redis commands per notification: those the workers sent (their
--       count at stop) and those Redis executed (INFO commandstats, which
--       counts the commands inside scripts too);
--   (d) kill -9 one of three workers a quarter into a CRASH_N fan-out: the
--       delivery guarantee, checked channel by channel in the emulator.
--   luajit bench/queue.lua [N] [CRASH_N] [ROOT ...]  (from the repo root; bench/run)
--   lua5.4 bench/queue.lua [N] [CRASH_N] [ROOT ...]
-- ROOTs: checkouts whose bin/mpns-worker (with their own lua/ and build/)
-- take turns in each round, to compare builds in one run (default: .).
local mpns = require "mpns"
local emu = require "emu"
local rs = require "redis"          -- spec/redis.lua
local proc = require "proc"
local check = require "queue_check"
local queue = require "mpns.queue"

local N, CRASH_N = tonumber(arg[1]) or 20000, tonumber(arg[2]) or 100000
local ROOTS = { select(3, (table.unpack or unpack)(arg)) }
if #ROOTS == 0 then ROOTS[1] = "." end
local CONC, BATCH = 50, 500
local LUA = arg[-1] or "luajit"
local socket = require "socket"
local now = socket.gettime   -- /proc/uptime counts in 10 ms steps
local conn = require "mpns.store.redis.conn"

local started = {}   -- emulators and Redis servers, stopped at the end even after an error
local e = assert(emu.start { keep = 4 })
started[1] = e
local logs = proc.sh("mktemp -d /tmp/mpns-qbench.XXXXXX"):gsub("%s+$", "")

-- A worker process for `started`: stopped only while its PID still runs mpns-worker.
local function worker(pid)
  started[#started + 1] = { stop = function()
    if (proc.read_file("/proc/" .. pid .. "/cmdline") or ""):find("mpns-worker", 1, true) then proc.stop(pid) end
  end }
  return pid
end

-- CPU seconds (user + system) a process has used so far.
local function cpu_seconds(pid)
  local stat = proc.read_file("/proc/" .. pid .. "/stat") or ""
  local fields = {}
  for f in stat:match("%) (.*)$"):gmatch("%S+") do fields[#fields + 1] = f end
  return (tonumber(fields[12]) + tonumber(fields[13])) / 100   -- utime, stime (fields 14, 15)
end

-- CPU seconds the emulator's nginx workers (children of its master) have used.
local function emu_cpu()
  local kids = proc.read_file("/proc/" .. e.pid .. "/task/" .. e.pid .. "/children") or ""
  local n = 0
  for pid in kids:gmatch("%d+") do n = n + cpu_seconds(pid) end
  return n
end

-- CPU seconds every process on the machine has used so far (/proc/stat,
-- all cores): with ours, what other jobs took during a run.
local function machine_cpu()
  local f = io.open("/proc/stat")
  local line = f and f:read("*l") or ""
  if f then f:close() end
  local t, i = {}, 0
  for n in line:gmatch("%d+") do i = i + 1; t[i] = tonumber(n) end
  local busy = (t[1] or 0) + (t[2] or 0) + (t[3] or 0) + (t[6] or 0) + (t[7] or 0) + (t[8] or 0)
  return busy / 100   -- user nice system irq softirq steal, in USER_HZ
end

-- (a): send_async to every URI of a list, one client, one run.
local function baseline(tag)
  local c, ok = mpns.client { max_connections = CONC }, 0
  local toast = mpns.toast { text1 = "Fan-out", text2 = "one toast to every channel" }
  local uris = check.uris(e, tag, N)
  local t0, c0, e0, m0 = now(), os.clock(), emu_cpu(), machine_cpu()
  for i = 1, N do c:send_async(toast, uris[i], function(res) if res and res.ok then ok = ok + 1 end end) end
  c:run()
  assert(ok == N, "baseline: " .. ok .. " of " .. N .. " received")
  return now() - t0, os.clock() - c0, emu_cpu() - e0, machine_cpu() - m0
end

-- CPU seconds the Redis server has used (INFO cpu: user + sys).
local function redis_cpu(server)
  local info = server:cli("INFO", "cpu")
  return tonumber(info:match("used_cpu_user:([%d.]+)")) + tonumber(info:match("used_cpu_sys:([%d.]+)"))
end

-- Sums the calls of INFO commandstats.
local function executed(server)
  local n = 0
  for calls in server:cli("INFO", "commandstats"):gmatch("calls=(%d+)") do n = n + tonumber(calls) end
  return n
end

-- Polls (every 5 ms, one connection) until `n` outcomes of job `id` are
-- in; the time the first worker announced itself and the time of the last
-- outcome, or nil after `secs`.
local function wait_all(server, q, id, n, secs)
  local c, t0, ready = conn.new { port = server.port }, now(), nil
  repeat
    ready = ready or (tonumber(c:call("ZCARD", q.k.workers)) or 0) > 0 and now() or nil
    if ready and (tonumber(c:call("HLEN", q.k.out(id))) or 0) >= n then
      c:close()
      return ready, now()
    end
    socket.sleep(0.005)
  until now() - t0 > secs
  c:close()
end

-- (b) + (c): one job of N channels through `workers` worker processes of
-- the checkout `root`.
local function queued(tag, workers, root)
  local server = assert(rs.start())
  started[#started + 1] = server
  local q = assert(queue.open { port = server.port, batch_size = BATCH, allowed_hosts = { "127.0.0.1:*" } })
  local t0 = now()
  local id = assert(q:push { message = { kind = "toast", text1 = "Fan-out", text2 = "one toast to every channel" },
    audience = { uris = check.uris(e, tag, N) } })
  local push_s = now() - t0
  server:cli("CONFIG", "RESETSTAT")
  local rcpu0, m0 = redis_cpu(server), machine_cpu()
  local pids, e0 = {}, emu_cpu()
  t0 = now()
  for w = 1, workers do
    pids[w] = worker(check.start_worker(server, tag .. w, "mpns:", { lua = LUA, concurrency = CONC, visibility = 30,
      log = logs .. "/" .. tag .. w .. ".log", root = root }))
  end
  local ready, t_done = wait_all(server, q, id, N, 600)
  assert(t_done, tag .. ": not done in 600 s")
  local secs, startup = t_done - ready, ready - t0
  local ran, cpu, rcpu, ecpu = executed(server), 0, redis_cpu(server) - rcpu0, emu_cpu() - e0
  local mcpu = machine_cpu() - m0
  for _, pid in ipairs(pids) do cpu = cpu + cpu_seconds(pid); proc.stop(pid) end
  local sent = 0
  for w = 1, workers do
    local log = proc.read_file(logs .. "/" .. tag .. w .. ".log") or ""
    sent = sent + tonumber(log:match("event=stop.-redis_commands=(%d+)") or 0/0)
  end
  assert(q:summary(id).outcomes.received == N, tag .. ": not every channel received")
  q:close()
  server:stop()
  return secs, push_s, sent / N, ran / N, cpu, rcpu, ecpu, startup, mcpu
end

-- (d): the crash run, on an emulator of its own (its default state memory
-- keeps about 350,000 channels; the check counts any eviction).
local function crash()
  local em = assert(emu.start { keep = 4 })
  started[#started + 1] = em
  local parts = { { e = em, tag = "crash", n = CRASH_N } }
  local list = check.uris(em, "crash", CRASH_N)
  local server = assert(rs.start())
  started[#started + 1] = server
  local q = assert(queue.open { port = server.port, batch_size = BATCH, allowed_hosts = { "127.0.0.1:*" } })
  local id = assert(q:push { message = { kind = "toast", text1 = "crash" }, audience = { uris = list } })
  local pids = {}
  for w = 1, 3 do
    pids[w] = worker(check.start_worker(server, "crash" .. w, "mpns:", { lua = LUA, concurrency = CONC, visibility = 5,
      log = logs .. "/crash" .. w .. ".log" }))
  end
  local at = check.wait_done(server, q, id, function(d) return d >= #list / 4 end, 600)
  os.execute("kill -KILL " .. pids[1])
  local done = check.wait_done(server, q, id, function(d) return d >= #list end, 900, { poll = 0.2 })
  for w = 2, 3 do proc.stop(pids[w]) end
  local r = check.delivery(q, id, parts)
  q:close()
  server:stop()
  em:stop()
  return at, done, r, #list
end

local function median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

local function load() return (proc.read_file("/proc/loadavg") or ""):match("^(%S+ %S+ %S+)") end

print(("queue fan-out: %d channels, %d sends in flight per process, batches of %d, %s, load %s"):format(
  N, CONC, BATCH, jit and jit.version or _VERSION, load()))
-- The median of field i over the rounds' results.
local function m(list, i)
  local t = {}
  for r, res in ipairs(list) do t[r] = type(i) == "function" and i(res) or res[i] end
  return median(t)
end

-- (a), then for each checkout 1 and 2 workers, in turns, 3 rounds;
-- medians printed, with each process's share of a core (CPU / wall).
local function throughput()
  local rows = { base = {} }
  for r = 1, 3 do
    local secs, cpu, ecpu, mcpu = baseline("base" .. r)
    rows.base[r] = { secs, cpu, ecpu, mcpu }
    for ri, root in ipairs(ROOTS) do
      for _, workers in ipairs { 1, 2 } do
        local key = root .. workers
        rows[key] = rows[key] or {}
        local res = { queued("r" .. r .. "c" .. ri .. "w" .. workers .. "-", workers, root) }
        res.ratio, res.ratio_su = secs / res[1], secs / (res[1] + res[8])
        rows[key][r] = res
        print(("  round %d: client %.2f s, %s%d worker%s %.2f s: %.2fx (from the process start %.2f s: %.2fx)"):format(
          r, secs, #ROOTS > 1 and root .. ": " or "", workers, workers > 1 and "s" or "", res[1], res.ratio,
          res[1] + res[8], res.ratio_su))
      end
    end
  end
  local b = m(rows.base, 1)
  print(("  (a) libcurl client, one process, no Redis: %.2f s, %.0f/s (median of 3), CPU %.0f us/notification "
    .. "(%.0f %% of a core), emulator CPU %.0f us/notification (%.0f %%); the whole machine %.0f %%"):format(b, N / b,
    m(rows.base, 2) / N * 1e6, m(rows.base, function(x) return x[2] / x[1] * 100 end), m(rows.base, 3) / N * 1e6,
    m(rows.base, function(x) return x[3] / x[1] * 100 end), m(rows.base, function(x) return x[4] / x[1] * 100 end)))
  for _, root in ipairs(ROOTS) do
    for _, workers in ipairs { 1, 2 } do
      local list = rows[root .. workers]
      local secs = m(list, 1)
      print(("  (b) %s%d worker%s: %.2f s, %.0f/s, %.2fx the client (median of the rounds' ratios; from the "
        .. "process start %.2fx, start-up %.2f s; push: %.2f s), worker CPU %.0f us/notification"):format(
        #ROOTS > 1 and root .. ": " or "", workers, workers > 1 and "s" or "", secs, N / secs, m(list, "ratio"),
        m(list, "ratio_su"), m(list, 8), m(list, 2), m(list, 5) / N * 1e6))
      print(("  (c) Redis commands per notification: %.4f sent by the workers, %.3f executed by Redis; "
        .. "Redis CPU %.1f us/notification, emulator CPU %.0f us/notification"):format(m(list, 3), m(list, 4),
        m(list, 6) / N * 1e6, m(list, 7) / N * 1e6))
      local function share(i) return m(list, function(x) return x[i] / (x[1] + x[8]) * 100 end) end
      print(("      share of a core from the workers' start: workers %.0f %%, Redis %.0f %%, emulator %.0f %%; "
        .. "the whole machine %.0f %% (of 200 %% on 2 cores)"):format(share(5), share(6), share(7), share(9)))
    end
  end
  print("  load after: " .. load())
end

-- (d), printed.
local function report_crash()
  local at, done, r, n = crash()
  print(("  (d) kill -9 of 1 of 3 workers at %d/%d: %d with an outcome (outcome counts sum %d), "
    .. "%d received nothing, %d twins (bound: %d in flight), %d resent after the reclaim, "
    .. "%d notifications with a wrong X-MessageID, %d emulator evictions"):format(at, n, done, r.counted,
    r.missing, r.twins, CONC, r.summary.resent, r.wrong_ids, r.evicted))
  local o = {}
  for k, v in pairs(r.summary.outcomes) do o[#o + 1] = k .. "=" .. v end
  print("      outcomes: " .. table.concat(o, " "))
end

local ok, err = pcall(function()
  if N > 0 then throughput() end
  if CRASH_N > 0 then report_crash() end
end)
for _, x in ipairs(started) do x:stop() end
os.execute("rm -rf " .. logs)
if not ok then error(err, 0) end
