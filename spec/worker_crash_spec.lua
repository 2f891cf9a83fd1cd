--- Workers as separate processes (bin/mpns-worker) against the emulator:
-- one of three is killed with -9 mid fan-out, and Redis (AOF on) is
-- restarted mid fan-out. Each time every channel must end with exactly one
-- recorded outcome and have received the notification at least once; the
-- channels that got it twice are at most what the dead worker had in flight,
-- and every copy carries the job's X-MessageID for that channel.
local lu = require "luaunit"
local emu = require "emu"
local rs = require "redis"   -- spec/redis.lua
local proc = require "proc"
local queue = require "mpns.queue"
local check = require "queue_check"

local N = tonumber(os.getenv("CRASH_N")) or 2000
local CONCURRENCY = 16
local LUA = arg and arg[-1] or "lua5.4"
local e = assert(emu.start())
local logs = proc.sh("mktemp -d /tmp/mpns-crash.XXXXXX"):gsub("%s+$", "")

local sleep = proc.sleep

local function start_worker(server, name, prefix, lua)
  return check.start_worker(server, name, prefix, { lua = lua or LUA, concurrency = CONCURRENCY,
    log = logs .. "/" .. name .. ".log" })
end
local function uris(tag) return check.uris(e, tag, N) end
local wait_done = check.wait_done

