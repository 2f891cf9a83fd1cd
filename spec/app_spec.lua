-- The phone-facing service (examples/pushkit/) on real nginx, against the
-- emulator: POST /subscribe and its refusals, the admin endpoints' guard,
-- every pattern through the resty sender (mpns.sender.resty), the tile
-- images, callback registration, and sends that overlap without blocking
-- the worker. Driven with the curl CLI, so it runs the same under both VMs.
local lu = require "luaunit"
local cjson = require "cjson"
local emu = require "emu"
local pushkit = require "pushkit_nginx"

local SECRET = "s3cret-" .. os.time()
local e = assert(emu.start {})
local app, why = pushkit.start(e, { secret = SECRET, lua_path = os.getenv("PUSHKIT_LUA_PATH"),
  store = os.getenv("PUSHKIT_STORE") })
if not app then e:stop(); error(why) end

local n = 0
local function id(tag) n = n + 1; return (tag or "a") .. "-" .. n .. "-" .. os.time() end

local function call(method, url, body, headers)
  local r = emu.request { method = method, url = url, timeout = 20, headers = headers,
    body = body and (type(body) == "string" and body or cjson.encode(body)) }
  local ok, decoded = pcall(cjson.decode, r.body)
  return r.status, ok and decoded or r.body, r
end

local function subscribe(t) return call("POST", app.url .. "/subscribe", t) end

local function admin(action, body, secret, base)
  return call("POST", (base or app.url) .. "/admin/" .. action, body or {},
    { ["X-Admin-Secret"] = secret or SECRET, ["Content-Type"] = "application/json" })
end

local function got(ch) return (e:get(ch) or {}).notifications or {} end

-- Waits (up to 10 s) for what a timer after the answer does.
local function eventually(fn)
  for _ = 1, 200 do
    if fn() then return true end
    os.execute("sleep 0.05")
  end
  return fn()
end

