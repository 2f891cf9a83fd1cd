--- mpns.queue and mpns.worker, in one process, against the emulator: push
-- checks the whole job, batches land in the stream, a worker sends each
-- channel once with its own X-MessageID, records outcomes, schedules retries.
local lu = require "luaunit"
local emu = require "emu"
local rs = require "redis"   -- spec/redis.lua
local mpns = require "mpns"
local queue = require "mpns.queue"
local worker = require "mpns.worker"

local server = assert(rs.start())
local e = assert(emu.start())
local n = 0

local function open_queue(opts)
  n = n + 1
  local o = { port = server.port, prefix = "q" .. n .. ":", allowed_hosts = { "127.0.0.1:*" } }
  for k, v in pairs(opts or {}) do o[k] = v end
  return assert(queue.open(o)), o.prefix
end

local function run_worker(prefix, opts)
  local o = { port = server.port, prefix = prefix, allowed_hosts = { "127.0.0.1:*" },
    status = "none", idle_exit = 0.2, visibility = 5 }
  for k, v in pairs(opts or {}) do o[k] = v end
  local w = assert(worker.new(o))
  w:run()
  w:close()
end

local function uris(tag, count) return require("queue_check").uris(e, tag, count) end

TestPush = {}

function TestPush:test_bad_jobs_are_refused_whole()
  local q = open_queue()
  local A = { uris = { e.http_prefix .. "x" } }
  lu.assertErrorMsgContains("job.message: unknown kind 'toasts'", q.push, q,
    { message = { kind = "toasts", text1 = "a" }, audience = A })
  lu.assertErrorMsgContains("field 'count' expected an integer from 0 to 99", q.push, q,
    { message = { kind = "tile", count = 100 }, audience = A })
  lu.assertErrorMsgContains("unknown field 'titel'", q.push, q,
    { message = { kind = "tile", titel = "x" }, audience = A })
  lu.assertErrorMsgContains("'message_id' is set by the queue", q.push, q,
    { message = { kind = "toast", text1 = "a", message_id = queue.message_id("j", "u") }, audience = A })
  lu.assertErrorMsgContains("job.audience: unknown key 'users'", q.push, q,
    { message = { kind = "toast", text1 = "a" }, audience = { users = "al" } })
  lu.assertErrorMsgContains("exactly one of uris, user, tag", q.push, q,
    { message = { kind = "toast", text1 = "a" }, audience = { user = "al", tag = "t" } })
  lu.assertErrorMsgContains("host 'evil.example' is not allowed", q.push, q,
    { message = { kind = "toast", text1 = "a" }, audience = { uris = { "http://evil.example/x" } } })
  lu.assertErrorMsgContains("job: unknown key 'audiense'", q.push, q,
    { message = { kind = "toast", text1 = "a" }, audiense = A })
  local id, err = q:push { message = { kind = "toast", text1 = "a" }, audience = { tag = "nobody" } }
  lu.assertNil(id)
  lu.assertStrContains(err, 'job.audience {"tag":"nobody"} matches no channel')
  lu.assertNil(q:push { message = { kind = "toast", text1 = "a" }, audience = { uris = {} } })
  lu.assertEquals(server:cli("EXISTS", q.k.stream), "0", "nothing queued")
  q:close()
end

function TestPush:test_audience_is_split_into_batches()
  local q = open_queue { batch_size = 500 }
  local id = assert(q:push { message = { kind = "toast", text1 = "Hi" }, audience = { uris = uris("b", 1201) } })
  lu.assertEquals(server:cli("XLEN", q.k.stream), "3")
  local s = q:summary(id)
  lu.assertEquals({ s.total, s.done, s.kind, s.finished }, { 1201, 0, "toast", false })
  lu.assertNil(q:summary("no-such-job"))
  q:close()
end

function TestPush:test_message_ids_are_uuids_one_per_job_and_channel()
  local a = queue.message_id("job1", "http://h/1")
  lu.assertStrMatches(a, "%x%x%x%x%x%x%x%x%-%x%x%x%x%-8%x%x%x%-[89ab]%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x")
  lu.assertEquals(queue.message_id("job1", "http://h/1"), a)
  lu.assertNotEquals(queue.message_id("job1", "http://h/2"), a)
  lu.assertNotEquals(queue.message_id("job2", "http://h/1"), a)
  lu.assertEquals(mpns.toast { text1 = "x", message_id = a }:headers()["X-MessageID"], a)
end

-- Ids the queue's first version (FNV-1a in Lua) gave: a worker of this
-- version resending a job an older one started sends the same ids.
function TestPush:test_message_ids_are_those_of_earlier_versions()
  lu.assertEquals(queue.message_id("job1", "http://h/1"), "22077217-eaf5-8c95-b268-b549378fcc93")
  lu.assertEquals(queue.message_id("1733000000-42", "http://127.0.0.1:20000/throttledthirdparty/01.00/r1w1-17"),
    "2a8163d4-f4de-8b72-b017-09e30b3c05f9")
  lu.assertEquals(queue.message_id("", ""), "811c9dc5-050c-8d1f-811c-9dc5deadbeef")
  lu.assertEquals(queue.message_id("j\0\255x", "https://db3.notify.live.net/throttledthirdparty/01.00/AQHg"
    .. ("A"):rep(84)), "546667f0-f480-82fa-9dd9-5cddf3cab513")
  lu.assertErrorMsgContains("bad argument #2", queue.message_id, "job1", nil)
