--- mpns.registry and its stores: the store contract against memory and
-- SQLite, then the registry's own behaviour.
local lu = require "luaunit"
local mpns = require "mpns"
local contract = require "store_contract"

local function tmpdir() return require("proc").tmpdir("registry") end

local function rmdir(p) os.execute("rm -rf " .. p) end

TestMemoryStore = contract(function() return require("mpns.store.memory").new() end)

local dirs = {}
TestSqliteStore = contract(function()
  local d = tmpdir()
  local s = require("mpns.store.sqlite").new{ path = d .. "/push.db" }
  dirs[s] = d
  return s
end, function(s) rmdir(dirs[s]) end)

local EMU = "http://127.0.0.1:8080/throttledthirdparty/01.00/"
local LIVE = "http://sn1.notify.live.net/throttledthirdparty/01.00/"

local function answer(status, notification, device, subscription)
  return mpns.parse_response(status, { ["X-NotificationStatus"] = notification,
    ["X-DeviceConnectionStatus"] = device, ["X-SubscriptionStatus"] = subscription })
end
local RECEIVED = answer(200, "Received", "Connected", "Active")
local SUPPRESSED = answer(200, "Suppressed", "Connected", "Active")
local TEMP = answer(200, "Received", "TempDisconnected", "Active")
local EXPIRED = answer(404, "Dropped", "Connected", "Expired")

