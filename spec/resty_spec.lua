-- mpns.resty inside nginx, end to end: the example handler pushes a toast
-- to the emulator; outcomes, errors, keep-alive reuse, client certificates,
-- and a worker that is never blocked. The suite drives a real nginx with
-- the curl CLI, so it runs the same under Lua 5.4 and LuaJIT.
local lu = require "luaunit"
local cjson = require "cjson"
local emu = require "emu"
local nginx = require "resty_nginx"

local e = assert(emu.start { daily_limit = 500 })
local ngx_, why = nginx.start(e)
if not ngx_ then e:stop(); error(why) end

local n = 0
local function id(tag) n = n + 1; return (tag or "r") .. "-" .. n end

local function enc(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function query(args)
  local q = {}
  for k, v in pairs(args) do q[#q + 1] = k .. "=" .. enc(v) end
  return table.concat(q, "&")
end

-- GET path?args on the test nginx: status, decoded JSON, seconds taken.
local function get(path, args)
  local r = emu.request { url = ngx_.url .. path .. "?" .. query(args or {}), timeout = 20 }
  local ok, body = pcall(cjson.decode, r.body)
  return r.status, ok and body or r.body, r.time
end

-- Sends through /t; returns the first send's result and error.
local function send(args, path)
  local status, body = get(path or "/t", args)
  lu.assertEquals(status, 200, tostring(body))
  local s = body.sends[1]
  return s.res, s.err, s.text
end

local function http(ch) return e.http_prefix .. ch end
local function https(ch) return e.https_prefix .. ch end

TestExample = {}

function TestExample:test_toast_arrives()
  local ch = id("example")
  local status, r = get("/push", { uri = http(ch), text1 = "Score", text2 = "Home 2 & 1",
    param = "/Page.xaml?a=1&b=2" })
  lu.assertEquals(status, 200)
  lu.assertEquals(r.outcome, "received")
  lu.assertEquals(r.uri, http(ch))
  lu.assertEquals(r.attempts, 1)
  local got = assert(e:get(ch)).notifications
  lu.assertEquals(#got, 1)
  lu.assertEquals(got[1].kind, "toast")
  lu.assertEquals(got[1].class, 2)
  lu.assertEquals(got[1].fields, { Text1 = "Score", Text2 = "Home 2 & 1", Param = "/Page.xaml?a=1&b=2" })
  lu.assertNil(got[1].warnings)
end

function TestExample:test_bad_arguments()
  lu.assertEquals(get("/push", { uri = http(id()) }), 400)           -- nothing to show
  lu.assertEquals(get("/push", { text1 = "x" }), 400)                -- no uri
  local status, r = get("/push", { uri = "ftp://x/y", text1 = "x" })
  lu.assertEquals(status, 502)
  lu.assertEquals(r.error.kind, "invalid_uri")
end

TestOutcomes = {}

-- Sets channel state, sends once through /t, returns the result.
local function outcome_of(state, args)
  local ch = id("outcome")
  if state then assert(e:set(ch, state)) end
  args = args or {}
  args.uri = args.uri or http(ch)
  local r, err = send(args)
  lu.assertNil(err)
  lu.assertEquals(r.uri, args.uri)
  lu.assertEquals(r.attempts, 1)
  return r, ch
end

function TestOutcomes:test_received()
  local uuid = "8f9a2c3e-1b4d-4e5f-9a6b-7c8d9e0f1a2b"
  local r = outcome_of(nil, { message_id = uuid })
  lu.assertEquals(r.status, 200)
  lu.assertTrue(r.ok)
  lu.assertEquals(r.outcome, "received")
  lu.assertEquals(r.notification_status, "Received")
  lu.assertEquals(r.device_connection_status, "Connected")
  lu.assertEquals(r.subscription_status, "Active")
  lu.assertEquals(r.message_id, uuid)
  lu.assertFalse(r.delete_channel)
end

function TestOutcomes:test_expired()
  local r = outcome_of { subscription = "Expired" }
  lu.assertEquals(r.status, 404)
  lu.assertEquals(r.outcome, "expired")
  lu.assertTrue(r.delete_channel)
end

function TestOutcomes:test_inactive()
  local r = outcome_of { device = "InActive" }
  lu.assertEquals(r.status, 412)
  lu.assertEquals(r.outcome, "inactive")
  lu.assertEquals(r.device_connection_status, "InActive")
  lu.assertEquals(r.retry_after, 3600)
end

function TestOutcomes:test_throttled()
  local r = outcome_of { daily_limit = 0 }
  lu.assertEquals(r.status, 406)
  lu.assertEquals(r.outcome, "throttled")
  lu.assertEquals(r.retry_after, 3600)
end

function TestOutcomes:test_unavailable()
  local r = outcome_of { fail_next = { count = 1, status = 503 } }
  lu.assertEquals(r.status, 503)
  lu.assertEquals(r.outcome, "unavailable")
  lu.assertEquals(r.retry_after, 60)
end

function TestOutcomes:test_queue_full_and_suppressed()
  lu.assertEquals(outcome_of({ queue_limit = 0 }).outcome, "queue_full")
  lu.assertEquals(outcome_of({ app_running = false }, { kind = "raw" }).outcome, "suppressed")
end

TestKeepAlive = {}

-- Client ports of every TCP connection to the emulator's plain port in
-- /proc/net/tcp (either end, any state: TIME_WAIT counts), as a set.
local function emu_connections()
  local f, ports = assert(io.open("/proc/net/tcp")), {}
  for line in f:lines() do
    local lp, rp = line:match("^%s*%d+: %x+:(%x+) %x+:(%x+)")
    lp, rp = tonumber(lp or "", 16), tonumber(rp or "", 16)
    if rp == e.port then ports[lp] = true elseif lp == e.port then ports[rp] = true end
  end
  f:close()
  return ports
end

-- Connections opened by `fn` (nothing else may talk to the emulator meanwhile).
local function connections_during(fn)
  local before, new = emu_connections(), 0
  fn()
  for p in pairs(emu_connections()) do if not before[p] then new = new + 1 end end
  return new
end

-- Sends n toasts in one request; asserts all were received.
local function send_n(nsends, extra)
  local args = { uri = http(id("ka")), n = nsends }
  for k, v in pairs(extra or {}) do args[k] = v end
  local status, body = get("/t", args)
  lu.assertEquals(status, 200)
  lu.assertEquals(#body.sends, nsends)
  for _, s in ipairs(body.sends) do lu.assertEquals(s.res and s.res.outcome, "received", s.text) end
end

-- Eight sends over three requests share one pooled connection (at most one
-- new: an earlier test may already have left one in the pool).
function TestKeepAlive:test_connections_reused()
  local new = connections_during(function() send_n(4); send_n(2); send_n(2) end)
  lu.assertTrue(new <= 1, "new connections: " .. new)
end

-- The measurement can tell: without keep-alive every send connects anew
-- (the first may take, then close, the connection an earlier test pooled).
function TestKeepAlive:test_no_keepalive_connects_per_send()
  local new = connections_during(function() send_n(5, { keepalive_timeout = 0 }) end)
  lu.assertTrue(new >= 4, "new connections: " .. new)
end

-- The emulator closes after a 503 with Connection: close? Either way the
-- next send on the same sender must work.
function TestKeepAlive:test_after_error_answer()
  local ch = id("ka")
  assert(e:set(ch, { fail_next = { count = 1, status = 503 } }))
  lu.assertEquals(send({ uri = http(ch) }).outcome, "unavailable")
  lu.assertEquals(send({ uri = http(ch) }).outcome, "received")
end

TestTLS = {}

local CERTS = { good = { e.client_cert, e.client_key }, wrong = { e.wrong_cert, e.wrong_key } }

local function tls_send(which, ch, path, pool)
  local args = { uri = https(ch or id("tls")), pool = pool }
  if CERTS[which] then args.cert, args.key = nginx.abs(CERTS[which][1]), nginx.abs(CERTS[which][2]) end
  return send(args, path)
end

function TestTLS:test_client_certificate()
  local ch = id("tls")
  local r, err = tls_send("good", ch)
  lu.assertNil(err)
  lu.assertEquals(r.outcome, "received")
  local got = assert(e:get(ch)).notifications[1]
  lu.assertEquals(got.endpoint, "https")
  lu.assertStrContains(got.service, "mpns-emulator-test-service")
end

function TestTLS:test_missing_and_wrong_certificate()
  lu.assertEquals(tls_send(nil).outcome, "unauthorized")
  lu.assertEquals(tls_send("wrong").outcome, "forbidden")
end

-- A pooled connection authenticated with one certificate is never handed
-- to a sender with another (or none).
function TestTLS:test_pools_kept_apart()
  lu.assertEquals(tls_send("good").outcome, "received")
  lu.assertEquals(tls_send(nil).status, 401)
  lu.assertEquals(tls_send("wrong").status, 403)
  lu.assertEquals(tls_send("good").outcome, "received")
end

-- /t-untrusted trusts another CA: the server fails verification. A pool
-- of its own, or it would reuse a connection /t verified with its CA.
function TestTLS:test_untrusted_server()
  local r, err = tls_send("good", nil, "/t-untrusted", "untrusted")
  lu.assertNil(r)
  lu.assertEquals(err.kind, "tls")
  lu.assertNil(err.retry_after)
  lu.assertStrContains(err.message, "TLS handshake")
end

function TestTLS:test_verify_off_accepts_unknown_server()
  local args = { uri = https(id("tls")), ssl_verify = "false", pool = "untrusted",
    cert = nginx.abs(e.client_cert), key = nginx.abs(e.client_key) }
  lu.assertEquals(send(args, "/t-untrusted").outcome, "received")
end

function teardownSuite() ngx_:stop(); e:stop() end

os.exit(lu.LuaUnit.run() == 0)
