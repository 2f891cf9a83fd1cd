-- The MPNS emulator's injected faults (fail_next) and its life cycle: the
-- spec helper and emulator/run start, answer and stop cleanly.
local lu = require "luaunit"
local emu = require "emu"

local e = assert(emu.start {})

local n = 0
local function fresh() n = n + 1; return "fault-" .. n end

local TOAST = emu.xml("Toast", { { "Text1", "f" } })
local function push(id, opts)
  opts = opts or {}
  opts.headers, opts.body = emu.headers("toast"), TOAST
  return e:push(id, opts)
end

local function fail_next(id, f) return assert(e:set(id, { fail_next = f })) end

TestFaults = {}

function TestFaults:test_status_fault_for_count_requests_then_normal()
  local id = fresh()
  fail_next(id, { count = 2, status = 503 })
  for i = 1, 2 do
    local r = push(id)
    lu.assertEquals(r.status, 503, i)
    lu.assertNil(r.headers["x-notificationstatus"])
  end
  lu.assertEquals(e:get(id).fail_next, nil)
  local r = push(id)
  lu.assertEquals({ r.status, r.headers["x-notificationstatus"] }, { 200, "Received" })
  lu.assertEquals(#e:get(id).notifications, 1) -- failed pushes never reached the phone
end

function TestFaults:test_any_status_can_be_injected()
  local id = fresh()
  fail_next(id, { count = 1, status = 500 })
  lu.assertEquals(push(id).status, 500)
  lu.assertEquals(push(id).status, 200)
end

function TestFaults:test_remaining_count_is_visible()
  local id = fresh()
  fail_next(id, { count = 3, status = 503 })
  push(id)
  lu.assertEquals(e:get(id).fail_next, { count = 2, status = 503 })
end

function TestFaults:test_close_drops_the_connection_without_an_answer()
  local id = fresh()
  fail_next(id, { count = 1, mode = "close" })
  local r = push(id)
  lu.assertNil(r.status)
  lu.assertEquals(r.exit, 52) -- curl: empty reply from server
  lu.assertEquals(push(id).status, 200)
end

function TestFaults:test_hang_outlasts_a_client_timeout()
  local id = fresh()
  fail_next(id, { count = 1, mode = "hang", ms = 1500 })
  local r = push(id, { timeout = 0.4 })
  lu.assertNil(r.status)
  lu.assertEquals(r.exit, 28) -- curl: timed out
end

function TestFaults:test_hang_answers_nothing_for_ms_then_closes()
  local id = fresh()
  fail_next(id, { count = 1, mode = "hang", ms = 600 })
  local r = push(id)
  lu.assertEquals(r.exit, 52)
  lu.assertTrue(r.time >= 0.6, tostring(r.time))
  r = push(id)
  lu.assertEquals(r.status, 200)
  lu.assertTrue(r.time < 0.5, tostring(r.time))
end

function TestFaults:test_delay_then_a_normal_answer()
  local id = fresh()
  fail_next(id, { count = 1, delay_ms = 700 })
  local r = push(id)
  lu.assertEquals({ r.status, r.headers["x-notificationstatus"] }, { 200, "Received" })
  lu.assertTrue(r.time >= 0.7, tostring(r.time))
  lu.assertEquals(#e:get(id).notifications, 1)
end

function TestFaults:test_faults_belong_to_one_channel()
  local id, other = fresh(), fresh()
  fail_next(id, { count = 1, status = 503 })
  lu.assertEquals(push(other).status, 200)
  lu.assertEquals(push(id).status, 503)
end

function TestFaults:test_faults_apply_on_the_tls_endpoint_too()
  local id = fresh()
  fail_next(id, { count = 1, status = 503 })
  lu.assertEquals(push(id, { tls = "good" }).status, 503)
  lu.assertEquals(push(id, { tls = "good" }).status, 200)
end

function TestFaults:test_fault_statuses_are_counted()
  assert(e:reset())
  local id = fresh()
  fail_next(id, { count = 2, status = 503 })
  push(id); push(id)
  fail_next(id, { count = 1, mode = "close" })
  push(id)
  local st = e:stats()
  lu.assertEquals(st.http, { ["503"] = 2, ["444"] = 1 })
end

TestLifecycle = {}

local function port_answers(port)
  return emu.request { url = "http://127.0.0.1:" .. port .. "/control/config", timeout = 2 }.status
end

function TestLifecycle:test_two_emulators_run_at_once_with_their_own_state()
  local e2 = assert(emu.start {})
  lu.assertNotEquals(e2.port, e.port)
  lu.assertNotEquals(e2.prefix, e.prefix)
  local id = fresh()
  e2:push(id, { headers = emu.headers("raw"), body = "x" })
  local mine = e:get(id)
  local theirs = e2:get(id)
  e2:stop()
  lu.assertNil(mine)
  lu.assertEquals(#theirs.notifications, 1)
end

function TestLifecycle:test_stop_kills_nginx_removes_the_prefix_and_is_idempotent()
  local e2 = assert(emu.start {})
  local pid, prefix, port = e2.pid, e2.prefix, e2.port
  lu.assertEquals(port_answers(port), 200)
  lu.assertTrue(e2:stop())
  lu.assertTrue(e2:stop())
  lu.assertNil(port_answers(port))
  lu.assertNil(io.open(prefix .. "/conf/nginx.conf"))
  local stat = io.open("/proc/" .. pid .. "/stat")
  local state = stat and stat:read("*a"):match("^%d+ %b() (%a)")
  if stat then stat:close() end
  lu.assertTrue(state == nil or state == "Z", tostring(state))
end

function TestLifecycle:test_unknown_start_option_is_an_error_naming_it()
  local ok, err = pcall(emu.start, { dayly_limit = 3 })
  lu.assertFalse(ok)
  lu.assertStrContains(err, "dayly_limit")
end

-- What `make emulator` runs: foreground, prints the URIs, stops on SIGTERM.
function TestLifecycle:test_emulator_run_in_the_foreground()
  local port = e.port + 2
  local out = os.tmpname()
  local f = assert(io.popen("emulator/run " .. port .. " " .. (port + 1) .. " >" .. out
    .. " 2>&1 & echo $!"))
  local pid = f:read("*l")
  f:close()
  local text = ""
  for _ = 1, 100 do
    local h = io.open(out)
    text = h and h:read("*a") or ""
    if h then h:close() end
    if text:find("control:", 1, true) then break end
    os.execute("sleep 0.05")
  end
  local status = port_answers(port)
  os.execute("kill -TERM " .. pid)
  for _ = 1, 100 do
    local h = io.open(out)
    text = h:read("*a")
    h:close()
    if text:find("emulator stopped", 1, true) then break end
    os.execute("sleep 0.05")
  end
  os.remove(out)
  lu.assertStrContains(text, "http://127.0.0.1:" .. port .. "/throttledthirdparty/01.00/")
  lu.assertStrContains(text, "https://127.0.0.1:" .. (port + 1) .. "/unthrottledthirdparty/01.00/")
  lu.assertEquals(status, 200)
  lu.assertStrContains(text, "emulator stopped")
  lu.assertNil(port_answers(port))
  local prefix = text:match("prefix:%s+(%S+)")
  lu.assertNil(io.open(prefix .. "/conf/nginx.conf"))
end

function teardownSuite() e:stop() end -- luaunit calls it after every test

os.exit(lu.LuaUnit.run() == 0)