-- The registry's behaviour, the same on every store: `open(opts)` opens one.
local function registry_tests(open)
  local T = {}

  function T:setUp()
    self.now = 1000
    self.reg = assert(open{ allowed_hosts = { "127.0.0.1:*" }, clock = function() return self.now end })
  end

  function T:tearDown() self.reg:close() end

  function T:test_subscribe_deduplicates_by_uri()
    local a, new_a = self.reg:subscribe{ uri = LIVE .. "a", user = "alice", tags = { "news" } }
    local b, new_b = self.reg:subscribe{ uri = LIVE .. "a", user = "alice", tags = { "news" } }
    lu.assertEquals({ new_a, new_b }, { true, false })
    lu.assertEquals(b, a)
    lu.assertEquals(self.reg:count(), 1)
  end

  function T:test_device_with_a_new_uri_replaces_its_old_channel()
    self.reg:subscribe{ uri = EMU .. "old", device = "phone-1", user = "alice" }
    self.reg:bump_counter(EMU .. "old", 2)
    self.now = 1010
    local rec, is_new, replaced = self.reg:subscribe{ uri = EMU .. "new", device = "phone-1", user = "alice" }
    lu.assertEquals({ is_new, replaced, rec.counter, rec.user }, { false, EMU .. "old", 2, "alice" })
    lu.assertNil(self.reg:get(EMU .. "old"))
    lu.assertEquals(self.reg:count(), 1)
    -- naming alice's device without being alice takes nothing over
    rec, is_new, replaced = self.reg:subscribe{ uri = EMU .. "evil", device = "phone-1" }
    lu.assertEquals({ is_new, replaced, rec.device, rec.counter }, { true, nil, nil, 0 })
    lu.assertEquals(self.reg:get(EMU .. "new").device, "phone-1")
  end

  function T:test_tags_are_sorted_and_deduplicated()
    local rec = self.reg:subscribe{ uri = LIVE .. "a", tags = { "b", "a", "b" } }
    lu.assertEquals(rec.tags, { "a", "b" })
  end

  function T:test_record_of_tile_and_raw_answers()
    local uri = LIVE .. "a"
    self.reg:subscribe{ uri = uri }
    self.reg:record(uri, RECEIVED, mpns.tile{ count = 1 })
    local rec = self.reg:get(uri)
    lu.assertEquals({ rec.pinned, rec.app_running, rec.last_outcome, rec.last_status, rec.last_at },
      { true, nil, "received", 200, 1000 })
    lu.assertEquals({ rec.notification_status, rec.device_status, rec.subscription_status },
      { "Received", "Connected", "Active" })
    self.reg:record(uri, SUPPRESSED, mpns.raw("ping"))
    rec = self.reg:get(uri)
    lu.assertEquals({ rec.pinned, rec.app_running, rec.last_outcome }, { true, false, "suppressed" })
    self.reg:record(uri, SUPPRESSED, "flip_tile")
    lu.assertFalse(self.reg:get(uri).pinned)
    self.reg:record(uri, TEMP, mpns.raw("ping"))  -- says nothing about the app
    self.reg:record(uri, RECEIVED, mpns.toast{ text1 = "x" })  -- a toast tells neither
    rec = self.reg:get(uri)
    lu.assertEquals({ rec.pinned, rec.app_running, rec.last_outcome }, { false, false, "received" })
  end

  function T:test_record_retry_after_and_the_due_filter()
    local uri = LIVE .. "a"
    self.reg:subscribe{ uri = uri }
    self.reg:subscribe{ uri = LIVE .. "b" }
    self.reg:record(uri, answer(406, "Dropped", "Connected", "Active"), "toast")
    local rec = self.reg:get(uri)
    lu.assertEquals({ rec.last_outcome, rec.retry_at }, { "throttled", 1000 + 3600 })
    lu.assertEquals(self.reg:count(), 1, "a throttled channel is not due")
    lu.assertEquals(self.reg:count{ all = true }, 2)
    local seen = {}
    for ch in self.reg:channels() do seen[#seen + 1] = ch.uri end
    lu.assertEquals(seen, { LIVE .. "b" })
    self.now = 1000 + 3600
    lu.assertEquals(self.reg:count(), 2, "due again")
    self.reg:record(uri, RECEIVED, "toast")
    lu.assertNil(self.reg:get(uri).retry_at, "an answer without retry_after clears it")
  end

  function T:test_record_of_an_error()
    local uri = LIVE .. "a"
    self.reg:subscribe{ uri = uri }
    self.reg:record(uri, RECEIVED, "raw")
    self.reg:record(uri, { kind = "timeout", message = "timed out", retry_after = 60 }, "raw")
    local rec = self.reg:get(uri)
    lu.assertEquals({ rec.last_outcome, rec.last_status, rec.retry_at, rec.app_running, rec.notification_status },
      { "timeout", nil, 1060, true, "Received" })
  end

  function T:test_delete_channel_forgets_and_calls_on_expired()
    local uri, gone = LIVE .. "a", {}
    self.reg.on_expired = function(ch) gone[#gone + 1] = ch end
    self.reg:subscribe{ uri = uri, user = "alice" }
    local changes, expired = self.reg:record(uri, EXPIRED, "toast")
    lu.assertEquals(changes, {})
    lu.assertEquals(expired.user, "alice")
    lu.assertNil(self.reg:get(uri))
    lu.assertEquals(#gone, 1)
    lu.assertEquals(gone[1].uri, uri)
    lu.assertStrContains(tostring(gone[1]), uri)
  end

  -- Every answer of the protocol's table, as mpns.parse_response reads it.
  function T:test_record_of_every_answer()
    local answers = {
      { 200, "Received", "Connected", "Active" }, { 200, "Received", "TempDisconnected", "Active" },
      { 200, "QueueFull", "Connected", "Active" }, { 200, "Suppressed", "Connected", "Active" },
      { 200, "Dropped", "Connected", "Active" }, { 400 }, { 401 }, { 403 },
      { 404, "Dropped", "Connected", "Expired" }, { 404 }, { 405 },
      { 406, "Dropped", "Connected", "Active" }, { 412, "Dropped", "InActive" }, { 503 },
    }
    for i, a in ipairs(answers) do
      local uri, res = LIVE .. i, answer(a[1], a[2], a[3], a[4])
      self.reg:subscribe{ uri = uri }
      self.reg:record(uri, res, "tile")
      local rec = self.reg:get(uri)
      if res.delete_channel then
        lu.assertNil(rec, uri)
      else
        lu.assertEquals({ rec.last_outcome, rec.last_status, rec.retry_at, rec.notification_status },
          { res.outcome, res.status, res.retry_after and 1000 + res.retry_after, a[2] }, uri)
      end
    end
    lu.assertNil(self.reg:get(LIVE .. 9), "404 + Expired forgets the channel")
  end

  function T:test_a_404_without_delete_channel_keeps_the_channel()
    local uri = LIVE .. "a"
    self.reg:subscribe{ uri = uri }
    self.reg:record(uri, { status = 404, outcome = "not_mpns", ok = false }, "toast")
    lu.assertEquals(self.reg:get(uri).last_outcome, "not_mpns")
  end

  function T:test_channels_pages_through_every_match()
    for i = 1, 53 do self.reg:subscribe{ uri = LIVE .. i, user = (i % 3 == 0) and "c" or "x" } end
    local n, seen = 0, {}
    for ch in self.reg:channels{ page = 7 } do
      n = n + 1
      lu.assertNil(seen[ch.uri])
      seen[ch.uri] = true
    end
    lu.assertEquals(n, 53)
    n = 0
    for ch in self.reg:channels{ user = "c", page = 4 } do
      n = n + 1
      lu.assertEquals(ch.user, "c")
    end
    lu.assertEquals(n, 17)
    lu.assertEquals(self.reg:count{ user = "c" }, 17)
  end

  function T:test_channels_survive_forgetting_what_they_yield()
    for i = 1, 10 do self.reg:subscribe{ uri = LIVE .. i } end
    local n = 0
    for ch in self.reg:channels{ page = 3 } do
      n = n + 1
      self.reg:record(ch.uri, EXPIRED, "toast")
    end
    lu.assertEquals(n, 10)
    lu.assertEquals(self.reg:count{ all = true }, 0)
  end

  function T:test_counter_helpers()
    local uri = LIVE .. "a"
    self.reg:subscribe{ uri = uri }
    lu.assertEquals(self.reg:bump_counter(uri), 1)
    lu.assertEquals(self.reg:bump_counter(uri, 2), 3)
    lu.assertTrue(self.reg:reset_counter(uri))
    lu.assertEquals(self.reg:get(uri).counter, 0)
    lu.assertNil(self.reg:bump_counter(LIVE .. "missing"))
    lu.assertFalse(self.reg:reset_counter(LIVE .. "missing"))
  end

  function T:test_last_tile_and_callback()
    local uri = LIVE .. "a"
    self.reg:subscribe{ uri = uri }
    local tile = { kind = "flip_tile", title = "Inbox", count = 3, back_title = mpns.CLEAR }
    lu.assertTrue(self.reg:set_tile(uri, tile))
    local got = self.reg:get_tile(uri)
    lu.assertEquals({ got.kind, got.title, got.count }, { "flip_tile", "Inbox", 3 })
    lu.assertIs(got.back_title, mpns.CLEAR)
    lu.assertErrorMsgContains("unknown field 'titel'", self.reg.set_tile, self.reg, uri, { kind = "tile", titel = "x" })
    lu.assertErrorMsgContains("set_tile expects", self.reg.set_tile, self.reg, uri, { kind = "toast" })
    lu.assertTrue(self.reg:set_callback(uri, "https://svc.example/mpns-callback"))
    lu.assertEquals(self.reg:get(uri).callback, { uri = "https://svc.example/mpns-callback", at = 1000 })
    lu.assertTrue(self.reg:set_callback(uri, nil))
    lu.assertNil(self.reg:get(uri).callback)
    lu.assertErrorMsgContains("callback URI", self.reg.set_callback, self.reg, uri, "ftp://x")
  end

  -- record keeps the tile a send carried, with its outcome: only when MPNS
  -- answered, and a bad tile raises by name like set_tile.
  function T:test_record_keeps_the_tile_of_an_answered_send()
    local a, b = LIVE .. "a", LIVE .. "b"
    self.reg:subscribe{ uri = a }
    self.reg:subscribe{ uri = b }
    local tile = { kind = "tile", title = "Kept", count = 2 }
    self.reg:record(a, answer(200, "Received", "Connected", "Active"), "tile", tile)
    self.reg:record(b, { kind = "connect", retry_after = 60 }, "tile", tile)
    lu.assertEquals(self.reg:get(a).tile, tile)
    lu.assertEquals(self.reg:get(a).pinned, true)
    lu.assertNil(self.reg:get(b).tile, "no answer: the phone may not have it")
    lu.assertErrorMsgContains("unknown field 'titel'", self.reg.record, self.reg, a,
      answer(200, "Received", "Connected", "Active"), "tile", { kind = "tile", titel = "x" })
    lu.assertErrorMsgContains("record expects a tile", self.reg.record, self.reg, a,
      answer(200, "Received", "Connected", "Active"), "tile", { kind = "raw" })
  end

  function T:test_subscribe_many()
    local added, refused = self.reg:subscribe_many{
      { uri = LIVE .. "1" }, { uri = "http://evil.example/x" }, { uri = LIVE .. "2", os = "7.0" }, { uri = LIVE .. "1" } }
    lu.assertEquals(added, 2)
    lu.assertEquals(#refused, 1)
    lu.assertEquals(refused[1].index, 2)
    lu.assertStrContains(refused[1].reason, "'evil.example' is not allowed")
    lu.assertEquals(self.reg:count(), 2)
  end

  function T:test_tostring_of_a_channel()
    local uri = EMU .. "abc"
    self.reg:subscribe{ uri = uri, user = "alice", device = "p1", os = "7.1", tags = { "news" } }
    self.reg:record(uri, answer(412, "Dropped", "InActive"), "tile")
    lu.assertEquals(tostring(self.reg:get(uri)), "mpns channel " .. uri
      .. ' os=7.1 user="alice" device="p1" tags=news counter=0 last=inactive/412 at 1970-01-01 00:16:40Z'
      .. " retry_at=1970-01-01 01:16:40Z")
  end

  return T
end

TestRegistryMemory = registry_tests(function(opts)
  opts.store = "memory"
  return mpns.registry.open(opts)
end)

local reg_dirs = {}
TestRegistrySqlite = registry_tests(function(opts)
  local d = tmpdir()
  opts.path = d .. "/push.db"
  local reg = mpns.registry.open(opts)
  reg_dirs[reg] = d
  return reg
end)
local sqlite_teardown = TestRegistrySqlite.tearDown
function TestRegistrySqlite:tearDown()
  sqlite_teardown(self)
  rmdir(reg_dirs[self.reg])
end

TestHostCheck = {}

function TestHostCheck:setUp()
  self.reg = mpns.registry.open{ store = "memory",
    allowed_hosts = { "127.0.0.1:8080", "*.push.example", "LocalHost:*", "10.0.0.1" } }
end

-- The check without a registry answers as the registry's does.
function TestHostCheck:test_host_check_alone_is_the_same_check()
  local check = mpns.registry.host_check{ "127.0.0.1:8080", "*.push.example", "LocalHost:*", "10.0.0.1" }
  for _, uri in ipairs({ LIVE .. "a", EMU .. "x", "http://localhost:6379/x", "http://10.0.0.1:8080/x",
      "http://127.0.0.1:6379/x", "ftp://a.push.example/x", "http://u@a.push.example/x", "http://evil.example/" }) do
    lu.assertEquals({ check(uri) }, { self.reg:check_uri(uri) }, uri)
  end
  lu.assertNil(mpns.registry.host_check()("http://127.0.0.1:8080/x"))
  lu.assertNotNil(mpns.registry.host_check()(LIVE .. "a"))
  lu.assertErrorMsgContains("allowed_hosts: expected", mpns.registry.host_check, { "a..b" })
end

function TestHostCheck:test_allowed()
  for _, uri in ipairs({ LIVE .. "a", "https://DB3.Notify.Live.Net/unthrottledthirdparty/01.00/x",
      "http://s.notify.live.net/u/1/sin/HmQAAA", EMU .. "x", "http://a.b.push.example:80/x",
      "https://a.push.example/x", "https://a.push.example:443/x", "http://10.0.0.1/x",
      "http://localhost:6379/x", "http://LOCALHOST:1/x", "http://127.0.0.1:8080/x",
      -- the host is 127.0.0.1 whatever follows '?': what libcurl connects to
      "http://127.0.0.1:8080?@evil.com/" }) do
    lu.assertNotNil(self.reg:check_uri(uri), uri)
    lu.assertNotNil(self.reg:subscribe{ uri = uri }, uri)
  end
  lu.assertEquals(self.reg:check_uri("http://127.0.0.1:8080?@evil.com/"), "127.0.0.1")
end

function TestHostCheck:test_refused_with_a_reason()
  local long = LIVE .. string.rep("a", 1025 - #LIVE)
  for uri, why in pairs({
    ["http://evil.example/x"] = "host 'evil.example' is not allowed (allowed: *.notify.live.net, 127.0.0.1:8080, *.push.example, localhost:*, 10.0.0.1)",
    ["http://notify.live.net/x"] = "host 'notify.live.net' is not allowed",
    ["http://evilnotify.live.net/x"] = "host 'evilnotify.live.net' is not allowed",
    ["http://sn1.notify.live.net.evil.example/x"] = "is not allowed",
    ["http://push.example/x"] = "host 'push.example' is not allowed",
    ["http://127.0.0.2:8080/x"] = "host '127.0.0.2:8080' is not allowed",
    ["http://127.0.0.1.evil.com:8080/"] = "host '127.0.0.1.evil.com:8080' is not allowed",
    ["http://evil.com#@127.0.0.1:8080/"] = "host 'evil.com' is not allowed",
    -- ports: a plain entry allows the scheme's own port only
    ["http://127.0.0.1/x"] = "host '127.0.0.1' is not allowed",
    ["http://127.0.0.1:6379/x"] = "host '127.0.0.1:6379' is not allowed",
    ["http://10.0.0.1:6379/x"] = "host '10.0.0.1:6379' is not allowed",
    ["http://10.0.0.1:443/x"] = "host '10.0.0.1:443' is not allowed",
    ["http://sn1.notify.live.net:6379/x"] = "host 'sn1.notify.live.net:6379' is not allowed",
    ["http://a.push.example:8080/x"] = "is not allowed",
    ["http://sn1.notify.live.net./x"] = "is not a host name",
    ["http://127.0.0.1.:8080/x"] = "is not a host name",
    ["ftp://sn1.notify.live.net/x"] = "must start with http:// or https://",
    ["file:///etc/passwd"] = "must start with http:// or https://",
    ["sn1.notify.live.net/x"] = "must start with http:// or https://",
    ["http://user:pw@sn1.notify.live.net/x"] = "must not carry a user name or password",
    ["http://evil.example@sn1.notify.live.net/x"] = "must not carry a user name or password",
    ["http:///x"] = "has no host",
    ["http://:80/x"] = "has no host",
    ["http://sn1.notify.live.net:99999999/x"] = "bad port",
    ["http://sn1.notify.live.net:99999/x"] = "bad port",
    ["http://sn1.notify.live.net:0/x"] = "bad port",
    ["http://sn1.notify.live.net:/x"] = "bad port",
    ["http://sn1.notify.live.net:x/x"] = "bad port",
    ["http://sn1.notify.live%2enet/x"] = "is not a host name",
    ["http://sn1..notify.live.net/x"] = "is not a host name",
    ["http://sn1.notify.live.net/a b"] = "space, control or non-ASCII byte",
    ["http://sn1.notify.live.net/\n"] = "space, control or non-ASCII byte",
    [long] = "over 1,024 bytes (1025)",
  }) do
    local ok, err = self.reg:subscribe{ uri = uri }
    lu.assertNil(ok, uri)
    lu.assertStrContains(err, "mpns.registry: channel URI " .. "", false)
    lu.assertStrContains(err, why, false)
  end
  lu.assertEquals(self.reg:count{ all = true }, 0)
  lu.assertNotNil(self.reg:subscribe{ uri = long:sub(1, 1024) })
end

function TestHostCheck:test_bad_allowed_hosts_raise()
  for entry, why in pairs({
    ["http://x/"] = "expected host, host:port, host:* or *.suffix[:port] entries, got http://x/",
    ["*a.b"] = "'*' only as '*.suffix', got *a.b",
    ["a.b:"] = "bad port", ["a.b:0"] = "bad port", ["a.b:65536"] = "bad port", ["a.b:x"] = "bad port",
    ["a.b."] = "can never match", ["*."] = "'*' only as '*.suffix'", ["a..b"] = "can never match",
    [".a.b"] = "can never match", ["*.a."] = "can never match", [""] = "can never match",
    ["a_b"] = "can never match",
  }) do
    lu.assertErrorMsgContains(why, mpns.registry.open, { store = "memory", allowed_hosts = { entry } })
  end
  lu.assertErrorMsgContains("got 5", mpns.registry.open, { store = "memory", allowed_hosts = { 5 } })
end

TestValidation = {}

-- A backend's failure is not "refused": a service answers 503, not 400.
function TestValidation:test_a_backend_failure_is_not_refused()
  local st = require("mpns.store.memory").new()
  st.subscribe = function() return nil, "disk full" end
  local reg = mpns.registry.open{ store = st }
  lu.assertEquals({ reg:subscribe{ uri = LIVE .. "a" } }, { nil, "disk full" })
end

function TestValidation:setUp() self.reg = mpns.registry.open{ store = "memory" } end

function TestValidation:test_what_a_phone_sends_wrong_is_nil_and_a_reason()
  for _, case in ipairs({
    { { os = "9.0" }, [[field 'os' expected "7.0", "7.1" or "8.0", got "9.0"]] },
    { { os = 8 }, [[field 'os' expected "7.0", "7.1" or "8.0", got 8]] },
    { { user = "" }, "field 'user' expected 1 to 256 bytes, got 0" },
    { { user = string.rep("u", 257) }, "field 'user' expected 1 to 256 bytes, got 257" },
    { { device = "a\0b" }, "field 'device' has a control character" },
    { { user = 7 }, "field 'user' expected a string, got number" },
    { { tags = "news" }, "field 'tags' expected a list of strings, got string" },
    { { tags = { "a", 5 } }, "field 'tags[2]' expected a string, got number" },
    { { tags = { x = "a" } }, "field 'tags' expected a list of strings (key x)" },
    { { tags = { string.rep("t", 65) } }, "field 'tags[1]' expected 1 to 64 bytes" },
    { { uri = 5 }, "field 'uri' expected a string, got number" },
  }) do
    local f = case[1]
    if f.uri == nil then f.uri = LIVE .. "a" end
    local ok, err, refused = self.reg:subscribe(f)
    lu.assertNil(ok)
    lu.assertStrContains(err, "mpns.registry: " .. case[2])
    lu.assertEquals(refused, "refused")
  end
  lu.assertEquals({ self.reg:subscribe{} }, { nil, "mpns.registry: field 'uri' is required", "refused" })
  local many = {}
  for i = 1, 33 do many[i] = "t" .. i end
  lu.assertStrContains(select(2, self.reg:subscribe{ uri = LIVE .. "a", tags = many }), "33 tags, at most 32")
  lu.assertEquals(self.reg:count{ all = true }, 0)
end

function TestValidation:test_misuse_raises_naming_the_key()
  local reg = self.reg
  lu.assertErrorMsgContains("subscribe: unknown field 'usr'", reg.subscribe, reg, { uri = LIVE .. "a", usr = "x" })
  lu.assertErrorMsgContains("subscribe expects a table", reg.subscribe, reg, LIVE .. "a")
  lu.assertErrorMsgContains("unknown filter key 'usr'", reg.channels, reg, { usr = "x" })
  lu.assertErrorMsgContains("filter 'page' expected a positive integer", reg.count, reg, { page = 0 })
  lu.assertErrorMsgContains("record expects a send's result or error table", reg.record, reg, LIVE .. "a", {})
  lu.assertErrorMsgContains("get expects a channel URI string", reg.get, reg, 5)
  lu.assertErrorMsgContains("bump_counter: n must be an integer", reg.bump_counter, reg, LIVE .. "a", 1.5)
  lu.assertErrorMsgContains("mpns.store.memory: unknown option 'path'", mpns.registry.open, { store = "memory", path = "x" })
  lu.assertErrorMsgContains("option 'clock' expected a function", mpns.registry.open, { store = "memory", clock = 5 })
  lu.assertErrorMsgContains("no store named 'mysql'", mpns.registry.open, { store = "mysql" })
  lu.assertErrorMsgContains("option 'flush_every' expected a positive integer, got 0",
    mpns.registry.open, { store = "memory", flush_every = 0 })
  lu.assertErrorMsgContains("mpns.store.sqlite: option 'path' is required", mpns.registry.open, {})
  reg:close()
  lu.assertTrue(reg:close())
  lu.assertErrorMsgContains("registry is closed", reg.get, reg, LIVE .. "a")
end

TestBufferedRecord = {}

-- Outcomes wait in the registry until flush_every of them (or a lookup);
-- two for one channel count twice, and the later one wins.
function TestBufferedRecord:test_outcomes_are_written_in_groups()
  local st = require("mpns.store.memory").new()
  local reg = mpns.registry.open{ store = st, flush_every = 4, flush_interval = 1e9 }
  for i = 1, 3 do reg:subscribe{ uri = LIVE .. i } end
  reg:record(LIVE .. 1, RECEIVED, "toast")
  reg:record(LIVE .. 2, RECEIVED, "toast")
  reg:record(LIVE .. 1, SUPPRESSED, "toast")
  lu.assertNil(st:get(LIVE .. 1).last_outcome, "still buffered")
  reg:record(LIVE .. 3, RECEIVED, "toast")
  lu.assertEquals(st:get(LIVE .. 1).last_outcome, "suppressed", "the later outcome wins")
  lu.assertEquals(st:get(LIVE .. 3).last_outcome, "received")
  reg:record(LIVE .. 2, SUPPRESSED, "toast")
  lu.assertEquals(reg:get(LIVE .. 2).last_outcome, "suppressed", "a lookup flushes first")
  reg:record(LIVE .. 3, SUPPRESSED, "toast")
  reg:close()
  lu.assertEquals(st:get(LIVE .. 3).last_outcome, "suppressed", "close flushes")
end

function TestBufferedRecord:test_flush_interval_bounds_the_wait()
  local now = 0
  local st = require("mpns.store.memory").new()
  local reg = mpns.registry.open{ store = st, flush_every = 1000, flush_interval = 2,
    clock = function() return now end }
  reg:subscribe{ uri = LIVE .. 1 }
  reg:record(LIVE .. 1, RECEIVED, "toast")
  now = 1
  reg:record(LIVE .. 1, RECEIVED, "toast")
  lu.assertNil(st:get(LIVE .. 1).last_outcome)
  now = 2
  reg:record(LIVE .. 1, SUPPRESSED, "toast")
  lu.assertEquals(st:get(LIVE .. 1).last_outcome, "suppressed")
end

TestSqlite = {}

function TestSqlite:setUp()
  self.dir = tmpdir()
  self.path = self.dir .. "/push.db"
end

function TestSqlite:tearDown() rmdir(self.dir) end

-- Runs each SQL text on its own connection to `path`; returns the first
-- column of the last one's first row. Every statement is closed before the
-- connection: SQLite will not close a connection with a statement open, and
-- LeakSanitizer (make check-asan) reports the connection left behind.
local function sql_on(path, list)
  local db = require("DBI").Connect("SQLite3", path)
  db:autocommit(true)
  local row
  for _, sql in ipairs(list) do
    local st = assert(db:prepare(sql))
    assert(st:execute())
    row = st:fetch(false)
    st:close()
  end
  db:close()
  return row and row[1]
end

local function pragma(path, name) return sql_on(path, { "PRAGMA " .. name }) end

function TestSqlite:test_schema_version_wal_and_reopen()
  local reg = assert(mpns.registry.open{ path = self.path })
  reg:subscribe{ uri = LIVE .. "a", user = "o'brien\"; DROP TABLE channels; --", tags = { "x'y" } }
  reg:record(LIVE .. "a", RECEIVED, "tile")
  reg:close()
  lu.assertEquals(pragma(self.path, "user_version"), 3)
  lu.assertEquals(pragma(self.path, "journal_mode"), "wal")
  reg = assert(mpns.registry.open{ path = self.path })
  local rec = reg:get(LIVE .. "a")
  lu.assertEquals({ rec.user, rec.pinned }, { "o'brien\"; DROP TABLE channels; --", true })
  lu.assertEquals(reg:count{ tag = "x'y" }, 1)
  reg:close()
end

-- The first column of `sql`'s first row on the registry's own connection
-- (per-connection pragmas).
local function on_store(reg, sql)
  local st = assert(reg.store.db:prepare(sql))
  assert(st:execute())
  local row = st:fetch(false)
  st:close()
  return row[1]
end

-- A new file gets 1,024-byte pages (a commit writes less WAL); a file made
-- with SQLite's 4,096 keeps them and works as before; both checkpoint
-- every 40 MB of WAL, counted in their own pages.
function TestSqlite:test_page_size_of_new_and_older_files()
  local reg = assert(mpns.registry.open{ path = self.path })
  lu.assertEquals(on_store(reg, "PRAGMA wal_autocheckpoint"), 40960)
  reg:close()
  lu.assertEquals(pragma(self.path, "page_size"), 1024)
  local old = self.dir .. "/old.db"
  sql_on(old, { "PRAGMA page_size = 4096", "PRAGMA journal_mode = WAL" })
  reg = assert(mpns.registry.open{ path = old })
  lu.assertEquals(on_store(reg, "PRAGMA wal_autocheckpoint"), 10240)
  assert(reg:subscribe{ uri = LIVE .. "a", tags = { "t" } })
  reg:close()
  lu.assertEquals(pragma(old, "page_size"), 4096)
  reg = assert(mpns.registry.open{ path = old })
  lu.assertEquals(reg:count{ tag = "t" }, 1)
  reg:close()
end

-- `page_bytes` chooses a new file's page size; it cannot change an
-- existing file's, and a size SQLite would ignore raises.
function TestSqlite:test_page_bytes_option()
  assert(mpns.registry.open{ path = self.path, page_bytes = 4096 }):close()
  lu.assertEquals(pragma(self.path, "page_size"), 4096)
  assert(mpns.registry.open{ path = self.path, page_bytes = 2048 }):close()
  lu.assertEquals(pragma(self.path, "page_size"), 4096)
  lu.assertErrorMsgContains("option 'page_bytes' expected a power of two from 512 to 65536, got 1000",
    mpns.registry.open, { path = self.path, page_bytes = 1000 })
end

-- The file is read through a memory map of up to 64 MB unless
-- `mmap_bytes` says otherwise (0: read calls only); a size that is not a
-- whole number of bytes raises.
function TestSqlite:test_mmap_bytes_option()
  local reg = assert(mpns.registry.open{ path = self.path })
  lu.assertEquals(on_store(reg, "PRAGMA mmap_size"), 64 * 1024 * 1024)
  reg:close()
  reg = assert(mpns.registry.open{ path = self.path, mmap_bytes = 0 })
  lu.assertEquals(on_store(reg, "PRAGMA mmap_size"), 0)
  assert(reg:subscribe{ uri = LIVE .. "a" })
  reg:close()
  reg = assert(mpns.registry.open{ path = self.path, mmap_bytes = 1024 * 1024 })
  lu.assertEquals(on_store(reg, "PRAGMA mmap_size"), 1024 * 1024)
  lu.assertEquals(reg:get(LIVE .. "a").uri, LIVE .. "a")
  reg:close()
  reg = assert(mpns.registry.open{ path = self.path, mmap_bytes = 0x7fff0000 })  -- SQLite's ceiling
  lu.assertEquals(on_store(reg, "PRAGMA mmap_size"), 0x7fff0000)
  reg:close()
  for _, bad in ipairs { -1, 1.5, 0x7fff0001, 2 ^ 41 } do
    lu.assertErrorMsgContains("option 'mmap_bytes' expected a whole number of bytes from 0 to 2147418112, got",
      mpns.registry.open, { path = self.path, mmap_bytes = bad })
  end
end

-- A scan's field list may not be empty; one that was refused leaves the
-- next scan (without a list: every field) as it was.
function TestSqlite:test_a_scan_of_no_fields_raises_and_changes_nothing()
  local st = assert(require("mpns.store.sqlite").new{ path = self.path })
  assert(st:subscribe({ uri = LIVE .. "a", os = "8.0", tags = {} }, 1000))
  lu.assertErrorMsgContains("scan's field list is empty", st.scan, st, {}, nil, 10, {})
  local page = assert(st:scan({}, nil, 10))
  lu.assertEquals(#page, 1)
  lu.assertEquals(page[1].os, "8.0")
  st:close()
end

function TestSqlite:test_a_newer_schema_is_refused()
  assert(mpns.registry.open{ path = self.path }):close()
  sql_on(self.path, { "PRAGMA user_version = 7" })
  local reg, err = mpns.registry.open{ path = self.path }
  lu.assertNil(reg)
  lu.assertStrContains(err, "database schema version 7 is not this library's (3)")
end

-- The schema of versions 1 and 2 (the outcome columns in the channel's
-- row; version 2 added the tag triggers), as those versions created it.
local V1 = {
  [[CREATE TABLE channels (
    id INTEGER PRIMARY KEY, uri TEXT NOT NULL UNIQUE, user TEXT, device TEXT,
    os TEXT NOT NULL, tags TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    last_outcome TEXT, last_status INTEGER, last_at REAL, notification_status TEXT,
    device_status TEXT, subscription_status TEXT, pinned INTEGER, app_running INTEGER,
    retry_at REAL, counter INTEGER NOT NULL DEFAULT 0, tile TEXT, callback TEXT)]],
  "CREATE INDEX channels_user ON channels (user) WHERE user IS NOT NULL",
  "CREATE UNIQUE INDEX channels_device ON channels (device) WHERE device IS NOT NULL",
  [[CREATE TABLE channel_tags (tag TEXT NOT NULL, channel INTEGER NOT NULL,
    PRIMARY KEY (tag, channel)) WITHOUT ROWID]],
  "PRAGMA user_version = 1",
}
local V2 = {
  [[CREATE TRIGGER channels_tags_insert AFTER INSERT ON channels BEGIN
    INSERT INTO channel_tags (tag, channel) SELECT value, NEW.id FROM json_each(NEW.tags)
      WHERE true ON CONFLICT DO NOTHING;
  END]],
  [[CREATE TRIGGER channels_tags_update AFTER UPDATE OF tags ON channels
    WHEN OLD.tags IS NOT NEW.tags BEGIN
    DELETE FROM channel_tags WHERE channel = OLD.id AND tag IN (SELECT value FROM json_each(OLD.tags));
    INSERT INTO channel_tags (tag, channel) SELECT value, NEW.id FROM json_each(NEW.tags)
      WHERE true ON CONFLICT DO NOTHING;
  END]],
  [[CREATE TRIGGER channels_tags_delete AFTER DELETE ON channels BEGIN
    DELETE FROM channel_tags WHERE channel = OLD.id AND tag IN (SELECT value FROM json_each(OLD.tags));
  END]],
  "PRAGMA user_version = 2",
}

local function concat_lists(...)
  local out = {}
  for _, l in ipairs { ... } do for _, x in ipairs(l) do out[#out + 1] = x end end
  return out
end

-- A version-1 file (no triggers: the tag rows were written by Lua) gains
-- the triggers on open and keeps its tag rows.
function TestSqlite:test_a_version_1_file_is_migrated()
  sql_on(self.path, concat_lists(V1, {
    "INSERT INTO channels (uri, os, tags, created_at, updated_at) VALUES ('" .. LIVE .. "old', '8.0', '[\"t\"]', 1, 1)",
    "INSERT INTO channel_tags VALUES ('t', last_insert_rowid())" }))
  local reg = assert(mpns.registry.open{ path = self.path })
  lu.assertEquals(pragma(self.path, "user_version"), 3)
  lu.assertEquals(reg:count{ tag = "t" }, 1)
  reg:subscribe{ uri = LIVE .. "new", tags = { "t", "u" } }
  lu.assertEquals({ reg:count{ tag = "t" }, reg:count{ tag = "u" } }, { 2, 1 })
  reg:unsubscribe(LIVE .. "old")
  reg:subscribe{ uri = LIVE .. "new", tags = { "u" } }
  lu.assertEquals({ reg:count{ tag = "t" }, reg:count{ tag = "u" } }, { 0, 1 })
  reg:close()
end

-- A version-2 file keeps every channel's outcome: its columns move to
-- channel_outcomes (rows only for channels that have one) and leave the
-- channel's row; reads, the due filter, records and deletes then use it.
function TestSqlite:test_a_version_2_file_is_migrated()
  local now = os.time()
  sql_on(self.path, concat_lists(V1, V2, {
    "INSERT INTO channels (uri, user, os, tags, created_at, updated_at, last_outcome, last_status, last_at, "
      .. "notification_status, device_status, subscription_status, pinned, retry_at, counter, tile) VALUES ('"
      .. LIVE .. "a', 'al', '8.0', '[\"t\"]', 1, 2, 'throttled', 200, 3, 'QueueFull', 'Connected', 'Active', 1, "
      .. (now + 3600) .. ", 4, '{\"kind\":\"tile\",\"title\":\"T\"}')",
    "INSERT INTO channels (uri, os, tags, created_at, updated_at) VALUES ('" .. LIVE .. "b', '7.1', '[]', 1, 1)" }))
  local reg = assert(mpns.registry.open{ path = self.path })
  lu.assertEquals(pragma(self.path, "user_version"), 3)
  local function outcome_rows() return sql_on(self.path, { "SELECT count(*) FROM channel_outcomes" }) end
  lu.assertEquals(outcome_rows(), 1)
  lu.assertEquals(sql_on(self.path, { "SELECT count(*) FROM pragma_table_info('channels') WHERE name = 'last_outcome'" }), 0)
  local a = reg:get(LIVE .. "a")
  lu.assertEquals({ a.user, a.tags, a.last_outcome, a.last_status, a.last_at, a.notification_status,
    a.device_status, a.subscription_status, a.pinned, a.retry_at, a.counter, a.tile, a.created_at, a.updated_at },
    { "al", { "t" }, "throttled", 200, 3, "QueueFull", "Connected", "Active", true, now + 3600, 4,
      { kind = "tile", title = "T" }, 1, 2 })
  lu.assertNil(reg:get(LIVE .. "b").last_outcome)
  local due = {}
  for ch in reg:channels() do due[#due + 1] = ch.uri end
  lu.assertEquals(due, { LIVE .. "b" })  -- a is backed off until its retry_at
  lu.assertEquals({ reg:count{ all = true, tag = "t" }, reg:count{} }, { 1, 1 })
  reg:record(LIVE .. "b", RECEIVED, "raw")
  reg:record(LIVE .. "a", RECEIVED, "tile")
  lu.assertTrue(reg:get(LIVE .. "b").app_running)
  lu.assertEquals({ reg:get(LIVE .. "a").retry_at, reg:count{} }, { nil, 2 })
  lu.assertEquals(outcome_rows(), 2)
  lu.assertTrue(reg:unsubscribe(LIVE .. "a"))
  lu.assertEquals(outcome_rows(), 1)  -- the channel's outcome row went with it
  reg:close()
end

-- A channel recorded twice before a flush is listed twice: in one run of
-- equal outcomes it is one row, and a later different outcome wins.
function TestSqlite:test_a_channel_recorded_twice_before_a_flush()
  local reg = assert(mpns.registry.open{ path = self.path })
  for _, u in ipairs { "a", "b" } do reg:subscribe{ uri = LIVE .. u } end
  for _, u in ipairs { "a", "b", "a" } do reg:record(LIVE .. u, RECEIVED, "raw") end
  lu.assertTrue(reg:flush())
  lu.assertEquals({ reg:get(LIVE .. "a").app_running, reg:get(LIVE .. "b").last_outcome }, { true, "received" })
  reg:record(LIVE .. "a", RECEIVED, "raw")
  reg:record(LIVE .. "a", SUPPRESSED, "raw")
  local a = reg:get(LIVE .. "a")
  lu.assertEquals({ a.last_outcome, a.app_running }, { "suppressed", false })
  reg:close()
end

-- A flush finds scanned rows by id; an id whose row another connection
-- deleted and gave to a new channel, or whose channel this registry moved
-- to another URI, must not take the old channel's outcome.
function TestSqlite:test_outcomes_never_follow_a_reused_or_moved_id()
  local reg = assert(mpns.registry.open{ path = self.path })
  for _, u in ipairs { "a", "b" } do reg:subscribe{ uri = LIVE .. u } end
  reg:subscribe{ uri = LIVE .. "m", device = "d" }
  for _ in reg:channels() do end  -- the scan that remembers ids
  sql_on(self.path, { "DELETE FROM channels WHERE uri = '" .. LIVE .. "m'",
    "INSERT INTO channels (uri, os, tags, created_at, updated_at) VALUES ('" .. LIVE .. "c', '8.0', '[]', 1, 1)" })
  lu.assertEquals(sql_on(self.path, { "SELECT id FROM channels WHERE uri = '" .. LIVE .. "c'" }), 3)  -- m's id
  for _, u in ipairs { "a", "m" } do reg:record(LIVE .. u, RECEIVED, "raw") end
  lu.assertTrue(reg:flush())
  lu.assertEquals({ reg:get(LIVE .. "a").app_running, reg:get(LIVE .. "c").last_outcome }, { true, nil })
  reg:subscribe{ uri = LIVE .. "d1", device = "e" }
  for _ in reg:channels() do end
  reg:subscribe{ uri = LIVE .. "d2", device = "e" }  -- the device's channel moves, keeping its id
  for _, u in ipairs { "b", "d1" } do reg:record(LIVE .. u, SUPPRESSED, "raw") end
  lu.assertTrue(reg:flush())
  lu.assertEquals({ reg:get(LIVE .. "b").app_running, reg:get(LIVE .. "d2").last_outcome }, { false, nil })
  reg:close()
end

-- Ids are remembered only from committed rows: a row a transaction
-- inserted and scanned, then rolled back, leaves its id free for the next
-- insert, which must not take the first URI's outcomes. A scan that does
-- not read uri remembers nothing (and does not fail).
function TestSqlite:test_ids_of_a_rolled_back_row_are_not_remembered()
  local st = assert(require("mpns.store.sqlite").new{ path = self.path })
  lu.assertFalse(pcall(st.batch, st, function()
    assert(st:subscribe({ uri = LIVE .. "x" }, 1))
    assert(st:scan({}, 0, 10))
    error("rolled back")
  end))
  assert(st:subscribe({ uri = LIVE .. "y" }, 1))
  st:batch(function() assert(st:update_many({ LIVE .. "x" }, { last_outcome = "x-outcome" })) end)
  lu.assertNil(st:get(LIVE .. "y").last_outcome)
  lu.assertEquals(#assert(st:scan({}, 0, 10, { "os" })), 1)
  st:close()
end

-- The triggers keep the tag index whoever writes: a repeated tag given to
-- the store directly is one index row, and a delete drops them all.
function TestSqlite:test_tag_rows_follow_every_write()
  local st = assert(require("mpns.store.sqlite").new{ path = self.path })
  st:subscribe({ uri = LIVE .. "a", tags = { "x", "x", "y" } }, 1)
  lu.assertTrue(st:update(LIVE .. "a", { tags = { "y", "z", "z" } }))
  local function tag_rows()
    local s = assert(st.db:prepare("SELECT tag FROM channel_tags ORDER BY tag"))
    assert(s:execute())
    local out = {}
    for row in s:rows(false) do out[#out + 1] = row[1] end
    s:close()
    return out
  end
  lu.assertEquals(tag_rows(), { "y", "z" })
  lu.assertTrue(st:delete(LIVE .. "a"))
  lu.assertEquals(tag_rows(), {})
  st:close()
end

-- channels{ fields = ... } reads only those fields (and uri) from SQLite.
function TestSqlite:test_channels_reads_only_the_fields_asked_for()
  local reg = assert(mpns.registry.open{ path = self.path })
  reg:subscribe{ uri = LIVE .. "a", user = "al", os = "7.1", tags = { "x" } }
  reg:record(LIVE .. "a", RECEIVED, "raw")
  local got = {}
  for ch in reg:channels{ fields = { "os", "app_running" }, tag = "x" } do got[#got + 1] = ch end
  lu.assertEquals(#got, 1)
  lu.assertEquals({ got[1].uri, got[1].os, got[1].app_running, got[1].user, got[1].tags }, { LIVE .. "a", "7.1", true })
  lu.assertErrorMsgContains("filter 'fields' has an unknown field 'oss'", reg.channels, reg, { fields = { "oss" } })
  lu.assertErrorMsgContains("scan of an unknown field 'id'", reg.store.scan, reg.store, {}, nil, 5, { "uri", "id" })
  reg:close()
end

-- Buffered outcomes go out as runs of equal changes (one update_many each)
-- and single updates; interleaved kinds and repeats end as recorded.
function TestSqlite:test_flush_of_mixed_outcomes()
  local reg = assert(mpns.registry.open{ path = self.path, flush_every = 1000, flush_interval = 1e9,
    clock = function() return 1000 end })
  for i = 1, 6 do reg:subscribe{ uri = LIVE .. i } end
  local answers = { RECEIVED, RECEIVED, SUPPRESSED, RECEIVED, RECEIVED, TEMP }
  for i = 1, 6 do reg:record(LIVE .. i, answers[i], "raw") end
  reg:record(LIVE .. 1, SUPPRESSED, "raw")  -- the later outcome wins
  assert(reg:flush())
  local got = {}
  for i = 1, 6 do
    local rec = reg:get(LIVE .. i)
    got[i] = { rec.last_outcome, rec.app_running, rec.device_status }
  end
  lu.assertEquals(got, { { "suppressed", false, "Connected" }, { "received", true, "Connected" },
    { "suppressed", false, "Connected" }, { "received", true, "Connected" },
    { "received", true, "Connected" }, { "received", nil, "TempDisconnected" } })
  reg:close()
end

function TestSqlite:test_unopenable_file_is_nil_and_a_reason()
  local reg, err = mpns.registry.open{ path = self.dir .. "/no/such/dir/push.db" }
  lu.assertNil(reg)
  lu.assertStrContains(err, "mpns.store.sqlite: no directory " .. self.dir .. "/no/such/dir")
end

function TestSqlite:test_a_failed_batch_writes_nothing()
  local st = assert(require("mpns.store.sqlite").new{ path = self.path })
  lu.assertErrorMsgContains("half way", st.batch, st, function()
    st:subscribe({ uri = LIVE .. "a" }, 1)
    error("half way")
  end)
  lu.assertEquals(st:count({}), 0)
  st:close()
end

function TestSqlite:test_two_connections_share_one_database()
  local a = assert(mpns.registry.open{ path = self.path })
  local b = assert(mpns.registry.open{ path = self.path })
  a:subscribe{ uri = LIVE .. "a" }
  lu.assertEquals(select(2, b:subscribe{ uri = LIVE .. "a" }), false)
  lu.assertEquals(b:bump_counter(LIVE .. "a"), 1)
  lu.assertEquals(a:bump_counter(LIVE .. "a"), 2)
  a:close()
  b:close()
end

function TestSqlite:test_a_locked_database_is_nil_and_a_reason()
  local reg = assert(mpns.registry.open{ path = self.path, busy_timeout = 50 })
  reg:subscribe{ uri = LIVE .. "a" }
  local other = assert(require("mpns.store.sqlite").new{ path = self.path })
  local ok, err
  other:batch(function()
    other:subscribe({ uri = LIVE .. "b" }, 1)  -- holds the write lock
    ok, err = reg:subscribe{ uri = LIVE .. "c" }
  end)
  lu.assertNil(ok)
  lu.assertStrContains(err, "locked")
  lu.assertNotNil(reg:subscribe{ uri = LIVE .. "c" }, "usable once the lock is gone")
  lu.assertEquals(reg:count(), 3)
  other:close()
  reg:close()
end

-- Runs fn while a second connection holds the database's write lock.
local function while_locked(path, fn)
  local other = assert(require("mpns.store.sqlite").new{ path = path })
  local res = { pcall(other.batch, other, function()
    other:subscribe({ uri = LIVE .. "lock-holder" }, 1)
    return { fn() }  -- a table: fn's trailing nils survive
  end) }
  other:close()
  assert(res[1], res[2])
  return (table.unpack or unpack)(res[2], 1, 2)
end

-- BEGIN failing under the lock must fail the batch, not look like success.
function TestSqlite:test_a_batch_that_cannot_begin_raises()
  local st = assert(require("mpns.store.sqlite").new{ path = self.path, busy_timeout = 10 })
  local ran = false
  local ok, err = while_locked(self.path, function()
    return pcall(st.batch, st, function() ran = true end)
  end)
  lu.assertFalse(ok)
  lu.assertStrContains(tostring(err), "locked")
  lu.assertFalse(ran)
  lu.assertEquals(st:batch(function() return 7 end), 7, "usable once the lock is gone")
  st:close()
end

function TestSqlite:test_subscribe_many_under_a_lock_reports_the_failure()
  local reg = assert(mpns.registry.open{ path = self.path, busy_timeout = 10 })
  local added, err = while_locked(self.path, function()
    return reg:subscribe_many{ { uri = LIVE .. "a" }, { uri = LIVE .. "b" } }
  end)
  lu.assertNil(added)
  lu.assertStrContains(tostring(err), "locked")
  lu.assertEquals(reg:subscribe_many{ { uri = LIVE .. "a" } }, 1)
  reg:close()
end

-- A flush that fails keeps the outcomes for the next one; the lookups and
-- writes that flush first say so rather than run ahead of them.
function TestSqlite:test_a_failed_flush_keeps_the_outcomes()
  local reg = assert(mpns.registry.open{ path = self.path, busy_timeout = 10, flush_every = 1000,
    flush_interval = 1e9 })
  reg:subscribe{ uri = LIVE .. "a" }
  reg:record(LIVE .. "a", RECEIVED, "tile")
  local results = while_locked(self.path, function()
    local r = {}
    r.flush = { reg:flush() }
    r.bump = { reg:bump_counter(LIVE .. "a") }
    r.tile = { reg:set_tile(LIVE .. "a", { kind = "tile", title = "T" }) }
    r.unsub = { reg:unsubscribe(LIVE .. "a") }
    r.sub = { reg:subscribe{ uri = LIVE .. "b" } }
    r.count = { reg:count() }
    return r
  end)
  for name, r in pairs(results) do
    lu.assertNil(r[1], name)
    lu.assertStrContains(tostring(r[2]), "locked", name)
  end
  local rec = reg:get(LIVE .. "a")
  lu.assertEquals({ rec.last_outcome, rec.pinned, rec.counter }, { "received", true, 0 })
  reg:close()
end

-- MPNS said the channel is gone but the store cannot forget it: an error,
-- and on_expired is not told of a channel that is still there.
function TestSqlite:test_expire_that_cannot_delete_is_an_error()
  local told = 0
  local reg = assert(mpns.registry.open{ path = self.path, busy_timeout = 10,
    on_expired = function() told = told + 1 end })
  reg:subscribe{ uri = LIVE .. "a" }
  local changes, err = while_locked(self.path, function() return reg:record(LIVE .. "a", EXPIRED, "toast") end)
  lu.assertNil(changes)
  lu.assertStrContains(tostring(err), "locked")
  lu.assertEquals(told, 0)
  lu.assertNotNil(reg:get(LIVE .. "a"))
  local _, expired = reg:record(LIVE .. "a", EXPIRED, "toast")
  lu.assertEquals(expired.uri, LIVE .. "a")
  lu.assertEquals(told, 1)
  reg:close()
end

function TestSqlite:test_expire_when_the_read_fails_is_an_error()
  local told = 0
  local st = require("mpns.store.memory").new()
  local reg = mpns.registry.open{ store = st, on_expired = function() told = told + 1 end }
  reg:subscribe{ uri = LIVE .. "a" }
  st.get = function() return nil, "backend down" end
  local changes, err = reg:record(LIVE .. "a", EXPIRED, "toast")
  lu.assertNil(changes)
  lu.assertStrContains(err, "backend down")
  lu.assertEquals(told, 0)
end

-- A child process writes; it is killed with SIGKILL in the middle of a big
-- transaction (after an earlier one committed), then the database is reopened.
local CHILD = [[
local reg = assert(require("mpns").registry.open{ path = arg[1] })
local list = {}
for i = 1, 100 do list[i] = { uri = "http://a.notify.live.net/c/" .. i, tags = { "t" } } end
assert(reg:subscribe_many(list) == 100)
local st, marked = reg.store, false
st:batch(function()
  for i = 101, 1e9 do
    st:subscribe({ uri = "http://a.notify.live.net/c/" .. i, tags = { "t", "u" } }, 1)
    -- the marker once the open transaction has spilled 1 MB into the WAL
    -- (a row count would depend on how fast this machine runs the child)
    if i % 1000 == 0 and not marked then
      local wal = io.open(arg[1] .. "-wal", "rb")
      marked = wal and wal:seek("end") > 1e6
      if wal then wal:close() end
      if marked then io.open(arg[2], "w"):close() end
    end
  end
end)
]]

local function interpreter()
  local i = -1
  while arg[i - 1] do i = i - 1 end
  return arg[i]
end

-- Starts `code` under this interpreter with the database path and `out`
-- as its arguments (its log in the test's dir); returns its PID.
local function spawn(self, code, out)
  local script, pidfile = self.dir .. "/child.lua", self.dir .. "/pid"
  require("proc").write_file(script, code)
  assert(os.execute(string.format("%s %s %s %s >%s/child.log 2>&1 & echo $! > %s",
    interpreter(), script, self.path, out, self.dir, pidfile)))
  return require("proc").read_file(pidfile):match("%d+")
end

function TestSqlite:test_kill_9_mid_transaction_loses_nothing_committed()
  local marker = self.dir .. "/marker"
  local pid = spawn(self, CHILD, marker)
  for _ = 1, 600 do
    if io.open(marker) then break end
    os.execute("sleep 0.05")
  end
  lu.assertNotNil(io.open(marker), "the child never reached the middle of its batch: "
    .. tostring(require("proc").read_file(self.dir .. "/child.log")))
  os.execute("kill -9 " .. pid)
  while require("proc").alive(pid) do os.execute("sleep 0.05") end
  -- the open transaction had spilled pages into the WAL: the crash is real
  local wal = io.open(self.path .. "-wal", "rb")
  lu.assertTrue(wal:seek("end") > 1e6, "WAL of " .. wal:seek("end") .. " bytes")
  wal:close()
  local reg = assert(mpns.registry.open{ path = self.path })
  lu.assertEquals(reg:count{ all = true }, 100)
  lu.assertEquals(reg:count{ tag = "t" }, 100)
  lu.assertEquals(reg:count{ tag = "u" }, 0)
  reg:close()
  lu.assertEquals(pragma(self.path, "integrity_check"), "ok")
end

-- mpns.sqlite_wal (csrc/lsqlite_wal.c) gathers a commit's WAL writes into
-- one write: the commit must be in the file when the call returns, or
-- another connection would read frames that are not there.
function TestSqlite:test_each_commit_is_in_the_file_when_the_call_returns()
  local sqlite = require "mpns.store.sqlite"
  lu.assertEquals(sqlite.VFS, "mpns-wal")  -- the built tree has it: the store uses it
  local reg = assert(mpns.registry.open{ path = self.path })
  local other = assert(sqlite.new{ path = self.path, gather_wal = false })  -- SQLite's own VFS
  for i = 1, 300 do
    assert(reg:subscribe{ uri = LIVE .. i, user = "u" .. i, tags = { "t" } })
    local rec = other:get(LIVE .. i)
    lu.assertEquals(rec and rec.user, "u" .. i)
  end
  -- one commit of ~700 KB of WAL: several buffers' worth, written in order
  local list = {}
  for i = 1, 3000 do list[i] = { uri = LIVE .. "m" .. i, user = "m" .. i, tags = { "a", "b" } } end
  lu.assertEquals(reg:subscribe_many(list), 3000)
  lu.assertEquals(other:count{ tag = "b" }, 3000)
  -- and the other way round: what SQLite's own VFS commits, this one reads
  assert(other:subscribe({ uri = LIVE .. "o", tags = {} }, 1))
  lu.assertEquals(reg:get(LIVE .. "o").uri, LIVE .. "o")
  other:close()
  reg:close()
  lu.assertEquals(pragma(self.path, "integrity_check"), "ok")
end

-- mpns.sqlite_wal declines the read-mark update at the start of a read
-- (csrc/lsqlite_wal.c, declined()): a read still sees the newest commit,
-- whoever made it, and the checkpoints still set the marks they need, so
-- the WAL starts over instead of growing (here every 50 pages, ~7 commits).
function TestSqlite:test_reads_see_the_newest_commit_and_the_wal_starts_over()
  local sqlite = require "mpns.store.sqlite"
  local reg = assert(mpns.registry.open{ path = self.path })
  local other = assert(sqlite.new{ path = self.path, gather_wal = false })  -- SQLite's own VFS
  on_store(reg, "PRAGMA wal_autocheckpoint = 50")
  local biggest = 0
  for i = 1, 300 do
    assert(reg:subscribe{ uri = LIVE .. i, user = "u" .. i, tags = { "t" } })
    assert(other:subscribe({ uri = LIVE .. "o" .. i, os = "8.0", tags = {} }, i))
    lu.assertEquals(reg:get(LIVE .. "o" .. i).created_at, i)
    lu.assertEquals(other:get(LIVE .. i).user, "u" .. i)
    local wal = io.open(self.path .. "-wal", "rb")
    biggest = math.max(biggest, wal:seek("end"))
    wal:close()
  end
  lu.assertTrue(biggest < 256 * 1024, "the WAL grew to " .. biggest .. " bytes")
  lu.assertEquals(reg:count{ all = true }, 600)
  other:close()
  reg:close()
  lu.assertEquals(pragma(self.path, "integrity_check"), "ok")
end

-- A path is passed to SQLite as a URI filename (to name the VFS): the
-- characters a URI gives a meaning to still name the file itself.
function TestSqlite:test_a_path_with_uri_characters_names_that_file()
  local path = self.dir .. "/a?b#c%41 d.db"
  local reg = assert(mpns.registry.open{ path = path })
  assert(reg:subscribe{ uri = LIVE .. "a" })
  reg:close()
  lu.assertNotNil(io.open(path, "rb"))
  lu.assertEquals(sql_on(path, { "SELECT count(*) FROM channels" }), 1)
end

-- Every subscribe that returned survives a kill -9 of its process: the
-- child notes each one in a file after it returned, one call at a time.
local SUBSCRIBER = [[
local reg = assert(require("mpns").registry.open{ path = arg[1] })
local done = io.open(arg[2], "a")
done:setvbuf("no")  -- one write a line, in the kernel before the next subscribe
for i = 1, 1000000 do
  assert(reg:subscribe{ uri = "http://a.notify.live.net/c/" .. i, tags = { "t" } })
  done:write(i .. "\n")  -- one write: a kill cannot split the number from its newline
end
]]

function TestSqlite:test_kill_9_loses_no_subscribe_that_returned()
  local done = self.dir .. "/done"
  local pid = spawn(self, SUBSCRIBER, done)
  local function returned()  -- the last whole line (a partial one after it is ignored)
    return tonumber((require("proc").read_file(done) or ""):match("(%d+)\n%d*$")) or 0
  end
  for _ = 1, 600 do
    if returned() >= 500 then break end
    os.execute("sleep 0.05")
  end
  os.execute("kill -9 " .. pid)
  while require("proc").alive(pid) do os.execute("sleep 0.05") end
  local n = returned()
  lu.assertTrue(n >= 500, "the child subscribed " .. n .. ": "
    .. tostring(require("proc").read_file(self.dir .. "/child.log")))
  local reg = assert(mpns.registry.open{ path = self.path })
  lu.assertTrue(reg:count{ all = true } >= n)
  for i = 1, n do lu.assertNotNil(reg:get("http://a.notify.live.net/c/" .. i), i) end
  reg:close()
  lu.assertEquals(pragma(self.path, "integrity_check"), "ok")
end

os.exit(lu.LuaUnit.run() == 0)