-- The guarantee, checked against Redis and the emulator; returns the twins.
local function check_delivery(q, id, list, tag, max_twins)
  local r = check.delivery(q, id, { { e = e, tag = tag, n = #list } })
  lu.assertEquals(r.done, N, "one recorded outcome per channel")
  lu.assertEquals(r.counted, N, "each outcome counted once")
  lu.assertEquals(r.missing, 0, "channels that received nothing")
  lu.assertEquals(r.wrong_ids, 0, "notifications without the job's X-MessageID for their channel")
  lu.assertEquals(r.evicted, 0, "emulator state forgotten for room: the lists above cannot be trusted")
  lu.assertTrue(r.twins <= max_twins, r.twins .. " twins, more than " .. max_twins .. " in flight")
  return r.twins, r.summary
end

TestCrash = {}

-- The job's last channels answer 1.5 s late, once: however fast the workers
-- are, the job is still running when the test kills one or restarts Redis.
local function slow_tail(tag)
  for i = N - 2, N do assert(e:set(tag .. "-" .. i, { fail_next = { count = 1, delay_ms = 1500 } })) end
end

-- A Redis server (stopped in tearDown), a queue on it, and a job of N
-- channels tag-1 .. tag-N pushed: server, queue, URIs, job id.
local function job(self, prefix, tag, redis_opts)
  slow_tail(tag)
  local server = assert(rs.start(redis_opts))
  table.insert(self.started, server)
  local q = assert(queue.open { port = server.port, prefix = prefix, batch_size = 100,
    allowed_hosts = { "127.0.0.1:*" } })
  local list = uris(tag)
  local id = assert(q:push { message = { kind = "toast", text1 = tag }, audience = { uris = list } })
  return server, q, list, id
end

-- What a test started, stopped even when an assertion ends it early.
function TestCrash:setUp() self.started = {} end
function TestCrash:tearDown()
  for _, x in ipairs(self.started) do
    if type(x) ~= "number" then x:stop()
    elseif (proc.read_file("/proc/" .. x .. "/cmdline") or ""):find("mpns-worker", 1, true) then
      proc.stop(x)   -- still our worker (not a reused PID)
    end
  end
end

-- Stream entries each consumer of group "g" holds unacknowledged
-- (XPENDING's summary: count, first, last, then consumer and count pairs).
local function held(server, q)
  local lines, out = {}, {}
  for l in server:cli("XPENDING", q.k.stream, "g"):gmatch("[^\n]+") do lines[#lines + 1] = l end
  for i = 4, #lines - 1, 2 do out[lines[i]] = tonumber(lines[i + 1]) end
  return out, tonumber(lines[1])
end

-- Kills the worker that holds the most batches (they claim ahead, so one
-- almost always does); returns its number and what it held when it died.
local function kill_a_holder(server, q, pids)
  local w
  for _ = 1, 100 do
    local h = held(server, q)
    for i = 1, 3 do if (h["w" .. i] or 0) > (w and h["w" .. w] or 0) then w = i end end
    if w then break end
    sleep(0.01)
  end
  w = w or 1
  lu.assertTrue(proc.alive(pids[w]), "worker " .. w .. " was running")
  os.execute("kill -KILL " .. pids[w])
  return w, held(server, q)["w" .. w] or 0
end

function TestCrash:test_kill_9_one_of_three_workers_mid_fanout()
  local server, q, list, id = job(self, "c:", "k")
  local pids = {}
  for w = 1, 3 do pids[w] = start_worker(server, "w" .. w, "c:"); table.insert(self.started, pids[w]) end
  local at = wait_done(server, q, id, function(d) return d >= N / 4 end, 60)
  local dead, had = kill_a_holder(server, q, pids)
  local done = wait_done(server, q, id, function(d) return d >= N end, 90)
  for w = 1, 3 do if w ~= dead then proc.stop(pids[w]) end end
  lu.assertTrue(at < N, "killed mid-run (" .. at .. " of " .. N .. " done)")
  lu.assertEquals(done, N)
  local twins, s = check_delivery(q, id, list, "k", CONCURRENCY)
  lu.assertTrue(had > 0, "the killed worker held batches")
  local _, pending = held(server, q)
  lu.assertEquals(pending, 0, "the dead worker's batches were reclaimed and acknowledged\n"
    .. proc.read_file(logs .. "/w" .. dead .. ".log"))
  print(("\n  kill -9 at %d/%d holding %d batches: twins %d (bound %d), resent after reclaim %d"):format(
    at, N, had, twins, CONCURRENCY, s.resent))
  q:close()
  server:stop()
end

function TestCrash:test_redis_restart_with_aof_mid_fanout()
  local server, q, list, id = job(self, "r:", "a", { aof = true })
  local pids = { start_worker(server, "r1", "r:"), start_worker(server, "r2", "r:") }
  table.insert(self.started, pids[1]); table.insert(self.started, pids[2])
  local at = wait_done(server, q, id, function(d) return d >= N / 4 end, 60)
  assert(server:restart())
  local done = wait_done(server, q, id, function(d) return d >= N end, 90)
  for _, pid in ipairs(pids) do proc.stop(pid) end
  lu.assertTrue(at < N, "restarted mid-run")
  lu.assertEquals(done, N)
  local log = proc.read_file(logs .. "/r1.log") .. proc.read_file(logs .. "/r2.log")
  lu.assertStrContains(log, "event=redis_error", "the workers saw Redis go away")
  local twins = check_delivery(q, id, list, "a", 2 * CONCURRENCY)
  print(("\n  Redis restarted at %d/%d: twins %d"):format(at, N, twins))
  q:close()
  server:stop()
end

function TestCrash:test_sigterm_finishes_claimed_batches_acks_and_exits()
  local server, q, list, id = job(self, "s:", "s")
  -- the worker under this suite's VM (spec/run: Lua 5.4, then LuaJIT);
  -- 4 at a time, so TERM lands mid-job
  local pid = check.start_worker(server, "s1", "s:", { lua = LUA, concurrency = 4,
    log = logs .. "/s1.log" })
  table.insert(self.started, pid)
  -- TERM once the first batch is done: the rest of the job (N - 100 channels) is
  -- time enough for the signal to land mid-job even on a loaded machine
  wait_done(server, q, id, function(d) return d >= 100 end, 60, { poll = 0.01 })
  os.execute("kill -TERM " .. pid)
  for _ = 1, 200 do if not proc.alive(pid) then break end sleep(0.05) end
  lu.assertFalse(proc.alive(pid), "exited within 10 s of SIGTERM")
  local done = tonumber(server:cli("HLEN", q.k.out(id)))
  lu.assertTrue(done < N, "stopped before the job's end\n" .. proc.read_file(logs .. "/s1.log"))
  lu.assertEquals(done % 100, 0, "whole batches: the claimed ones were finished, no more")
  lu.assertEquals(server:cli("XPENDING", q.k.stream, "g"):match("^(%d+)"), "0", "and acknowledged")
  local log = proc.read_file(logs .. "/s1.log")
  lu.assertStrContains(log, "event=stop")
  lu.assertStrMatches(log, ".*event=progress done=%d+ inflight=%d+ job=" .. id:gsub("%-", "%%-") .. " rate=%d+ total=" .. N .. "\n.*")
  pid = start_worker(server, "s2", "s:")
  table.insert(self.started, pid)
  wait_done(server, q, id, function(d) return d >= N end, 90)
  proc.stop(pid)
  lu.assertEquals(check_delivery(q, id, list, "s", 0), 0, "a graceful stop leaves no twins")
  q:close()
  server:stop()
end

local rc = lu.LuaUnit.run()
e:stop()
os.execute("rm -rf " .. logs)
os.exit(rc == 0)
