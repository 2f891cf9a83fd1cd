--- The Redis store against the store contract (spec/store_contract.lua), plus
-- what only Redis has: concurrent subscribers, a restart, cosocket-free loading.
local lu = require "luaunit"
local contract = require "store_contract"
local rs = require "redis"   -- spec/redis.lua: the test server
local RS = require "mpns.store.redis"

local server = assert(rs.start())
local n = 0

local function open()
  n = n + 1
  return RS.new { port = server.port, prefix = "t" .. n .. ":" }
end

TestRedisStore = contract(open)

TestRedisOnly = {}

function TestRedisOnly:test_unknown_option_and_unreachable_server()
  lu.assertErrorMsgContains("unknown option 'hots'", RS.new, { hots = "x" })
  lu.assertErrorMsgContains("option 'port' expected a number", RS.new, { port = "1" })
  local st, err = RS.new { port = 1 }
  lu.assertNil(st)
  lu.assertStrContains(err, "mpns.store.redis")
end

function TestRedisOnly:test_concurrent_subscribers_end_with_one_record()
  -- 4 processes subscribe the same 50 devices under new URIs at once.
  local U = "http://127.0.0.1/throttledthirdparty/01.00/"
  local code = ([[
    local st = require("mpns.store.redis").new{ port = %d, prefix = "race:" }
    for i = 1, 50 do
      assert(st:subscribe({ uri = "%s" .. i .. "-" .. arg[1], device = "d" .. i, tags = { "t" } }, 1))
      assert(st:subscribe({ uri = "%s" .. i, tags = { "t" } }, 1))
    end
  ]]):format(server.port, U, U)
  local f = assert(io.open("/tmp/mpns-race-" .. server.port .. ".lua", "w"))
  f:write(code); f:close()
  local lua = arg and arg[-1] or "lua5.4"
  local cmds = {}
  for p = 1, 4 do cmds[p] = lua .. " /tmp/mpns-race-" .. server.port .. ".lua " .. p .. " &" end
  os.execute(table.concat(cmds, " ") .. " wait")
  os.remove("/tmp/mpns-race-" .. server.port .. ".lua")
  local st = assert(RS.new { port = server.port, prefix = "race:" })
  lu.assertEquals(st:count({}), 100, "50 plain URIs + one record per device")
  lu.assertEquals(st:count({ tag = "t" }), 100)
  for i = 1, 50 do lu.assertEquals(#st:scan({ device = "d" .. i }, nil, 10), 1) end
  lu.assertEquals(tonumber(server:cli("HLEN", "race:dev")), 50)
  lu.assertEquals(tonumber(server:cli("ZCARD", "race:all")), 100, "no stale index entries")
  st:close()
end

function TestRedisOnly:test_scan_never_uses_keys()
  local st = open()
  for i = 1, 30 do st:subscribe({ uri = "u" .. i, user = "al" }, 1) end
  server:cli("CONFIG", "RESETSTAT")
  local seen, cursor = 0, nil
  repeat
    local page
    page, cursor = st:scan({ user = "al" }, cursor, 7)
    seen = seen + #page
  until not cursor
  lu.assertEquals(seen, 30)
  local stats = server:cli("INFO", "commandstats")
  lu.assertNil(stats:find("cmdstat_keys", 1, true))
  lu.assertNil(stats:find("cmdstat_scan:", 1, true))
  lu.assertStrContains(stats, "cmdstat_zrangebyscore")
end

function TestRedisOnly:test_backend_down_is_nil_err_then_recovers()
  local st = open()
  st:subscribe({ uri = "a" }, 1)
  local other = assert(rs.start())
  local moved = RS.new { port = other.port }
  other:stop()
  local rec, err = moved:get("a")
  lu.assertNil(rec)
  lu.assertStrContains(err, "mpns.store.redis")
  lu.assertNotNil(st:get("a"))
end

function TestRedisOnly:test_a_batch_larger_than_one_script_call_is_written_whole()
  -- 1,000 outcomes of 7 fields: more arguments than LuaJIT unpacks at once.
  local st = open()
  local reg = assert(require("mpns.registry").open { store = st, flush_every = 1000,
    allowed_hosts = { "127.0.0.1:*" } })
  local U = "http://127.0.0.1/throttledthirdparty/01.00/big-"
  assert(reg:subscribe_many((function()
    local l = {}
    for i = 1, 1000 do l[i] = { uri = U .. i } end
    return l
  end)()))
  for i = 1, 1000 do
    lu.assertNotNil(reg:record(U .. i, { outcome = "received", status = 200,
      notification_status = "Received", subscription_status = "Active",
      device_connection_status = "Connected" }, "toast"))
  end
  lu.assertTrue(reg:flush())
  lu.assertEquals(st:count({}), 1000)
  for _, i in ipairs { 1, 500, 1000 } do lu.assertEquals(st:get(U .. i).last_outcome, "received") end
end

-- update_many sends its changes once and then "=" per URI; a run longer
-- than one script call's arguments continues in a second call, which must
-- name the fields again, and an update after the run keeps its own.
function TestRedisOnly:test_a_long_update_many_splits_and_keeps_its_changes()
  local st = open()
  local U, uris = "http://127.0.0.1/throttledthirdparty/01.00/run-", {}
  for i = 1, 2500 do uris[i] = U .. i end
  for i = 1, 2500 do assert(st:subscribe({ uri = uris[i] }, 1)) end
  uris[2501] = U .. "missing"
  lu.assertTrue(st:batch(function()
    assert(st:update(uris[1], { last_outcome = "first", counter = 1 }))
    assert(st:update_many(uris, { last_outcome = "received", last_status = 200, pinned = true }))
    assert(st:update(uris[7], { last_outcome = "after" }))
    return true
  end))
  for _, i in ipairs { 1, 2, 1999, 2000, 2001, 2002, 2500 } do
    local rec = st:get(uris[i])
    lu.assertEquals({ rec.last_outcome, rec.last_status, rec.pinned }, { "received", 200, true }, "channel " .. i)
  end
  lu.assertEquals(st:get(uris[1]).counter, 1)
  lu.assertEquals({ st:get(uris[7]).last_outcome, st:get(uris[7]).last_status }, { "after", 200 })
  lu.assertNil(st:get(uris[2501]))
  lu.assertEquals(st:count({}), 2500)
end

-- Two light threads of one nginx worker share one store and one registry
-- (module-level, as an app keeps them) and interleave at cosocket yields
-- and ngx.sleep(0): neither may see, send or drop the other's writes.
local LIGHT_THREADS = [[
local st = assert(require("mpns.store.redis").new { port = @PORT@, prefix = "lt:" })
local reg = assert(require("mpns.registry").open { store = st, flush_every = 1000,
  allowed_hosts = { "127.0.0.1:*" } })
local U = "http://127.0.0.1/throttledthirdparty/01.00/"
for i = 1, 3 do assert(st:subscribe({ uri = U .. i }, 1)) end
local out = {}
-- A: a batch with one deferred write that yields, then fails (its write is dropped).
local a = ngx.thread.spawn(function()
  return pcall(st.batch, st, function()
    st:update(U .. 1, { counter = 5 })
    ngx.sleep(0)
    error("A gives up")
  end)
end)
-- B, while A's batch is open: a plain write, answered for itself.
out[#out + 1] = "b_update=" .. tostring(st:update(U .. 2, { counter = 7 }))
out[#out + 1] = "b_missing=" .. tostring(st:update(U .. "none", { counter = 1 }))
ngx.thread.wait(a)
-- C flushes the registry (yields in its cosocket write) while D records.
reg:record(U .. 1, { outcome = "received", status = 200 }, "toast")
local c = ngx.thread.spawn(function() return reg:flush() end)
reg:record(U .. 3, { outcome = "dropped", status = 404 }, "toast")
ngx.thread.wait(c)
assert(reg:flush())
for i = 1, 3 do
  local rec = st:get(U .. i)
  out[#out + 1] = i .. "=" .. tostring(rec.counter) .. "," .. tostring(rec.last_outcome)
end
ngx.say(table.concat(out, " "))
]]

function TestRedisOnly:test_light_threads_in_one_nginx_worker_keep_their_own_batches()
  local nginx_lua = require "nginx_lua"
  local ngx_srv = assert(nginx_lua.start { server = "location /t { content_by_lua_block { "
    .. LIGHT_THREADS:gsub("@PORT@", tostring(server.port)) .. " } }" })
  local status, body = ngx_srv:get("/t")
  local log = ngx_srv:log()
  ngx_srv:stop()
  lu.assertEquals(status, 200, log)
  lu.assertEquals(body:gsub("%s+$", ""),
    "b_update=true b_missing=false 1=0,received 2=7,nil 3=0,dropped")
end

local rc = lu.LuaUnit.run()
server:stop()
os.exit(rc == 0)
