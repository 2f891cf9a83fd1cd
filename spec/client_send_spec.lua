-- Delivery, end to end against the emulator: every outcome of the response
-- table through a real send, TLS with the authenticated endpoint, and URIs
-- refused before anything is sent.
local lu = require "luaunit"
local U = require "client_util"
local mpns = U.mpns

local NO_RETRY = { max_attempts = 1 }

-- Sets channel `id` to `state`, sends `msg` once (no retries) and returns
-- the result table.
local function outcome_of(state, msg, opts)
  local e, id = U.emu(), U.id("outcome")
  if state then e:set(id, state) end
  local c = mpns.client(opts or { retry = NO_RETRY })
  local res, err = c:send(msg or U.toast(), U.http(id))
  c:close()
  lu.assertNil(err)
  return res, id
end

TestOutcomes = {}

-- A message keeps only its own bytes and shares its kind's frame, which the
-- sending handle joins back: the emulator must receive msg:body() exactly,
-- for every frame (toast, plain tile, template tiles, a 7.x downgrade) and
-- for a body over 1 KB (sent with "Expect:" removed).
function TestOutcomes:test_body_on_the_wire_is_msg_body()
  local flip = mpns.flip_tile { title = "T & t", back_title = "B", count = 3,
    background_image = "/bg.png" }
  local msgs = {
    mpns.toast { text1 = "Alice, your order 4711 shipped", param = "/P.xaml?a=1&b=2" },
    mpns.tile { title = "Plain", count = 7, id = "/Page.xaml?x=1" },
    flip, flip:for_os("7.1"),
    mpns.iconic_tile { title = "Iconic", wide_content1 = "w1" },
    mpns.cycle_tile { title = "Cycle", cycle_images = { "/1.png", "/2.png" } },
    mpns.toast { text1 = ("x"):rep(1200) },
  }
  local e, c = U.emu(), mpns.client { retry = NO_RETRY }
  for i, m in ipairs(msgs) do
    local id = U.id("wire" .. i)
    local res, err = c:send(m, U.http(id))
    lu.assertNil(err)
    lu.assertEquals(res.outcome, "received")
    lu.assertEquals(e:get(id).notifications[1].xml, m:body(), "message " .. i)
  end
  c:close()
end

