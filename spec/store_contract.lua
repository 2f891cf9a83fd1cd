--- spec/store_contract.lua: the store interface (doc/push-kit.md, "Store
-- interface") as tests any store must pass. Usage, in a suite:
--   local contract = require "store_contract"
--   TestMyStore = contract(function() return require("mpns.store.x").new{...} end,
--                          function(store) --[[ drop its data ]] end)
-- `open()` must return an empty store; `cleanup(store)` (optional) runs after
-- each test, after the store is closed.
local lu = require "luaunit"
local NULL = require("mpns.store").NULL

local U = "http://sn1.notify.live.net/throttledthirdparty/01.00/"

return function(open, cleanup)
  local T = {}

  function T:setUp() self.s = assert(open()) end

  function T:tearDown()
    self.s:close()
    if cleanup then cleanup(self.s) end
  end

  local function sub(s, f, now) return s:subscribe(f, now or 100) end

  function T:test_subscribe_new_record_has_defaults()
    local rec, is_new, old = sub(self.s, { uri = U .. "a", user = "al", os = "7.1", tags = { "x", "y" } })
    lu.assertTrue(is_new)
    lu.assertNil(old)
    lu.assertEquals(rec, { uri = U .. "a", user = "al", os = "7.1", tags = { "x", "y" },
      counter = 0, created_at = 100, updated_at = 100 })
    lu.assertEquals(sub(self.s, { uri = U .. "b" }).os, "8.0")
    lu.assertEquals(self.s:get(U .. "b").tags, {})
  end

  function T:test_same_uri_twice_is_one_record()
    sub(self.s, { uri = U .. "a", user = "al", tags = { "x" } }, 100)
    local rec, is_new = sub(self.s, { uri = U .. "a", user = "al", tags = { "x" } }, 200)
    lu.assertFalse(is_new)
    lu.assertEquals(rec.updated_at, 100, "nothing changed: nothing written")
    rec = sub(self.s, { uri = U .. "a", os = "7.0" }, 300)
    lu.assertEquals({ rec.user, rec.os, rec.tags, rec.created_at, rec.updated_at },
      { "al", "7.0", { "x" }, 100, 300 })
    lu.assertEquals(self.s:count({}), 1)
  end

  function T:test_new_uri_for_known_device_moves_the_record()
    sub(self.s, { uri = U .. "old", device = "d1", user = "al" })
    lu.assertTrue(self.s:update(U .. "old", { tile = { kind = "tile", title = "T" }, pinned = true }))
    self.s:incr(U .. "old", "counter", 4)
    local rec, is_new, old = sub(self.s, { uri = U .. "new", device = "d1", user = "al" }, 150)
    lu.assertFalse(is_new)
    lu.assertEquals(old, U .. "old")
    lu.assertNil(self.s:get(U .. "old"))
    rec = self.s:get(U .. "new")
    lu.assertEquals({ rec.uri, rec.user, rec.counter, rec.pinned, rec.tile.title, rec.created_at, rec.updated_at },
      { U .. "new", "al", 4, true, "T", 100, 150 })
    lu.assertEquals(self.s:count({}), 1)
    lu.assertEquals(self.s:count({ device = "d1" }), 1)
  end

  function T:test_known_uri_taking_a_device_drops_its_old_channel()
    sub(self.s, { uri = U .. "a", device = "d1" })
    sub(self.s, { uri = U .. "b" })
    local rec, is_new, old = sub(self.s, { uri = U .. "b", device = "d1" })
    lu.assertEquals({ rec.device, is_new, old }, { "d1", false, U .. "a" })
    lu.assertNil(self.s:get(U .. "a"))
    lu.assertEquals(self.s:scan({ device = "d1" }, nil, 10)[1].uri, U .. "b")
  end

  -- A device changes hands only within one user (both absent counts):
  -- naming someone's device takes over nothing; the subscribe is stored
  -- as its own channel without the device.
  function T:test_another_users_device_is_not_taken_over()
    sub(self.s, { uri = U .. "old", device = "d1", user = "al" })
    self.s:incr(U .. "old", "counter", 4)
    for i, f in ipairs({ { user = "eve" }, {} }) do
      f.uri, f.device = U .. "new" .. i, "d1"
      local rec, is_new, old = sub(self.s, f, 150)
      lu.assertEquals({ rec.uri, rec.device, rec.user, is_new, old }, { U .. "new" .. i, nil, f.user, true, nil })
    end
    local rec = self.s:get(U .. "old")
    lu.assertEquals({ rec.device, rec.user, rec.counter }, { "d1", "al", 4 })
    lu.assertEquals(self.s:count({}), 3)
    lu.assertEquals(self.s:scan({ device = "d1" }, nil, 10)[1].uri, U .. "old")
    -- a known URI of another user does not take the device either
    sub(self.s, { uri = U .. "b", user = "eve" })
    local rec2, is_new, old = sub(self.s, { uri = U .. "b", device = "d1" })
    lu.assertEquals({ rec2.device, rec2.user, is_new, old }, { nil, "eve", false, nil })
    lu.assertEquals(self.s:get(U .. "old").device, "d1")
    -- the same user's new channel does take it
    local rec3, is_new3, old3 = sub(self.s, { uri = U .. "c", device = "d1", user = "al" })
    lu.assertEquals({ rec3.counter, is_new3, old3 }, { 4, false, U .. "old" })
  end

  function T:test_get_returns_a_fresh_copy()
    sub(self.s, { uri = U .. "a", tags = { "x" } })
    local rec = self.s:get(U .. "a")
    rec.tags[1], rec.user = "changed", "changed"
    lu.assertEquals(self.s:get(U .. "a").tags, { "x" })
    lu.assertNil(self.s:get(U .. "a").user)
    lu.assertNil(self.s:get(U .. "missing"))
  end

  function T:test_delete()
    sub(self.s, { uri = U .. "a", tags = { "x" } })
    lu.assertTrue(self.s:delete(U .. "a"))
    lu.assertFalse(self.s:delete(U .. "a"))
    lu.assertNil(self.s:get(U .. "a"))
    lu.assertEquals(self.s:count({ tag = "x" }), 0)
  end

  function T:test_update_sets_and_clears_every_kind_of_field()
    sub(self.s, { uri = U .. "a" })
    local changes = { last_outcome = "received", last_status = 200, last_at = 123.5,
      notification_status = "Received", device_status = "Connected", subscription_status = "Active",
      pinned = false, app_running = true, retry_at = 4000,
      tile = { kind = "flip_tile", title = "t", count = 0, cycle_images = { "/a.png", "/b.png" } },
      callback = { uri = "https://svc.example/cb", at = 99 } }
    lu.assertTrue(self.s:update(U .. "a", changes))
    local rec = self.s:get(U .. "a")
    for k, v in pairs(changes) do lu.assertEquals(rec[k], v, k) end
    lu.assertTrue(self.s:update(U .. "a", { pinned = NULL, retry_at = NULL, tile = NULL }))
    rec = self.s:get(U .. "a")
    lu.assertEquals({ rec.pinned, rec.retry_at, rec.tile, rec.app_running }, { nil, nil, nil, true })
    lu.assertFalse(self.s:update(U .. "missing", { pinned = true }))
  end

  -- A scan gives each record as get does: every kind of field read back as
  -- its Lua value, no other key; with `fields`, at least those.
  function T:test_a_scanned_record_is_the_record_get_returns()
    sub(self.s, { uri = U .. "a", user = "al", device = "d", os = "7.1", tags = { "x", "y" } })
    sub(self.s, { uri = U .. "b" })
    lu.assertTrue(self.s:update(U .. "a", { last_outcome = "received", last_status = 200, last_at = 123.5,
      notification_status = "Received", device_status = "Connected", subscription_status = "Active",
      pinned = false, app_running = true, retry_at = 4000, counter = 3,
      tile = { kind = "flip_tile", title = "t", count = 0 }, callback = { uri = "https://svc.example/cb", at = 99 } }))
    local page = self.s:scan({}, nil, 10)
    lu.assertEquals(page, { self.s:get(U .. "a"), self.s:get(U .. "b") })
    if math.type then  -- Lua 5.4: 3 == 3.0, so an integer read back as a float needs its own check
      for k, v in pairs(self.s:get(U .. "a")) do lu.assertEquals(math.type(page[1][k]), math.type(v), k) end
    end
    local some = self.s:scan({ due = 5000 }, nil, 10, { "uri", "os", "pinned", "retry_at" })
    for i, rec in ipairs(some) do
      local full = page[i]
      lu.assertEquals({ rec.uri, rec.os, rec.pinned, rec.retry_at }, { full.uri, full.os, full.pinned, full.retry_at })
      for k, v in pairs(rec) do lu.assertEquals(v, full[k], k) end
    end
  end

  function T:test_update_keeps_mpns_CLEAR_in_a_tile()
    local CLEAR = require("mpns").CLEAR
    sub(self.s, { uri = U .. "a" })
    self.s:update(U .. "a", { tile = { kind = "tile", title = "t", back_title = CLEAR } })
    lu.assertIs(self.s:get(U .. "a").tile.back_title, CLEAR)
  end

  function T:test_update_refuses_unknown_fields_and_the_key()
    sub(self.s, { uri = U .. "a" })
    lu.assertErrorMsgContains("cannot update field 'pined'", self.s.update, self.s, U .. "a", { pined = true })
    lu.assertErrorMsgContains("cannot update field 'uri'", self.s.update, self.s, U .. "a", { uri = "x" })
    lu.assertErrorMsgContains("cannot update field 'device'", self.s.update, self.s, U .. "a", { device = "x" })
  end

  function T:test_update_of_tags_moves_the_tag_filter()
    sub(self.s, { uri = U .. "a", tags = { "x" } })
    self.s:update(U .. "a", { tags = { "y" } })
    lu.assertEquals({ self.s:count({ tag = "x" }), self.s:count({ tag = "y" }) }, { 0, 1 })
    sub(self.s, { uri = U .. "a", tags = { "z" } })
    lu.assertEquals({ self.s:count({ tag = "y" }), self.s:count({ tag = "z" }) }, { 0, 1 })
    lu.assertTrue(self.s:update(U .. "a", { tags = NULL }))
    lu.assertEquals({ self.s:count({ tag = "z" }), self.s:get(U .. "a").tags }, { 0, {} })
  end

  function T:test_update_many_sets_the_same_changes_on_each()
    for i = 1, 3 do sub(self.s, { uri = U .. i, tags = { "x" } }) end
    lu.assertTrue(self.s:update_many({ U .. 1, U .. 3, U .. "missing" },
      { last_outcome = "received", last_status = 200, pinned = true, retry_at = NULL }))
    local got = {}
    for i = 1, 3 do
      local rec = self.s:get(U .. i)
      got[i] = { rec.last_outcome, rec.last_status, rec.pinned }
    end
    lu.assertEquals(got, { { "received", 200, true }, {}, { "received", 200, true } })
    lu.assertNil(self.s:get(U .. "missing"))
    lu.assertTrue(self.s:update_many({}, { pinned = false }))
    -- a quote or backslash in a URI (the registry refuses neither) names that record only
    local odd = { U .. 'q",' .. '"' .. U .. "2", U .. "b\\" }
    for _, uri in ipairs(odd) do sub(self.s, { uri = uri }) end
    lu.assertTrue(self.s:update_many(odd, { last_outcome = "odd" }))
    lu.assertEquals({ self.s:get(odd[1]).last_outcome, self.s:get(odd[2]).last_outcome,
      self.s:get(U .. 2).last_outcome }, { "odd", "odd", nil })
    lu.assertErrorMsgContains("cannot update field 'uri'", self.s.update_many, self.s, { U .. 1 }, { uri = "x" })
  end

  function T:test_incr()
    sub(self.s, { uri = U .. "a" })
    lu.assertEquals(self.s:incr(U .. "a", "counter", 1), 1)
    lu.assertEquals(self.s:incr(U .. "a", "counter", 5), 6)
    lu.assertEquals(self.s:incr(U .. "a", "counter", -6), 0)
    lu.assertNil(self.s:incr(U .. "missing", "counter", 1))
    lu.assertErrorMsgContains("incr needs a number field", self.s.incr, self.s, U .. "a", "user", 1)
  end

  function T:test_scan_pages_every_record_once_in_a_stable_order()
    for i = 1, 23 do sub(self.s, { uri = U .. i, user = (i % 2 == 0) and "even" or "odd" }) end
    local seen, cursor, pages = {}, nil, 0
    repeat
      local page
      page, cursor = self.s:scan({}, cursor, 5)
      pages = pages + 1
      lu.assertTrue(#page <= 5)
      for _, rec in ipairs(page) do
        lu.assertNil(seen[rec.uri], "seen twice: " .. rec.uri)
        seen[rec.uri] = true
        if rec.uri == U .. "7" then self.s:delete(U .. "20") end  -- deleted ahead of the cursor
      end
      lu.assertTrue(pages < 10)
    until cursor == nil
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    lu.assertEquals(n, 22)
    lu.assertNil(seen[U .. "20"])
    local first = self.s:scan({}, nil, 3)
    lu.assertEquals({ first[1].uri, first[2].uri, first[3].uri }, { U .. 1, U .. 2, U .. 3 })
  end

  function T:test_scan_and_count_filter()
    sub(self.s, { uri = U .. "1", user = "al", os = "7.0", tags = { "news", "sport" } })
    sub(self.s, { uri = U .. "2", user = "al", os = "8.0", tags = { "news" } })
    sub(self.s, { uri = U .. "3", user = "bo", os = "8.0", device = "d3" })
    self.s:update(U .. "2", { retry_at = 500 })
    local function uris(filter)
      local out = {}
      for i, rec in ipairs(self.s:scan(filter, nil, 100)) do out[i] = rec.uri end
      lu.assertEquals(self.s:count(filter), #out)
      return out
    end
    lu.assertEquals(uris({ user = "al" }), { U .. "1", U .. "2" })
    lu.assertEquals(uris({ tag = "news" }), { U .. "1", U .. "2" })
    lu.assertEquals(uris({ tag = "sport", user = "al" }), { U .. "1" })
    lu.assertEquals(uris({ os = "8.0" }), { U .. "2", U .. "3" })
    lu.assertEquals(uris({ device = "d3" }), { U .. "3" })
    lu.assertEquals(uris({ due = 499 }), { U .. "1", U .. "3" })
    lu.assertEquals(uris({ due = 500 }), { U .. "1", U .. "2", U .. "3" })
    lu.assertEquals(uris({ user = "nobody" }), {})
    lu.assertErrorMsgContains("unknown filter key 'usr'", self.s.scan, self.s, { usr = "al" }, nil, 10)
  end

  function T:test_batch_returns_what_fn_returns_and_passes_errors_on()
    local a, b = self.s:batch(function()
      sub(self.s, { uri = U .. "a" })
      return 1, "two"
    end)
    lu.assertEquals({ a, b }, { 1, "two" })
    lu.assertNotNil(self.s:get(U .. "a"))
    lu.assertErrorMsgContains("boom", self.s.batch, self.s, function() error("boom") end)
    sub(self.s, { uri = U .. "b" })  -- still usable after a failed batch
    lu.assertEquals(self.s:count({}), 2)
  end

  function T:test_close_is_idempotent()
    lu.assertTrue(self.s:close())
    lu.assertTrue(self.s:close())
  end

  return T
end
