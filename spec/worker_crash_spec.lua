--- Workers as separate processes (bin/mpns-worker) against the emulator:
-- one of three is killed with -9 mid fan-out, and Redis (AOF on) is
-- restarted mid fan-out. Each time every channel must end with exactly one
-- recorded outcome and have received the notification at least once; the
-- channels that got it twice are at most what the dead worker had in flight,
-- and every copy carries the job's X-MessageID for that channel.
local lu = require "luaunit"
local cjson = require "cjson"
local emu = require "emu"
local rs = require "redis"   -- spec/redis.lua
local proc = require "proc"
local queue = require "mpns.queue"

local N = tonumber(os.getenv("CRASH_N")) or 3000
local CONCURRENCY = 16
local LUA = arg and arg[-1] or "lua5.4"
local e = assert(emu.start())
local logs = proc.capture("mktemp -d /tmp/mpns-crash.XXXXXX"):gsub("%s+$", "")

local function sleep(s) os.execute("sleep " .. s) end

-- Starts one bin/mpns-worker; returns its PID.
local function start_worker(server, name, prefix, lua)
  local cmd = table.concat({ lua or LUA, "bin/mpns-worker", "--redis", server.url, "--group", "g",
    "--consumer", name, "--concurrency", CONCURRENCY, "--visibility", 2, "--prefix", prefix,
    "--allow-host", "127.0.0.1", "--status", "log" }, " ")
  return tonumber(proc.capture(cmd .. " >/dev/null 2>>" .. logs .. "/" .. name .. ".log & echo $!"):match("%d+"))
end

local function uris(tag)
  local out = {}
  for i = 1, N do out[i] = e.http_prefix .. tag .. "-" .. i end
  return out
end

-- Message ids each channel received, from the emulator's control API (one
-- curl process, keep-alive, for all channels).
local function received(tag)
  local cfg = os.tmpname()
  local f = assert(io.open(cfg, "w"))
  for i = 1, N do f:write('url = "', e.control, "channels/", tag, "-", i, '"\n') end
  f:close()
  local out = proc.capture("curl -s -K " .. cfg .. " -w '\\n'")
  os.remove(cfg)
  local got = {}
  for line in out:gmatch("[^\n]+") do
    local ch = cjson.decode(line)
    if ch.id then
      got[ch.id] = {}
      for _, note in ipairs(ch.notifications) do got[ch.id][#got[ch.id] + 1] = note.message_id end
    end
  end
  return got
end

-- Polls the job's outcome count until `pred(done)` or the deadline.
local function wait_done(server, q, id, pred, secs)
  for _ = 1, secs * 20 do
    local done = tonumber(server:cli("HLEN", q.k.out(id)))
    if pred(done) then return done end
    sleep(0.05)
  end
  return tonumber(server:cli("HLEN", q.k.out(id)))
end

-- The guarantee, checked against Redis and the emulator; returns the twins.
local function check_delivery(q, id, list, tag, max_twins)
  local s = q:summary(id)
  lu.assertEquals(s.done, N, "one recorded outcome per channel")
  local counted = 0
  for _, v in pairs(s.outcomes) do counted = counted + v end
  lu.assertEquals(counted, N, "each outcome counted once")
  local got, twins = received(tag), 0
  for i = 1, N do
    local ids = got[tag .. "-" .. i]
    lu.assertNotNil(ids, "channel " .. i .. " received nothing")
    lu.assertTrue(#ids >= 1, "channel " .. i .. " received nothing")
    if #ids > 1 then twins = twins + 1 end
    for _, mid in ipairs(ids) do lu.assertEquals(mid, queue.message_id(id, list[i])) end
  end
  lu.assertTrue(twins <= max_twins, twins .. " twins, more than " .. max_twins .. " in flight")
  return twins, s
end

TestCrash = {}

function TestCrash:test_kill_9_one_of_three_workers_mid_fanout()
  local server = assert(rs.start())
  local q = assert(queue.open { port = server.port, prefix = "c:", batch_size = 100,
    allowed_hosts = { "127.0.0.1" } })
  local list = uris("k")
  local id = assert(q:push { message = { kind = "toast", text1 = "crash" }, audience = { uris = list } })
  local pids = {}
  for w = 1, 3 do pids[w] = start_worker(server, "w" .. w, "c:") end
  local at = wait_done(server, q, id, function(d) return d >= N / 4 end, 60)
  lu.assertTrue(proc.alive(pids[1]), "worker 1 was running")
  os.execute("kill -KILL " .. pids[1])
  local done = wait_done(server, q, id, function(d) return d >= N end, 90)
  for w = 2, 3 do proc.stop(pids[w]) end
  lu.assertTrue(at < N, "killed mid-run (" .. at .. " of " .. N .. " done)")
  lu.assertEquals(done, N)
  local twins, s = check_delivery(q, id, list, "k", CONCURRENCY)
  lu.assertTrue(s.resent > 0, "the dead worker's batches were reclaimed\n"
    .. proc.read_file(logs .. "/w1.log"))
  print(("\n  kill -9 at %d/%d: twins %d (bound %d), resent after reclaim %d"):format(
    at, N, twins, CONCURRENCY, s.resent))
  q:close()
  server:stop()
end

function TestCrash:test_redis_restart_with_aof_mid_fanout()
  local server = assert(rs.start { aof = true })
  local q = assert(queue.open { port = server.port, prefix = "r:", batch_size = 100,
    allowed_hosts = { "127.0.0.1" } })
  local list = uris("a")
  local id = assert(q:push { message = { kind = "toast", text1 = "restart" }, audience = { uris = list } })
  local pids = { start_worker(server, "r1", "r:"), start_worker(server, "r2", "r:") }
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
  local server = assert(rs.start())
  local q = assert(queue.open { port = server.port, prefix = "s:", batch_size = 100,
    allowed_hosts = { "127.0.0.1" } })
  local list = uris("s")
  local id = assert(q:push { message = { kind = "toast", text1 = "term" }, audience = { uris = list } })
  local pid = start_worker(server, "s1", "s:", "luajit")  -- lua-posix (signals) is there for LuaJIT
  wait_done(server, q, id, function(d) return d >= N / 4 end, 60)
  os.execute("kill -TERM " .. pid)
  for _ = 1, 200 do if not proc.alive(pid) then break end sleep(0.05) end
  lu.assertFalse(proc.alive(pid), "exited within 10 s of SIGTERM")
  local done = tonumber(server:cli("HLEN", q.k.out(id)))
  lu.assertTrue(done < N, "stopped before the job's end")
  lu.assertEquals(done % 100, 0, "whole batches: the claimed ones were finished, no more\n" .. proc.read_file(logs .. "/s1.log"))
  lu.assertEquals(server:cli("XPENDING", q.k.stream, "g"):match("^(%d+)"), "0", "and acknowledged")
  local log = proc.read_file(logs .. "/s1.log")
  lu.assertStrContains(log, "event=stop")
  lu.assertStrMatches(log, ".*event=progress done=%d+ inflight=%d+ job=" .. id:gsub("%-", "%%-") .. " rate=%d+ total=" .. N .. "\n.*")
  pid = start_worker(server, "s2", "s:")
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