function TestOutcomes:test_received()
  local r, id = outcome_of(nil)
  lu.assertEquals(r.outcome, "received")
  lu.assertEquals(r.status, 200)
  lu.assertTrue(r.ok)
  lu.assertEquals(r.notification_status, "Received")
  lu.assertEquals(r.device_connection_status, "Connected")
  lu.assertEquals(r.subscription_status, "Active")
  lu.assertEquals(r.uri, U.http(id))
  lu.assertEquals(r.attempts, 1)
  lu.assertEquals(#U.emu():get(id).notifications, 1)
end

function TestOutcomes:test_received_temp_disconnected()
  local r = outcome_of { device = "TempDisconnected" }
  lu.assertEquals(r.outcome, "received")
  lu.assertEquals(r.device_connection_status, "TempDisconnected")
end

function TestOutcomes:test_queue_full()
  local r = outcome_of { device = "TempDisconnected", queue_limit = 0 }
  lu.assertEquals(r.outcome, "queue_full")
  lu.assertEquals(r.notification_status, "QueueFull")
  lu.assertEquals(r.retry_after, 60)
end

function TestOutcomes:test_suppressed_tile_not_pinned()
  local r = outcome_of({ tile_pinned = false }, mpns.tile { title = "t", count = 3 })
  lu.assertEquals(r.outcome, "suppressed")
  lu.assertFalse(r.ok)
end

function TestOutcomes:test_dropped()
  lu.assertEquals(outcome_of({ drop = true }).outcome, "dropped")
end

function TestOutcomes:test_bad_request_oversized()
  mpns.set_limits { payload = 8192 }
  local ok, big = pcall(mpns.raw, string.rep("x", 4000))
  mpns.set_limits { payload = 3072 }
  assert(ok, big)
  local r = outcome_of(nil, big)
  lu.assertEquals(r.status, 400)
  lu.assertEquals(r.outcome, "bad_request")
end

function TestOutcomes:test_expired()
  local r = outcome_of { subscription = "Expired" }
  lu.assertEquals(r.status, 404)
  lu.assertEquals(r.outcome, "expired")
  lu.assertTrue(r.delete_channel)
end

function TestOutcomes:test_method_not_allowed_injected()
  local r = outcome_of { fail_next = { count = 1, status = 405 } }
  lu.assertEquals(r.outcome, "method_not_allowed")
end

function TestOutcomes:test_unexpected_status()
  local r = outcome_of { fail_next = { count = 1, status = 500 } }
  lu.assertEquals(r.status, 500)
  lu.assertEquals(r.outcome, "unexpected")
end

-- Throttled and inactive come back with retry_after and are never retried,
-- even by a client that retries.
function TestOutcomes:test_throttled_not_retried()
  local r = outcome_of({ daily_limit = 0 }, nil, { retry = { max_attempts = 5, base_delay = 0 } })
  lu.assertEquals(r.status, 406)
  lu.assertEquals(r.outcome, "throttled")
  lu.assertEquals(r.retry_after, 3600)
  lu.assertEquals(r.attempts, 1)
end

function TestOutcomes:test_inactive_not_retried()
  local r = outcome_of({ device = "InActive" }, nil, { retry = { max_attempts = 5, base_delay = 0 } })
  lu.assertEquals(r.status, 412)
  lu.assertEquals(r.outcome, "inactive")
  lu.assertEquals(r.attempts, 1)
end

function TestOutcomes:test_unavailable_after_retries()
  local r = outcome_of({ fail_next = { count = 5, status = 503 } }, nil,
    { retry = { max_attempts = 3, base_delay = 0.01, max_delay = 0.02 } })
  lu.assertEquals(r.outcome, "unavailable")
  lu.assertEquals(r.attempts, 3)
  lu.assertEquals(r.retry_after, 60)
end

function TestOutcomes:test_message_id_echoed()
  local uuid = "8f9a2c3e-1b4d-4e5f-9a6b-7c8d9e0f1a2b"
  local r = outcome_of(nil, mpns.toast { text1 = "a", message_id = uuid })
  lu.assertEquals(r.message_id, uuid)
end

-- One handle (max_connections = 1) sends one message after another, so its
-- header list is relinked to each message's own lines: every notification
-- carries its own X-MessageID, or none, also after a body over 1 KB (an
-- "Expect:" line more) and after the previous message was collected.
function TestOutcomes:test_consecutive_sends_carry_their_own_message_id()
  local e, c = U.emu(), mpns.client { retry = NO_RETRY, max_connections = 1 }
  local ids = { "8f9a2c3e-1b4d-4e5f-9a6b-000000000001", "8f9a2c3e-1b4d-4e5f-9a6b-000000000002", false,
    "8f9a2c3e-1b4d-4e5f-9a6b-000000000004", "8f9a2c3e-1b4d-4e5f-9a6b-000000000005" }
  local id, got = U.id("msgids"), {}
  for i, mid in ipairs(ids) do
    local text = i == 4 and ("x"):rep(1200) or "n" .. i
    c:send_async(mpns.toast { text1 = text, message_id = mid or nil }, U.http(id), function(res, err)
      got[i] = res and res.message_id or err
    end)
  end
  lu.assertTrue(c:run())
  collectgarbage(); collectgarbage()
  local res = c:send(mpns.toast { text1 = "n6", message_id = ids[1] }, U.http(id))
  c:close()
  local notes = e:get(id).notifications
  lu.assertEquals(#notes, 6)
  for i, mid in ipairs(ids) do
    lu.assertEquals(notes[i].message_id, mid or nil, "notification " .. i)
    lu.assertEquals(got[i], mid or nil, "result " .. i)
  end
  lu.assertEquals(notes[6].message_id, ids[1])
  lu.assertEquals(res.message_id, ids[1])
end

function TestOutcomes:test_every_kind_received()
  local msgs = {
    mpns.toast { text1 = "a", text2 = "b", param = "/P.xaml?a=1&b=2" },
    mpns.tile { title = "t", count = 0 },
    mpns.flip_tile { title = "f", wide_back_content = "w" },
    mpns.iconic_tile { title = "i", wide_content1 = "x" },
    mpns.cycle_tile { title = "c", cycle_images = { "/a.png", "/b.png" } },
    mpns.raw "ping",
    mpns.raw(string.rep("x", 2000)),          -- over 1 KB: sent with "Expect:"
  }
  for _, m in ipairs(msgs) do
    local r = outcome_of(nil, m)
    lu.assertEquals(r.outcome, "received", m.kind)
  end
end

-- The async path reports the same table through on_result.
function TestOutcomes:test_async_same_result()
  local id, got, calls = U.id("async"), nil, 0
  local c = mpns.client()
  lu.assertTrue(c:send_async(U.toast(), U.http(id), function(r) got = r; calls = calls + 1 end,
    function() lu.fail("on_error") end))
  lu.assertEquals(calls, 0)          -- nothing runs before the loop does
  lu.assertTrue(c:run())
  lu.assertEquals(calls, 1)
  lu.assertEquals(got.outcome, "received")
  lu.assertEquals(got.uri, U.http(id))
  c:close()
end

-- A ctx (send_async's 5th argument) comes back as the callback's last
-- argument, for a result, a failure with and without on_error, and a close;
-- without one, the callbacks get exactly the arguments they always had.
function TestOutcomes:test_async_ctx_given_back()
  local got = {}
  local function rec(tag) return function(...) got[tag] = { n = select("#", ...), ... } end end
  local c = mpns.client { retry = NO_RETRY }
  local ok_ctx, err_ctx, err2_ctx = {}, { "e" }, "a string ctx"
  c:send_async(U.toast(), U.http(U.id("ctx")), rec("ok"), nil, ok_ctx)
  c:send_async(U.toast(), "gopher://x", rec("fail"), nil, err_ctx)
  c:send_async(U.toast(), "gopher://y", function() lu.fail("on_result") end, rec("on_error"), err2_ctx)
  c:send_async(U.toast(), U.http(U.id("noctx")), rec("plain"))
  c:send_async(U.toast(), "gopher://z", rec("plain_fail"))
  lu.assertTrue(c:run())
  lu.assertEquals(got.ok.n, 3)
  lu.assertEquals(got.ok[1].outcome, "received")
  lu.assertNil(got.ok[2])
  lu.assertIs(got.ok[3], ok_ctx)
  lu.assertEquals({ got.fail.n, got.fail[1], got.fail[2].kind }, { 3, nil, "invalid_uri" })
  lu.assertIs(got.fail[3], err_ctx)
  lu.assertEquals({ got.on_error.n, got.on_error[1].kind, got.on_error[2] }, { 2, "invalid_uri", err2_ctx })
  lu.assertEquals({ got.plain.n, got.plain[1].outcome }, { 1, "received" })
  lu.assertEquals({ got.plain_fail.n, got.plain_fail[2].kind }, { 2, "invalid_uri" })
  local closed_ctx = {}
  c:send_async(U.toast(), U.http(U.id("closed")), function() lu.fail("on_result") end, rec("closed"), closed_ctx)
  c:close()
  lu.assertEquals(got.closed[1].kind, "closed")
  lu.assertIs(got.closed[2], closed_ctx)
end

TestTLS = {}

local function tls_client(cert, key, extra)
  local o = { ca = U.emu().ca, cert = cert, key = key, retry = NO_RETRY }
  for k, v in pairs(extra or {}) do o[k] = v end
  return mpns.client(o)
end

function TestTLS:test_good_certificate()
  local e = U.emu()
  local c = tls_client(e.client_cert, e.client_key)
  local r, err = c:send(U.toast(), U.https(U.id("tls")))
  lu.assertNil(err)
  lu.assertEquals(r.outcome, "received")
  c:close()
end

function TestTLS:test_missing_certificate_unauthorized()
  local c = tls_client(nil, nil)
  local r = assert(c:send(U.toast(), U.https(U.id("tls"))))
  lu.assertEquals(r.status, 401)
  lu.assertEquals(r.outcome, "unauthorized")
  c:close()
end

function TestTLS:test_wrong_certificate_forbidden()
  local e = U.emu()
  local c = tls_client(e.wrong_cert, e.wrong_key)
  local r = assert(c:send(U.toast(), U.https(U.id("tls"))))
  lu.assertEquals(r.status, 403)
  lu.assertEquals(r.outcome, "forbidden")
  c:close()
end

-- A server the CA does not vouch for is a tls error, not an answer.
function TestTLS:test_untrusted_server_is_tls_error()
  local e = U.emu()
  local c = mpns.client { cert = e.client_cert, key = e.client_key, retry = NO_RETRY,
    ca = e.wrong_cert }
  local r, err = c:send(U.toast(), U.https(U.id("tls")))
  lu.assertNil(r)
  lu.assertEquals(err.kind, "tls")
  lu.assertNil(err.retry_after)       -- a certificate does not heal by retrying
  c:close()
end

function TestTLS:test_verify_false_accepts_unknown_server()
  local e = U.emu()
  local c = mpns.client { cert = e.client_cert, key = e.client_key, verify = false,
    retry = NO_RETRY }
  lu.assertEquals(assert(c:send(U.toast(), U.https(U.id("tls")))).outcome, "received")
  c:close()
end

-- A key encrypted with a passphrase: key_password opens it; a wrong one is
-- a tls error before anything is sent.
function TestTLS:test_key_password()
  local e = U.emu()
  local key = os.tmpname()
  assert(os.execute(("openssl pkey -in %s -aes256 -passout pass:s3cret -out %s 2>/dev/null")
    :format(e.client_key, key)))
  local good = tls_client(e.client_cert, key, { key_password = "s3cret" })
  local r, err = good:send(U.toast(), U.https(U.id("pw")))
  good:close()
  local bad = tls_client(e.client_cert, key, { key_password = "wrong" })
  local r2, err2 = bad:send(U.toast(), U.https(U.id("pw")))
  bad:close()
  os.remove(key)
  lu.assertNil(err)
  lu.assertEquals(r.outcome, "received")
  lu.assertNil(r2)
  lu.assertEquals(err2.kind, "tls")
end

-- Connections are reused across channels: one TLS handshake per connection.
function TestTLS:test_connections_reused_across_channels()
  local e = U.emu()
  local c = tls_client(e.client_cert, e.client_key, { max_connections = 4 })
  local n = 0
  for _ = 1, 200 do
    c:send_async(U.toast(), U.https(U.id("reuse")), function(r)
      if r and r.ok then n = n + 1 end
    end)
  end
  c:run()
  lu.assertEquals(n, 200)
  lu.assertTrue(c:stats().connections <= 4, "connections: " .. c:stats().connections)
  c:close()
end

TestInvalidUri = {}

local function refused(uri)
  local c = mpns.client()
  local r, err = c:send(U.toast(), uri)
  local before = U.emu():stats().requests
  c:close()
  lu.assertNil(r)
  lu.assertEquals(err.kind, "invalid_uri")
  lu.assertEquals(err.attempts, 0)
  lu.assertEquals(err.uri, uri)
  return err, before
end

-- An outcome known before any I/O is reported at once: the step that
-- reports it does not then wait out its poll timeout (1 s) with nothing
-- left to wait for.
function TestInvalidUri:test_reported_without_waiting()
  local c, now = mpns.client(), require("socket").gettime
  local t0 = now()
  for _ = 1, 3 do lu.assertEquals(select(2, c:send(U.toast(), "ftp://127.0.0.1/x")).kind, "invalid_uri") end
  local took = now() - t0
  c:close()
  lu.assertTrue(took < 0.5, ("3 refused sends took %.2f s"):format(took))
end

function TestInvalidUri:test_non_http_scheme()
  refused("ftp://127.0.0.1/x")
  refused("file:///etc/passwd")
  refused("127.0.0.1/no-scheme")
  refused("http://")
end

function TestInvalidUri:test_too_long()
  local base = U.http("")
  local ok = base .. string.rep("a", 1024 - #base)
  local c = mpns.client()
  local r = assert(c:send(U.toast(), ok))  -- 1024 is sent (the emulator may refuse it)
  lu.assertIsNumber(r.status)
  c:close()
  local err = refused(ok .. "a")
  lu.assertStrContains(err.message, "1024")
end

function TestInvalidUri:test_control_characters()
  refused(U.http("a\r\nX-Injected: 1"))
  refused(U.http("a\0b"))
  refused(U.http("a b"))
  refused(U.http("a\127"))
end

-- Credentials would go out as "Authorization: Basic ..." in clear text;
-- an empty host ("http:///x") is read by curl as the host "x".
function TestInvalidUri:test_credentials_and_empty_host_never_sent()
  local before = U.emu():stats().requests or 0
  local with_user = U.http("creds"):gsub("^http://", "http://user:secret@")
  lu.assertStrContains(refused(with_user).message, "credentials")
  refused((U.http("creds"):gsub("^http://", "http://user@")))
  refused((U.http("creds"):gsub("^http://", "HTTP://@")))
  refused((U.http("creds"):gsub("^http://", "http://h\\@")))
  lu.assertStrContains(refused("http:///throttledthirdparty/01.00/x").message, "no host")
  refused("https://?x")
  lu.assertEquals(U.emu():stats().requests or 0, before)
  local c = mpns.client()                     -- an '@' in the path is no credential
  lu.assertIsNumber(assert(c:send(U.toast(), U.http("at@sign"))).status)
  c:close()
end

-- Nothing reaches the server, and the error comes from the loop, not
-- from inside send_async.
function TestInvalidUri:test_async_reported_by_loop()
  local c, errs = mpns.client(), {}
  local before = U.emu():stats().requests or 0
  c:send_async(U.toast(), "gopher://x", function() lu.fail("on_result") end,
    function(err) errs[#errs + 1] = err end)
  lu.assertEquals(#errs, 0)
  c:run()
  lu.assertEquals(#errs, 1)
  lu.assertEquals(errs[1].kind, "invalid_uri")
  lu.assertEquals(U.emu():stats().requests or 0, before)
  c:close()
end

function TestInvalidUri:test_error_tostring()
  local err = refused("ftp://x")
  lu.assertStrContains(tostring(err), "invalid_uri")
  lu.assertStrContains(tostring(err), "ftp://x")
end

-- No server listening: a connect error worth retrying.
function TestInvalidUri:test_connect_refused()
  local c = mpns.client { retry = { max_attempts = 2, base_delay = 0.01 } }
  local r, err = c:send(U.toast(), "http://127.0.0.1:1/throttledthirdparty/01.00/x")
  lu.assertNil(r)
  lu.assertEquals(err.kind, "connect")
  lu.assertEquals(err.attempts, 2)
  lu.assertNotNil(err.retry_after)
  c:close()
end

local rc = lu.LuaUnit.run()
U.stop()
os.exit(rc == 0)
