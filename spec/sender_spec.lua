-- mpns.sender.client against the emulator: the sender interface the
-- patterns rely on (doc/push-kit.md): one done per send, never from inside
-- send, sends from callbacks, wait, after, callback errors, callback
-- registration. The resty sender is tested inside nginx by spec/app_spec.lua.
local lu = require "luaunit"
local mpns = require "mpns"
local emu = require "emu"

local e = assert(emu.start {})
local toast = mpns.toast { text1 = "s" }

local function new(opts)
  return mpns.sender.new("client", { max_connections = 4, retry = { max_attempts = 1 } }, opts)
end

TestSender = {}

function TestSender:test_one_done_per_send_later_never_inside()
  local s, calls, inside = new(), {}, false
  for i = 1, 5 do
    inside = true
    s:send(toast, e.http_prefix .. "snd-" .. i, function(res, err)
      lu.assertFalse(inside)
      calls[#calls + 1] = res and res.outcome or err.kind
    end)
    inside = false
  end
  lu.assertEquals(#calls, 0)
  s:wait()
  lu.assertEquals(calls, { "received", "received", "received", "received", "received" })
  s:wait()                                             -- nothing pending: returns
  lu.assertEquals(#calls, 5)
end

function TestSender:test_wait_n_leaves_at_most_n_pending()
  local s, done = new(), 0
  for i = 1, 10 do s:send(toast, e.http_prefix .. "wn-" .. i, function() done = done + 1 end) end
  s:wait(4)
  lu.assertTrue(done >= 6, "done " .. done)
  lu.assertTrue(s.client:pending() <= 4)
  s:wait()
  lu.assertEquals(done, 10)
end

function TestSender:test_failure_is_done_nil_err()
  local s, got = new(), nil
  s:send(toast, "ftp://x/y", function(res, err) got = { res, err } end)
  s:wait()
  lu.assertNil(got[1])
  lu.assertEquals(got[2].kind, "invalid_uri")
end

-- send's ctx comes back as done's third argument, result or failure.
function TestSender:test_ctx_given_back_to_done()
  local s, got, a, b = new(), {}, {}, {}
  s:send(toast, e.http_prefix .. "ctx", function(res, err, ctx) got[ctx] = res and res.outcome or err.kind end, a)
  s:send(toast, "ftp://x/y", function(res, err, ctx) got[ctx] = res and res.outcome or err.kind end, b)
  s:wait()
  lu.assertEquals(got[a], "received")
  lu.assertEquals(got[b], "invalid_uri")
end

function TestSender:test_sends_from_callbacks_and_after_are_waited_for()
  local s, order = new(), {}
  s:send(toast, e.http_prefix .. "chain", function()
    order[#order + 1] = "first"
    s:send(toast, e.http_prefix .. "chain", function() order[#order + 1] = "second" end)
    s:after(0.05, function() order[#order + 1] = "later" end)
  end)
  s:wait()
  lu.assertEquals(order, { "first", "second", "later" })
  lu.assertEquals(#e:get("chain").notifications, 2)
end

function TestSender:test_callback_errors()
  local s = new()
  s:send(toast, e.http_prefix .. "boom", function() error("boom in done") end)
  lu.assertErrorMsgContains("boom in done", s.wait, s)
  local seen
  local quiet = new { on_callback_error = function(err) seen = err end }
  quiet:send(toast, e.http_prefix .. "boom", function() error("kept") end)
  quiet:wait()
  lu.assertStrContains(tostring(seen), "kept")
end

function TestSender:test_wait_from_a_done_raises()
  local s = new()
  s:send(toast, e.http_prefix .. "nested", function() s:wait() end)
  lu.assertErrorMsgContains("loop already running", s.wait, s)
end

function TestSender:test_misuse_raises()
  lu.assertErrorMsgContains("unknown sender 'curl'", mpns.sender.new, "curl")
  lu.assertErrorMsgContains("unknown option 'concurency'", new, { concurency = 2 })
  local s = new()
  lu.assertErrorMsgContains("needs a done function", s.send, s, toast, e.http_prefix .. "x")
end

function TestSender:test_callback_registration_is_checked_and_sent_over_libcurl()
  local s, got = new(), nil
  local uri = e.https_prefix .. "cb"
  lu.assertErrorMsgContains("over the 1024-byte limit", s.register_callback, s, uri,
    "http://127.0.0.1/cb", string.rep("x", 1025))
  lu.assertErrorMsgContains("callback URI must be an http(s) URL", s.register_callback, s, uri,
    "http://127.0.0.1/a b")
  -- an authenticated service: the client carries the emulator's certificate
  s = mpns.sender.new("client", { ca = e.ca, cert = e.client_cert, key = e.client_key,
    retry = { max_attempts = 1 } })
  s:register_callback(uri, e:sink_url("cb"), "data", function(res, err) got = { res, err } end)
  lu.assertNil(got)
  s:wait()
  lu.assertNil(got[2])
  lu.assertTrue(got[1].ok, tostring(got[1]) .. " " .. tostring(got[1].status))
  lu.assertEquals(got[1].outcome, "registered")
  lu.assertEquals(e:get("cb").callback, { uri = e:sink_url("cb"), body = "data" })
end

-- One callback-URI rule for the sender and the registry: the same URIs
-- refused (an 8-bit byte, a space, another scheme, over 1 KB) and allowed.
function TestSender:test_callback_uri_rule_is_the_registrys_too()
  local reg = mpns.registry.open { store = "memory", allowed_hosts = { "127.0.0.1:*" } }
  local ch = e.http_prefix .. "cbrule"
  assert(reg:subscribe { uri = ch })
  local s = new()
  for _, bad in ipairs { "http://127.0.0.1/caf\195\169", "http://127.0.0.1/a b", "ftp://127.0.0.1/x",
      "http://127.0.0.1/" .. string.rep("x", 1024), "http://?x", "http://u:p@127.0.0.1/cb" } do
    local sender_ok = pcall(s.register_callback, s, ch, bad, nil, function() end)
    local registry_ok = pcall(reg.set_callback, reg, ch, bad)
    lu.assertEquals({ sender_ok, registry_ok }, { false, false }, bad)
  end
  for _, good in ipairs { "HTTPS://127.0.0.1/cb", "http://127.0.0.1/cb?x=%20" } do
    lu.assertNil(mpns.sender.callback_uri_error(good))
    lu.assertTrue(reg:set_callback(ch, good))
  end
  reg:close()
end

local rc = lu.LuaUnit.run()
e:stop()
os.exit(rc == 0)
