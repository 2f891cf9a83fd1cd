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

-- Client ports of every TCP connection to `port` (the emulator's plain one
-- by default) in /proc/net/tcp (either end, any state: TIME_WAIT counts).
local function connections_to(port)
  local f, ports = assert(io.open("/proc/net/tcp")), {}
  for line in f:lines() do
    local lp, rp = line:match("^%s*%d+: %x+:(%x+) %x+:(%x+)")
    lp, rp = tonumber(lp or "", 16), tonumber(rp or "", 16)
    if rp == port then ports[lp] = true elseif lp == port then ports[rp] = true end
  end
  f:close()
  return ports
end

-- Connections to `port` opened by `fn` (nothing else may talk to it meanwhile).
local function connections_during(fn, port)
  port = port or e.port
  local before, new = connections_to(port), 0
  fn()
  for p in pairs(connections_to(port)) do if not before[p] then new = new + 1 end end
  return new
end

-- Sends n toasts in one request; asserts all were received.
local function send_n(nsends, extra)
  local args = { uri = http(id("ka")), n = nsends, kind = "raw" }
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

-- Framings the emulator never uses, from /fake/* on the test nginx itself;
-- one connection there is the curl request driving /t. Pools of their own
-- so none starts with a connection an earlier test left.
local function fake_connections(kind, nsends)
  local uri = ngx_.url .. "/fake/" .. kind .. "/ch"
  return connections_during(function() send_n(nsends, { uri = uri, pool = kind }) end, ngx_.port)
end

function TestKeepAlive:test_chunked_body_read_and_reused()
  lu.assertEquals(fake_connections("chunked", 4), 2)
end

function TestKeepAlive:test_connection_close_honoured()
  lu.assertEquals(fake_connections("close", 3), 4)
end

function TestKeepAlive:test_body_to_end_of_connection()
  lu.assertEquals(fake_connections("eof", 3), 4)
end

-- As above, but the server keeps the connection open a while after saying
-- it is done with it: only the client's reading of the answer can tell.
function TestKeepAlive:test_connection_close_held_open()
  lu.assertEquals(fake_connections("raw-close", 3), 4)
end

function TestKeepAlive:test_no_length_held_open()
  lu.assertEquals(fake_connections("raw-eof", 3), 4)
end

-- Bytes past the answer: the server is out of step; never reused (each send
-- is answered by its own connection, so all three are received).
function TestKeepAlive:test_bytes_past_the_answer_not_reused()
  lu.assertEquals(fake_connections("raw-extra", 3), 4)
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

-- /t-untrusted trusts another CA: the server fails verification, every
-- time (a handshake that completes at once, one in ten or so here, loses
-- that error in lua-nginx-module 0.10.23: 40 tries catch it). A pool
-- of its own, or it would reuse a connection /t verified with its CA.
function TestTLS:test_untrusted_server()
  local status, body = get("/t-untrusted", { uri = https(id("tls")), n = 40, pool = "untrusted",
    cert = nginx.abs(e.client_cert), key = nginx.abs(e.client_key) })
  lu.assertEquals(status, 200)
  for _, s in ipairs(body.sends) do
    lu.assertNil(s.res)
    lu.assertEquals(s.err.kind, "tls", s.err.message)
    lu.assertNil(s.err.retry_after)
    lu.assertStrContains(s.err.message, "TLS handshake")
  end
  lu.assertEquals(#body.sends, 40)
end

function TestTLS:test_verify_off_accepts_unknown_server()
  local args = { uri = https(id("tls")), ssl_verify = "false", pool = "untrusted",
    cert = nginx.abs(e.client_cert), key = nginx.abs(e.client_key) }
  lu.assertEquals(send(args, "/t-untrusted").outcome, "received")
end

TestErrors = {}

-- Sends once through /t; asserts it failed with `kind`; returns the error.
local function failure(kind, args)
  local r, err, text = send(args)
  lu.assertNil(r)
  lu.assertEquals(err.kind, kind)
  lu.assertEquals(err.uri, args.uri)
  lu.assertStrContains(text, kind)              -- tostring(err) names it
  return err
end

function TestErrors:test_timeout()
  local ch = id("hang")
  assert(e:set(ch, { fail_next = { count = 1, mode = "hang", ms = 3000 } }))
  local status, body, took = get("/t", { uri = http(ch), timeout = 0.3 })
  lu.assertEquals(status, 200)
  local err = body.sends[1].err
  lu.assertEquals(err.kind, "timeout")
  lu.assertTrue(took < 1.5, "the timeout did not apply: " .. took .. " s")
  lu.assertEquals(err.attempts, 1)
  lu.assertEquals(err.retry_after, 1)
  -- the timed-out connection was not pooled: the next send is answered
  lu.assertEquals(send({ uri = http(ch), timeout = 0.3 }).outcome, "received")
end

function TestErrors:test_dropped_connection_is_protocol()
  local ch = id("drop")
  assert(e:set(ch, { fail_next = { count = 1, mode = "close" } }))
  failure("protocol", { uri = http(ch) })
end

function TestErrors:test_connect_refused()
  failure("connect", { uri = "http://127.0.0.1:1/throttledthirdparty/01.00/x" })
end

-- The example config names no resolver, so a host name cannot resolve.
function TestErrors:test_dns()
  failure("dns", { uri = "http://no-such-host.invalid/throttledthirdparty/01.00/x" })
end

-- Refused before any I/O: attempts 0 and the emulator saw nothing.
local function refused(uri)
  local before = assert(e:stats()).requests
  local err = failure("invalid_uri", { uri = uri })
  lu.assertEquals(err.attempts, 0)
  lu.assertEquals(assert(e:stats()).requests, before)
  return err
end

function TestErrors:test_invalid_uri()
  for _, uri in ipairs { "ftp://127.0.0.1/x", "file:///etc/passwd", "127.0.0.1/x", "http://",
      http("a\r\nX-Injected: 1"), http("a\0b"), http("a b"), http("a\127"),
      "http://user:pw@127.0.0.1/x", "http://127.0.0.1:99999/x" } do
    refused(uri)
  end
end

function TestErrors:test_uri_length()
  local base = http("")
  local longest = base .. string.rep("a", 1024 - #base)
  lu.assertIsNumber(send({ uri = longest }).status)           -- 1024 is sent
  lu.assertStrContains(refused(longest .. "a").message, "1024")
end

TestOptions = {}

local function new_error(opts)
  local _, body = get("/t", { new = cjson.encode(opts) })
  return body.error
end

function TestOptions:test_unknown_key_named()
  lu.assertStrContains(new_error { titel = 1 }, "titel")
  lu.assertStrContains(new_error { timeout = 5, keepalive = 1 }, "keepalive")
end

function TestOptions:test_bad_values()
  lu.assertStrContains(new_error { timeout = "soon" }, "timeout")
  lu.assertStrContains(new_error { timeout = 0 }, "timeout")
  lu.assertStrContains(new_error { pool_size = 1.5 }, "pool_size")
  lu.assertStrContains(new_error { cert = nginx.abs(e.client_cert) }, "key")
  lu.assertStrContains(new_error { cert = "/nonexistent.pem", key = "/nonexistent.key" }, "cert")
  lu.assertNil(new_error { timeout = 1, keepalive_timeout = 0, pool_size = 2, ssl_verify = false })
end

TestNonBlocking = {}

-- Runs the labelled curl requests at once (each after its delay); returns
-- label -> { time (curl's own), body }.
local function at_once(reqs)
  local cmd = {}
  for label, r in pairs(reqs) do
    cmd[#cmd + 1] = ("(sleep %s; echo %s $(curl -s --max-time 20 -w ' %%{time_total}' '%s')) &")
      :format(r.after or 0, label, ngx_.url .. "/t?" .. query(r.args))
  end
  cmd[#cmd + 1] = "wait"
  local f = assert(io.popen(table.concat(cmd, " ")))
  local out = {}
  for line in f:lines() do
    local label, body, t = line:match("^(%S+) (.*) ([%d.]+)$")
    if reqs[label] then out[label] = { time = tonumber(t), body = cjson.decode(body) } end
  end
  f:close()
  return out
end

-- One worker: two sends the emulator holds for 1 s each, and a quick one in
-- between, all finish in about the time of one slow send. Each is timed by
-- its own curl (not the batch, whose process starts a loaded machine
-- delays): a blocked worker would make one slow send take 2 s and the
-- quick one at least 0.7 s.
function TestNonBlocking:test_worker_never_blocked()
  local slow1, slow2 = id("slow"), id("slow")
  for _, ch in ipairs { slow1, slow2 } do
    assert(e:set(ch, { fail_next = { count = 1, delay_ms = 1000 } }))
  end
  local out = at_once {
    slow1 = { args = { uri = http(slow1) } }, slow2 = { args = { uri = http(slow2) } },
    quick = { after = 0.3, args = { uri = http(id("quick")) } } }
  for _, label in ipairs { "slow1", "slow2", "quick" } do
    lu.assertEquals(out[label].body.sends[1].res.outcome, "received", label)
  end
  lu.assertTrue(out.slow1.time >= 0.95 and out.slow2.time >= 0.95, "the delay did not apply")
  lu.assertTrue(out.quick.time < 0.6, "quick send waited " .. out.quick.time .. " s")
  local slowest = math.max(out.slow1.time, out.slow2.time)
  lu.assertTrue(slowest < 1.9, "a 1 s send took " .. slowest .. " s")
end

TestOutsideOpenResty = {}

-- This process is plain Lua: the error names what is needed and the way out.
function TestOutsideOpenResty:test_require_says_it_needs_openresty()
  package.loaded["mpns.resty"] = nil
  local ok, err = pcall(require, "mpns.resty")
  lu.assertFalse(ok)
  lu.assertStrContains(err, "needs OpenResty")
  lu.assertStrContains(err, "mpns.client")
end

TestVerifyOffLogged = {}

local VERIFY_OFF = "ssl_verify = false"

local function verify_off_lines()
  local log = assert(io.open(ngx_.prefix .. "/logs/error.log")):read("*a")
  local count = 0
  for _ in log:gmatch(VERIFY_OFF:gsub("%p", "%%%0")) do count = count + 1 end
  return count
end

-- Once per sender made, not per send; nothing for a verifying sender.
function TestVerifyOffLogged:test_once_per_sender()
  local before = verify_off_lines()
  local args = { uri = https(id("tls")), ssl_verify = "false", pool = id("verify-off"), n = 3,
    cert = nginx.abs(e.client_cert), key = nginx.abs(e.client_key) }
  local status, body = get("/t", args)
  lu.assertEquals(status, 200)
  lu.assertEquals(body.sends[3].res.outcome, "received")
  lu.assertEquals(verify_off_lines(), before + 1)
  lu.assertEquals(get("/t", args), 200)                          -- the same sender again
  args.ssl_verify, args.pool = "true", id("verify-on")
  lu.assertEquals(get("/t", args), 200)
  lu.assertEquals(verify_off_lines(), before + 1)
end

function teardownSuite() ngx_:stop(); e:stop() end

os.exit(lu.LuaUnit.run() == 0)
