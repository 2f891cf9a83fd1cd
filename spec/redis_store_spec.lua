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

local rc = lu.LuaUnit.run()
server:stop()
os.exit(rc == 0)