end

TestWorker = {}

function TestWorker:test_each_channel_once_with_its_message_id_and_outcome()
  local q, prefix = open_queue { batch_size = 40 }
  local list = uris("w", 150)
  local id = assert(q:push { message = { kind = "toast", text1 = "Goal" }, audience = { uris = list } })
  -- one channel already has an outcome for this job: the worker skips it
  server:cli("HSET", q.k.out(id), list[7], "received")
  run_worker(prefix, { concurrency = 8 })
  local s = q:summary(id)
  lu.assertEquals({ s.done, s.outcomes.received, s.sent, s.finished }, { 150, 149, 149, true })
  for _, i in ipairs { 1, 77, 150 } do
    local ch = assert(e:get("w-" .. i))
    lu.assertEquals(#ch.notifications, 1)
    lu.assertEquals(ch.notifications[1].message_id, queue.message_id(id, list[i]))
  end
  lu.assertNil(e:get("w-7"), "skipped: it had an outcome")
  lu.assertEquals(server:cli("XLEN", q.k.stream), "0", "acknowledged and deleted")
  lu.assertEquals(server:cli("XPENDING", q.k.stream, "mpns"):match("^(%d+)"), "0")
  q:close()
end

-- A stream entry mpns.queue did not write (no job, a channel list that is
-- not JSON) is acknowledged and logged, and the worker goes on to the next.
function TestWorker:test_a_bad_stream_entry_is_acked_and_skipped()
  local q, prefix = open_queue()
  server:cli("XGROUP", "CREATE", q.k.stream, "mpns", "0", "MKSTREAM")
  server:cli("XADD", q.k.stream, "*", "job", "nope", "ch", "'{not json'")
  server:cli("XADD", q.k.stream, "*", "ch", "'[]'")
  local list = uris("bad", 3)
  local id = assert(q:push { message = { kind = "toast", text1 = "after" }, audience = { uris = list } })
  local logged = {}
  run_worker(prefix, { status = "log", log = function(line) logged[#logged + 1] = line end })
  lu.assertEquals(q:summary(id).done, 3)
  lu.assertEquals(server:cli("XPENDING", q.k.stream, "mpns"):match("^(%d+)"), "0")
  lu.assertStrContains(table.concat(logged, "\n"), "event=bad_entry")
  q:close()
end

-- Stopping with outcomes Redis never confirmed: the worker retries, then
-- says how many sends it leaves unrecorded instead of claiming success.
function TestWorker:test_a_stop_without_redis_says_what_is_unrecorded()
  local own = assert(rs.start())
  local w = assert(worker.new { port = own.port, prefix = "d:", status = "none",
    allowed_hosts = { "127.0.0.1:*" } })
  w.done = { { b = { id = "1-0", job = { id = "j" }, open = 1 }, uri = e.http_prefix .. "d-1",
    res = { outcome = "received" }, n = 1 } }
  own:stop()
  w.drain_for = 0.3
  local ok, err = w:drain()
  lu.assertNil(ok)
  lu.assertStrContains(err, "stopped with 1 sends unrecorded")
  w:close()
end

function TestWorker:test_tag_audience_records_outcomes_in_the_registry()
  local q, prefix = open_queue()
  local reg = mpns.registry.open { store = q.store, allowed_hosts = { "127.0.0.1:*" } }
  for i = 1, 5 do
    assert(reg:subscribe { uri = e.http_prefix .. "r-" .. i, tags = { i % 2 == 0 and "even" or "odd" },
      os = i == 1 and "7.0" or nil })
  end
  local id = assert(q:push { message = { kind = "tile", title = "T", count = 3 }, audience = { tag = "odd" } })
  run_worker(prefix)
  lu.assertEquals(q:summary(id).outcomes, { received = 3 })
  lu.assertEquals(reg:get(e.http_prefix .. "r-3").last_outcome, "received")
  lu.assertNil(reg:get(e.http_prefix .. "r-2").last_outcome, "not in the audience")
  lu.assertNil(e:get("r-2"))
  lu.assertEquals(e:get("r-1").notifications[1].kind, "tile", "7.0 gets a plain tile")
  q:close()
end

function TestWorker:test_retry_after_is_scheduled_then_sent_when_due()
  local q, prefix = open_queue()
  local list = uris("t", 3)
  assert(e:set("t-2", { daily_limit = 0 }))
  local id = assert(q:push { message = { kind = "toast", text1 = "later" }, audience = { uris = list } })
  local t0 = os.time()
  run_worker(prefix)
  local s = q:summary(id)
  lu.assertEquals({ s.done, s.retries, s.finished }, { 2, 1, false })
  local due = tonumber(server:cli("ZRANGE", q.k.retry, 0, -1, "WITHSCORES"):match("\n(%S+)$"))
  lu.assertTrue(due >= t0 + 3600 - 5, "throttled: retry in an hour, not slept on")
  lu.assertEquals(server:cli("XLEN", q.k.stream), "0", "the batch is acked: the retry is durable")
  -- due now, and the phone accepts again: the next worker finishes the job
  assert(e:set("t-2", { daily_limit = 500 }))
  server:cli("ZADD", q.k.retry, "XX", 0, server:cli("ZRANGE", q.k.retry, 0, 0))
  run_worker(prefix)
  s = q:summary(id)
  lu.assertEquals({ s.done, s.outcomes.received, s.finished }, { 3, 3, true })
  lu.assertEquals(server:cli("ZCARD", q.k.retry), "0")
  lu.assertEquals(e:get("t-2").notifications[1].message_id, queue.message_id(id, list[2]))
  q:close()
end

-- nginx serving /metrics and a subscribe through the Redis store's cosockets
-- (spec/nginx_lua.lua: a free port, waits until it answers, stopped by PID).
local function start_nginx(prefix)
  local redis_opts = ("{ port = %d, prefix = %q }"):format(server.port, prefix)
  local n = assert(require("nginx_lua").start { server = table.concat({
    "location = /metrics { content_by_lua_block {",
    "  local text, err = require('mpns.metrics').render(" .. redis_opts .. ")",
    "  if not text then ngx.status = 503; ngx.say(err); return end",
    "  ngx.header['Content-Type'] = 'text/plain; version=0.0.4'; ngx.print(text) } }",
    "location = /sub { content_by_lua_block {",
    "  local st = assert(require('mpns.store.redis').new(" .. redis_opts .. "))",
    "  local rec = assert(st:subscribe({ uri = ngx.var.arg_uri, user = 'nx', tags = { 'n' } }, ngx.time()))",
    "  ngx.say(rec.uri, ' ', tostring(package.loaded['nginx.redis'] ~= nil)) } }" }, "\n") })
  return n
end

function TestWorker:test_a_batch_taken_over_while_stalled_is_dropped()
  local q, prefix = open_queue { batch_size = 10 }
  local id = assert(q:push { message = { kind = "toast", text1 = "s" }, audience = { uris = uris("st", 10) } })
  local w = assert(worker.new { port = server.port, prefix = prefix, allowed_hosts = { "127.0.0.1:*" },
    status = "none", visibility = 5 })
  server:cli("XGROUP", "CREATE", q.k.stream, "mpns", "0", "MKSTREAM")
  assert(w:refill())
  local batch = next(w.batches)
  lu.assertNotNil(batch)
  lu.assertEquals(#w.ready, 10)
  -- another worker took it over while this one was stalled
  server:cli("XCLAIM", q.k.stream, "mpns", "other", 0, batch, "JUSTID")
  w.next_beat = 0
  w:heartbeat()
  lu.assertNil(next(w.batches), "no longer ours")
  w:start()
  lu.assertEquals(w.inflight, 0, "its channels are the other worker's to send")
  lu.assertEquals(server:cli("XPENDING", q.k.stream, "mpns", "-", "+", 10, "other"):match("^(%S+)"), batch)
  lu.assertEquals(q:summary(id).done, 0)
  w:close()
  q:close()
end

TestNginx = {}

function TestNginx:test_metrics_and_the_store_through_cosockets()
  local q, prefix = open_queue()
  local id = assert(q:push { message = { kind = "toast", text1 = "m" }, audience = { uris = uris("m", 12) } })
  assert(e:set("m-3", { daily_limit = 0 }))
  run_worker(prefix)
  local ng = start_nginx(prefix)
  local status, text = ng:get("/metrics")
  local _, sub = ng:get("/sub?uri=" .. e.http_prefix .. "nx-1")
  local log = ng:log()
  ng:stop()
  lu.assertEquals(status, 200, "metrics: " .. tostring(text) .. log)
  lu.assertStrContains(text, "# TYPE mpns_sends_total counter\nmpns_sends_total 12\n")
  lu.assertStrContains(text, 'mpns_outcomes_total{outcome="received"} 11\n')
  lu.assertStrContains(text, "mpns_retries_total 1\n")
  lu.assertStrContains(text, "mpns_retries_scheduled 1\n")
  lu.assertStrContains(text, "mpns_queue_batches 0\n")
  lu.assertStrContains(text, 'mpns_queue_pending_batches{group="mpns"} 0\n')
  lu.assertStrContains(text, "mpns_workers 0\n", "a stopped worker leaves the count")
  lu.assertStrContains(text, "mpns_jobs 1\n")
  lu.assertEquals(sub, e.http_prefix .. "nx-1 true\n", "subscribed inside nginx, through cosockets")
  lu.assertEquals(q.store:get(e.http_prefix .. "nx-1").user, "nx", "one registry for nginx and workers")
  lu.assertEquals(q:summary(id).done, 11)
  q:close()
end

local rc = lu.LuaUnit.run()
e:stop()
server:stop()
os.exit(rc == 0)