-- A phone subscribed as `user`: healthy while the on-subscribe pattern
-- sends it the stored tile (waited for, so tests never race it), then put
-- in `state`.
local function phone(user, state, extra)
  local ch = id(user)
  local t = { user = user, uri = e.http_prefix .. ch, os = "8.0" }
  for k, v in pairs(extra or {}) do t[k] = v end
  local status, r = subscribe(t)
  lu.assertEquals(status, 200, cjson.encode(r))
  assert(eventually(function() return #got(ch) == 1 end), "no on-subscribe tile for " .. ch)
  if state then assert(e:set(ch, state)) end
  return ch, t.uri
end
local function kinds(ch)
  local out = {}
  for i, x in ipairs(got(ch)) do out[i] = x.kind end
  return out
end

TestSubscribe = {}

function TestSubscribe:test_new_then_duplicate()
  local uri = e.http_prefix .. id("dup")
  local status, r = subscribe { user = "u1", uri = uri, os = "7.1", device = "d-" .. n, tags = { "x" } }
  lu.assertEquals(status, 200)
  lu.assertTrue(r.new)
  status, r = subscribe { user = "u1", uri = uri, os = "7.1" }
  lu.assertEquals(status, 200)
  lu.assertFalse(r.new)
end

function TestSubscribe:test_bad_input_is_400_with_a_reason()
  local cases = {
    { "not json", "not a JSON object" },
    { {}, "field 'uri' is required" },
    { { uri = e.http_prefix .. "x", colour = "red" }, "unknown field 'colour'" },
    { { uri = 7 }, "field 'uri' expected a string" },
    { { uri = e.http_prefix .. "x", user = { "a" } }, "field 'user' expected a string" },
    { { uri = e.http_prefix .. "x", tags = { "a", 5 } }, "tags[2]" },
    { { uri = "http://evil.example.com/x" }, "host 'evil.example.com' is not allowed" },
    { { uri = "file:///etc/passwd" }, "http:// or https://" },
    { { uri = e.http_prefix .. "x", os = "9.0" }, "os" },
  }
  for _, c in ipairs(cases) do
    local status, r = subscribe(c[1])
    lu.assertEquals(status, 400, cjson.encode(c[1]))
    lu.assertStrContains(r.error, c[2])
  end
  lu.assertEquals((call("GET", app.url .. "/subscribe")), 405)
end

function TestSubscribe:test_subscribe_asks_an_unpinned_phone_to_pin()
  local pinned = phone("u2")
  lu.assertEquals(got(pinned)[1].fields, { Title = "Push kit", Count = "0" })
  local unpinned = id("u2")
  assert(e:set(unpinned, { tile_pinned = false }))
  lu.assertEquals((subscribe { user = "u2", uri = e.http_prefix .. unpinned }), 200)
  lu.assertTrue(eventually(function() return #got(unpinned) == 1 end))
  lu.assertEquals(kinds(unpinned), { "raw" })
end

-- A phone aiming the service at another port of an allowed host (Redis).
function TestSubscribe:test_other_ports_of_an_allowed_host_are_400()
  local status, r = subscribe { uri = "http://127.0.0.1:6379/x" }
  lu.assertEquals(status, 400)
  lu.assertStrContains(r.error, "host '127.0.0.1:6379' is not allowed")
end

-- Another writer holding the SQLite lock: 503 after the short busy_timeout,
-- not a worker blocked for SQLite's default seconds.
function TestSubscribe:test_a_locked_registry_is_a_quick_503()
  if (os.getenv("PUSHKIT_STORE") or "sqlite") ~= "sqlite" then lu.skip("SQLite's lock only") end
  local other = assert(require("mpns.store.sqlite").new { path = app.prefix .. "/push.db" })
  local status, r, took
  local ok, err = pcall(other.batch, other, function()
    other:subscribe({ uri = e.http_prefix .. id("holder") }, 1)   -- holds the write lock
    local t0 = os.time()
    status, r = subscribe { user = "lk", uri = e.http_prefix .. id("locked") }
    took = os.time() - t0
  end)
  other:close()
  assert(ok, err)
  lu.assertEquals(status, 503, cjson.encode(r))
  lu.assertStrContains(r.error, "locked")
  lu.assertTrue(took <= 2, "the subscribe waited " .. took .. " s for the lock")
  lu.assertEquals((subscribe { user = "lk", uri = e.http_prefix .. id("after") }), 200)
end

-- A registry that cannot open: 503 naming why, on /subscribe, admin and the tiles.
function TestSubscribe:test_an_unopenable_registry_is_503_with_the_reason()
  local bad = assert(pushkit.start(e, { secret = SECRET, store = "sqlite", path = "/nonexistent/dir/push.db" }))
  local ok, err = pcall(function()
    local status, r = call("POST", bad.url .. "/subscribe", { uri = e.http_prefix .. id("nodb") })
    lu.assertEquals(status, 503, cjson.encode(r))
    lu.assertStrContains(r.error, "registry unavailable")
    lu.assertStrContains(r.error, "mpns.store.sqlite")
    status, r = admin("counter_bump", {}, nil, bad.url)
    lu.assertEquals(status, 503, cjson.encode(r))
    lu.assertStrContains(r.error, "registry unavailable")
    for _, tile in ipairs { "/tiles/schedule.png", "/tiles/" .. id("nodb") .. ".png" } do
      status, r = call("GET", bad.url .. tile)
      lu.assertEquals(status, 503, tile)
      lu.assertStrContains(r.error, "registry unavailable: mpns.store.sqlite")
    end
  end)
  bad:stop()
  if not ok then error(err, 0) end
end

TestAdminGuard = {}

function TestAdminGuard:test_secret_and_loopback_are_both_required()
  for _, wrong in ipairs({ "wrong", SECRET .. "x", SECRET:sub(1, -2), SECRET:upper() }) do
    local status, r = admin("counter_bump", {}, wrong)
    lu.assertEquals(status, 403, wrong)
    lu.assertStrContains(r.error, "X-Admin-Secret")
  end
  lu.assertEquals((admin("counter_bump", { filter = { user = "nobody-here" } })), 200)
  local status = call("POST", app.url .. "/admin/counter_bump", "{}")
  lu.assertEquals(status, 403)
  -- The right secret from another address (127.0.0.2): nginx denies it.
  local f = assert(io.popen(("curl -s -o /dev/null -w '%%{http_code}' --interface 127.0.0.2 -X POST "
    .. "-H 'X-Admin-Secret: %s' -d '{}' %s/admin/counter_bump"):format(SECRET, app.url)))
  local code = f:read("*a")
  f:close()
  lu.assertEquals(code, "403")
  lu.assertEquals((admin("nope", {})), 404)
end

function TestAdminGuard:test_no_uri_reaches_a_sender_without_the_registry()
  local status, r = admin("callback", { uri = "http://evil.example.com/x", callback_uri = "http://127.0.0.1/cb" })
  lu.assertEquals(status, 400)
  lu.assertStrContains(r.error, "no channel http://evil.example.com/x")
end

TestPatterns = {}

function TestPatterns:test_one_time_mix_with_skip_and_bad_message()
  local a = phone("u3")
  local old = phone("u3", nil, { os = "7.0" })
  local status, r = admin("one_time", { filter = { user = "u3" }, messages = {
    { kind = "toast", text1 = "Hi", param = "/P.xaml" }, { kind = "toast", param = "/Only.xaml" },
    { kind = "raw", data = "r" } } })
  lu.assertEquals(status, 200, cjson.encode(r))
  lu.assertEquals(r.counts, { received = 5 })
  lu.assertEquals(r.skipped, 1)
  lu.assertStrContains(r.summary, "one_time.send: 2 channels, 5 sent (received 5), 1 skipped")
  lu.assertEquals(kinds(a), { "tile", "toast", "toast", "raw" })   -- the on-subscribe tile first
  lu.assertEquals(got(old)[2].fields, { Text1 = "Hi" })             -- 7.0: no Param
  status, r = admin("one_time", { messages = { { kind = "tile", count = 100 } } })
  lu.assertEquals(status, 400)
  lu.assertStrContains(r.error, "messages[1]: mpns.tile: field 'count' expected an integer from 0 to 99")
end

function TestPatterns:test_counter_branches_and_logon()
  local running = phone("u4")
  local closed = phone("u4", { app_running = false })
  local away = phone("u4", { device = "TempDisconnected", app_running = false })
  local status, r = admin("counter_bump", { filter = { user = "u4" } })
  lu.assertEquals(status, 200, cjson.encode(r))
  lu.assertEquals(r.counts, { received = 2, suppressed = 2 })       -- 3 probes, 1 tile
  lu.assertEquals(kinds(running), { "tile", "raw" })
  lu.assertEquals(kinds(closed), { "tile", "tile" })
  lu.assertEquals(got(closed)[2].fields.Count, "1")
  lu.assertEquals(got(closed)[2].fields.Title, "Push kit")          -- the stored tile's title
  lu.assertEquals(kinds(away), { "tile" })                         -- the on-subscribe one
  status, r = admin("counter_logon", { user = "u4" })
  lu.assertEquals(status, 200)
  lu.assertEquals(got(closed)[3].fields.Count, "0")
end

function TestPatterns:test_ask_to_pin_update()
  local pinned = phone("u5")
  local unpinned = phone("u5", { tile_pinned = false })
  local status, r = admin("ask_to_pin", { fields = { count = 7 }, filter = { user = "u5" } })
  lu.assertEquals(status, 200, cjson.encode(r))
  lu.assertEquals(r.counts, { received = 2, suppressed = 1 })
  lu.assertEquals(got(pinned)[2].fields, { Title = "Push kit", Count = "7" })
  lu.assertEquals(kinds(unpinned), { "tile", "raw" })
end

function TestPatterns:test_custom_image_and_schedule_serve_their_png()
  local ch = phone("u6")
  local status, r = admin("custom_image", { fields = { title = "Art" }, filter = { user = "u6" } })
  lu.assertEquals(status, 200, cjson.encode(r))
  local url = got(ch)[2].fields.BackgroundImage
  lu.assertEquals(url, app.url .. "/tiles/" .. ch .. ".png")
  local png = assert(io.open(pushkit.ROOT .. "/examples/pushkit/tile.png", "rb")):read("*a")
  local s, body, raw = call("GET", url)
  lu.assertEquals(s, 200)
  lu.assertEquals(raw.headers["content-type"], "image/png")
  lu.assertEquals(body:sub(1, 8), "\137PNG\r\n\26\n")
  -- the renderer draws it when built (the file is only the fallback)
  if pcall(require, "mpns.image") then lu.assertNotEquals(body, png) else lu.assertEquals(body, png) end
  status = admin("schedule_test", { filter = { user = "u6" } })
  lu.assertEquals(status, 200)
  lu.assertEquals(got(ch)[3].fields.BackgroundImage, app.url .. "/tiles/schedule.png")
  lu.assertEquals((call("GET", app.url .. "/tiles/schedule.png")), 200)
  lu.assertEquals((call("GET", app.url .. "/tiles/../x.png")), 404)
end

function TestPatterns:test_callback_registration_over_tls()
  local ch = id("cb")
  local uri = e.https_prefix .. ch
  lu.assertEquals((subscribe { user = "u7", uri = uri }), 200)
  local status, r = admin("callback", { uri = uri, callback_uri = e:sink_url("pk-" .. ch), data = "wake" })
  lu.assertEquals(status, 200, cjson.encode(r))
  lu.assertEquals(r.outcome, "registered")
  lu.assertEquals(e:get(ch).callback.uri, e:sink_url("pk-" .. ch))
  assert(e:set(ch, { device = "InActive" }))
  lu.assertTrue(eventually(function()
    local sink = e:sink("pk-" .. ch)
    return sink and #sink > 0
  end))
  local plain = phone("u7")                                 -- the plain port refuses callbacks
  status, r = admin("callback", { uri = e.http_prefix .. plain, callback_uri = "http://127.0.0.1:9/cb" })
  lu.assertEquals(status, 200)
  lu.assertEquals(r.outcome, "unauthorized")
  status, r = admin("callback", { uri = uri, callback_uri = "http://127.0.0.1:9/cb", data = ("x"):rep(1025) })
  lu.assertEquals(status, 400)
  lu.assertStrContains(r.error, "over the 1024-byte limit")
end

local function read_all(path)
  local f = io.open(path)
  if not f then return nil end
  local t = f:read("*a")
  f:close()
  return t
end

function TestPatterns:test_sends_overlap_and_the_worker_stays_free()
  local DELAY = 2   -- seconds each of the 10 sends is held: 20 s one after another
  local chans = {}
  for i = 1, 10 do chans[i] = phone("u8") end
  for _, ch in ipairs(chans) do assert(e:set(ch, { fail_next = { count = 1, delay_ms = DELAY * 1000 } })) end
  -- The fan-out and a /subscribe in parallel: the subscribe answers at once.
  local out = os.tmpname()
  os.execute(("curl -s -o %s -w '%%{time_total}' -X POST -H 'X-Admin-Secret: %s' -d '%s' %s/admin/one_time > %s.t &")
    :format(out, SECRET, '{"filter":{"user":"u8"},"messages":[{"kind":"raw","data":"x"}]}', app.url, out))
  -- the emulator consumed a fault: a send is being held right now
  lu.assertTrue(eventually(function() return (e:get(chans[1]) or {}).fail_next == nil end), "no send arrived")
  local _, _, sub = subscribe { user = "u9", uri = e.http_prefix .. id("free") }
  local fanout_done = (read_all(out .. ".t") or "") ~= ""
  eventually(function() return (read_all(out .. ".t") or "") ~= "" end)
  local total = tonumber(read_all(out .. ".t"))
  local body = cjson.decode(assert(read_all(out)))
  os.remove(out); os.remove(out .. ".t")
  lu.assertEquals(body.counts, { received = 10 })
  lu.assertFalse(fanout_done, "the fan-out ended before the subscribe: nothing overlapped")
  lu.assertTrue(total < 4 * DELAY, "10 sends of " .. DELAY .. " s took " .. total .. " s: not concurrent")
  lu.assertTrue(sub.time < DELAY * 0.75, "a subscribe during the fan-out took " .. sub.time .. " s")
end

-- The resty sender's interface inside the worker (spec/sender_handler.lua).
TestRestySender = {}

function TestRestySender:test_interface_in_a_worker()
  local status, r = call("GET", app.url .. "/t-sender?prefix=" .. e.http_prefix:gsub(":", "%%3A"):gsub("/", "%%2F"))
  lu.assertEquals(status, 200, tostring(r))
  lu.assertEquals(r.queued_before_wait, 0)                 -- nothing ran inside send
  table.sort(r.order)
  lu.assertEquals(r.order, { "after", "again received", "received", "received", "received" })
  lu.assertEquals(r.failure.kind, "invalid_uri")
  lu.assertFalse(r.failure.inside)
  lu.assertStrContains(r.raised, "boom in done")
  lu.assertEquals(r.ctx, { ok = "received", bad = "invalid_uri" })
  lu.assertStrContains(r.nested, "wait() from a done callback would wait for itself")
  lu.assertTrue(r.wait_n.pending <= 2 and r.wait_n.done >= 4, cjson.encode(r.wait_n))
  lu.assertEquals(r.wait_all, 6)
  lu.assertTrue(r.raising_waited, "wait() hung after the transport raised")
  lu.assertEquals(r.raising.kind, "internal")
  lu.assertStrContains(r.raising.message, "transport boom")
  lu.assertTrue(r.premature_waited, "wait() hung after a premature timer")
  lu.assertNil(r.premature_ran)
end

-- examples/openresty/push.lua, once an open relay, checks hosts too.
TestExamplePushIsNoRelay = {}

function TestExamplePushIsNoRelay:test_refused_host_gets_403_and_no_send()
  local ex = assert(require("resty_nginx").start(e))
  local ok, err = pcall(function()
    local status, r = call("GET", ex.url .. "/push?text1=x&uri=" .. "http%3A%2F%2F169.254.169.254%2Flatest")
    lu.assertEquals(status, 403)
    lu.assertStrContains(r.error, "host '169.254.169.254' is not allowed")
    local ch = id("relay")
    status = call("GET", ex.url .. "/push?text1=x&uri=" .. e.http_prefix:gsub(":", "%%3A"):gsub("/", "%%2F") .. ch)
    lu.assertEquals(status, 200)
    lu.assertEquals(kinds(ch), { "toast" })
  end)
  ex:stop()
  if not ok then error(err, 0) end
end

local rc = lu.LuaUnit.run()
app:stop()
e:stop()
os.exit(rc == 0)
