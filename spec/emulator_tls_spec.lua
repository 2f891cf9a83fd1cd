-- The MPNS emulator's authenticated endpoint (mutual TLS with the test CA),
-- which is never throttled and alone may register callbacks; callbacks are
-- real HTTP POSTs to a listener (the emulator's own /control/sinks/<name>).
local lu = require "luaunit"
local emu = require "emu"

local e = assert(emu.start { daily_limit = 2 })

local n = 0
local function fresh() n = n + 1; return "tls-" .. n end

local TOAST = emu.xml("Toast", { { "Text1", "secure" } })

local function push(id, tls, opts)
  opts = opts or {}
  opts.tls = tls
  opts.headers = opts.headers or emu.headers("toast")
  opts.body = opts.body or TOAST
  return e:push(id, opts)
end

local function register(id, uri, body, tls)
  local h = uri and { ["X-CallbackURI"] = uri } or {}
  return e:push(id, { tls = tls, https = tls ~= false, path = "/callback", headers = h, body = body })
end

-- Polls fn until it returns a value (callbacks are sent from a timer).
local function eventually(fn)
  for _ = 1, 50 do
    local v = fn()
    if v then return v end
    os.execute("sleep 0.05")
  end
end

TestTls = {}

function TestTls:test_good_client_certificate_is_received()
  local id = fresh()
  local r = push(id, "good")
  lu.assertEquals(r.status, 200, r.body)
  lu.assertEquals(r.headers["x-notificationstatus"], "Received")
  local note = e:get(id).notifications[1]
  lu.assertEquals(note.endpoint, "https")
  lu.assertStrContains(note.service, "CN=mpns-emulator-test-service")
end

-- Decided: the TLS handshake completes, then HTTP says what was wrong.
function TestTls:test_missing_certificate_is_401()
  local id = fresh()
  local r = push(id, "none")
  lu.assertEquals(r.status, 401, r.body)
  lu.assertStrContains(r.body, "client certificate required")
  lu.assertNil(r.headers["x-notificationstatus"])
  lu.assertNil(e:get(id)) -- never reached the channel
end

function TestTls:test_certificate_from_another_ca_is_403()
  local id = fresh()
  local r = push(id, "wrong")
  lu.assertEquals(r.status, 403, r.body)
  lu.assertStrContains(r.body, "not accepted")
  lu.assertNil(e:get(id))
end

function TestTls:test_certificate_without_client_auth_is_403()
  local r = push(fresh(), "noeku")
  lu.assertEquals(r.status, 403, r.body)
  lu.assertStrContains(r.body, "purpose")
end

function TestTls:test_plain_http_on_the_tls_port_is_refused()
  local r = emu.request { url = "http://127.0.0.1:" .. e.tls_port .. "/unthrottledthirdparty/01.00/x",
    method = "POST", body = "x" }
  lu.assertEquals(r.status, 400)
end

-- The suite's emulator allows 2 a day: plain HTTP is cut off, TLS is not.
function TestTls:test_authenticated_endpoint_is_never_throttled()
  local id = fresh()
  for i = 1, 2 do lu.assertEquals(push(id, false).status, 200, i) end
  lu.assertEquals(push(id, false).status, 406)
  for i = 1, 4 do lu.assertEquals(push(id, "good").status, 200, i) end
  lu.assertEquals(#e:get(id).notifications, 6)
end

TestCallback = {}

function TestCallback:test_registration_needs_the_authenticated_endpoint()
  local r = register(fresh(), e:sink_url("nope"), "b", false)
  lu.assertEquals(r.status, 401, r.body)
end

function TestCallback:test_registration_is_checked()
  local id = fresh()
  local cases = {
    { nil, "x", "X-CallbackURI header required" },
    { "http://example.com/cb", "x", "loopback" },
    { "ftp://127.0.0.1/cb", "x", "loopback" },
    { e:sink_url("big"), ("b"):rep(1025), "over 1024" },
  }
  for _, c in ipairs(cases) do
    local r = register(id, c[1], c[2])
    lu.assertEquals(r.status, 400, r.body)
    lu.assertStrContains(r.body, c[3])
  end
  lu.assertEquals(register(id, e:sink_url("ok"), ("b"):rep(1024)).status, 200)
  local r = register(id, e:sink_url("ok"), "x", "none")
  lu.assertEquals(r.status, 401)
end

-- The last registration wins; InActive fires it once, as a real POST.
function TestCallback:test_inactive_device_gets_its_callback_posted()
  local id, sink = fresh(), "cb-" .. os.time() .. "-" .. math.random(1e6)
  lu.assertEquals(register(id, e:sink_url("first"), "old body").status, 200)
  local r = register(id, e:sink_url(sink), "opaque \1 body")
  lu.assertEquals(r.status, 200, r.body)
  lu.assertEquals(r.headers["x-deviceconnectionstatus"], "Connected")
  lu.assertEquals(e:get(id).callback, { uri = e:sink_url(sink), body = "opaque \1 body" })
  assert(e:set(id, { device = "InActive" }))
  local got = eventually(function()
    local list = e:sink(sink)
    return list and #list > 0 and list
  end)
  lu.assertNotNil(got, "no callback arrived")
  lu.assertEquals(#got, 1)
  lu.assertEquals(got[1].body, "opaque \1 body")
  lu.assertEquals(got[1].content_length, tostring(#"opaque \1 body"))
  lu.assertEquals(#e:sink("first"), 0)
  local log = eventually(function() return e:get(id).callbacks[1] end)
  lu.assertEquals(log.status, 200)
  lu.assertNil(e:get(id).callback) -- used up: the service re-registers
  -- Coming back and going away again sends nothing more.
  assert(e:set(id, { device = "Connected" }))
  assert(e:set(id, { device = "InActive" }))
  os.execute("sleep 0.3")
  lu.assertEquals(#e:sink(sink), 1)
end

function TestCallback:test_other_changes_do_not_fire_the_callback()
  local id, sink = fresh(), "quiet-" .. math.random(1e6)
  lu.assertEquals(register(id, e:sink_url(sink), "b").status, 200)
  assert(e:set(id, { device = "TempDisconnected", toasts = false }))
  os.execute("sleep 0.3")
  lu.assertEquals(#e:sink(sink), 0)
  lu.assertNotNil(e:get(id).callback)
end

function TestCallback:test_unreachable_callback_is_logged()
  local id = fresh()
  -- A port nobody listens on: the emulator's own port minus 1000.
  local uri = "http://127.0.0.1:" .. (e.port - 1000) .. "/cb"
  lu.assertEquals(register(id, uri, "b").status, 200)
  assert(e:set(id, { device = "InActive" }))
  local log = eventually(function() return e:get(id).callbacks[1] end)
  lu.assertNotNil(log)
  lu.assertNil(log.status)
  lu.assertStrContains(log.error, "refused")
  lu.assertEquals(e:stats().callbacks_failed, 1)
end

function teardownSuite() e:stop() end -- luaunit calls it after every test

os.exit(lu.LuaUnit.run() == 0)
