-- The five push patterns (lua/mpns/patterns/) against the emulator, through
-- the libcurl sender: every branch the recipe (seed 003) names, read back
-- from what the emulated phone received and what the registry recorded.
-- spec/app_spec.lua runs the same patterns through the resty sender in nginx.
local lu = require "luaunit"
local mpns = require "mpns"
local emu = require "emu"

local e = assert(emu.start {})
local n = 0
local function id(tag) n = n + 1; return (tag or "p") .. "-" .. n end

local reg, sender

local function setup()
  reg = mpns.registry.open { store = "memory", allowed_hosts = { "127.0.0.1:*" } }
  sender = mpns.sender.new("client", { max_connections = 8, retry = { max_attempts = 1 } })
end

-- A channel on the emulator in `state`, registered for `user`.
local function phone(user, state, extra)
  local ch = id(user)
  if state then assert(e:set(ch, state)) end
  local f = { user = user, uri = e.http_prefix .. ch, os = "8.0" }
  for k, v in pairs(extra or {}) do f[k] = v end
  assert(reg:subscribe(f))
  return ch, f.uri
end

-- What the phone received, oldest first.
local function got(ch)
  local st = e:get(ch)
  return st and st.notifications or {}
end

local function kinds(ch)
  local out = {}
  for i, note in ipairs(got(ch)) do out[i] = note.kind end
  return out
end

local function decoded_raw(note)
  local b = require("mime").unb64(note.raw)
  return b
end

-- ---- one-time push -----------------------------------------------------------

TestOneTime = { setUp = setup }

function TestOneTime:test_every_kind_to_every_channel_of_a_user()
  local a = phone("ann")
  local b = phone("ann")
  local other = phone("bob")
  local seen = {}
  local p = mpns.patterns.one_time.new { registry = reg, sender = sender,
    on_result = function(ch, res) seen[#seen + 1] = ch.uri .. " " .. res.outcome end }
  local s = p:send({ mpns.toast { text1 = "Hi" }, mpns.tile { title = "T", count = 2 }, mpns.raw "r1" },
    { user = "ann" })
  lu.assertEquals(kinds(a), { "toast", "tile", "raw" })
  lu.assertEquals(kinds(b), { "toast", "tile", "raw" })
  lu.assertEquals(got(other), {})
  lu.assertEquals(s.counts, { received = 6 })
  lu.assertEquals(s.channels, 2)
  lu.assertEquals(s.sent, 6)
  lu.assertEquals(#seen, 6)
  lu.assertEquals(tostring(s), "one_time.send: 2 channels, 6 sent (received 6)")
  lu.assertEquals(reg:get(e.http_prefix .. a).last_outcome, "received")
end

function TestOneTime:test_downgrade_per_os_and_skip_what_an_os_cannot_show()
  local old = phone("cy", nil, { os = "7.0" })
  local new = phone("cy")
  local p = mpns.patterns.one_time.new { registry = reg, sender = sender }
  local s = p:send({ mpns.toast { param = "/Only.xaml" },
    mpns.flip_tile { title = "F", back_content = "back", count = 1 } }, { user = "cy" })
  lu.assertEquals(kinds(old), { "tile" })
  lu.assertNil(got(old)[1].attributes and got(old)[1].attributes.Template)   -- a plain 7.0 tile
  lu.assertNil(got(old)[1].fields.BackContent)
  lu.assertEquals(kinds(new), { "toast", "tile" })
  lu.assertEquals(got(new)[2].attributes.Template, "FlipTile")
  lu.assertEquals(s.skipped, 1)
  lu.assertEquals(s.counts, { received = 3 })
  lu.assertStrContains(tostring(s), "1 skipped (1: mpns.toast: nothing a 7.0 device can show")
end

function TestOneTime:test_expired_channel_leaves_the_registry_and_tag_filter()
  local gone, gone_uri = phone("di", { subscription = "Expired" }, { tags = { "news" } })
  local kept = phone("di")
  local s = mpns.patterns.one_time.new { registry = reg, sender = sender }
    :send(mpns.toast { text1 = "x" }, { tag = "news" })
  lu.assertEquals(s.counts, { expired = 1 })
  lu.assertNil(reg:get(gone_uri))
  lu.assertEquals(got(kept), {})
  lu.assertNotNil(gone)
end

function TestOneTime:test_small_batches_reach_every_channel()
  local ids = {}
  for i = 1, 5 do ids[i] = phone("bat") end
  local s = mpns.patterns.one_time.new { registry = reg, sender = sender, batch = 2 }
    :send(mpns.raw "b", { user = "bat" })
  lu.assertEquals(s.counts, { received = 5 })
  for _, ch in ipairs(ids) do lu.assertEquals(kinds(ch), { "raw" }) end
end

function TestOneTime:test_bad_input_raises_naming_it()
  lu.assertErrorMsgContains("option 'sender' is required",
    mpns.patterns.one_time.new, { registry = reg })
  lu.assertErrorMsgContains("option 'batch' must be an integer >= 1",
    mpns.patterns.one_time.new, { registry = reg, sender = sender, batch = 0 })
  lu.assertErrorMsgContains("unknown option 'sendr'",
    mpns.patterns.one_time.new, { registry = reg, sender = sender, sendr = 1 })
  local p = mpns.patterns.one_time.new { registry = reg, sender = sender }
  lu.assertErrorMsgContains("send expects a message", p.send, p, {})
  lu.assertErrorMsgContains("message 2 is not an mpns message", p.send, p, { mpns.raw "x", "y" })
end

-- ---- counter -------------------------------------------------------------------

TestCounter = { setUp = setup }

local function counter(extra)
  local o = { registry = reg, sender = sender, title = "Inbox", background_image = "/Images/inbox.png" }
  for k, v in pairs(extra or {}) do o[k] = v end
  return mpns.patterns.counter.new(o)
end

function TestCounter:test_app_running_gets_the_probe_only()
  local ch, uri = phone("eve")
  local s = counter():bump { user = "eve" }
  lu.assertEquals(kinds(ch), { "raw" })
  lu.assertEquals(decoded_raw(got(ch)[1]), "ping")
  lu.assertEquals(reg:get(uri).counter, 0)
  lu.assertEquals(s.counts, { received = 1 })
end

function TestCounter:test_app_not_running_gets_counter_plus_one_each_bump()
  local ch, uri = phone("fay", { app_running = false })
  local c = counter { probe = "any news?" }
  c:bump { user = "fay" }
  local s = c:bump { user = "fay" }
  lu.assertEquals(kinds(ch), { "tile", "tile" })           -- suppressed probes are not kept
  lu.assertEquals(got(ch)[1].fields, { Count = "1", Title = "Inbox", BackgroundImage = "/Images/inbox.png" })
  lu.assertEquals(got(ch)[2].fields.Count, "2")
  lu.assertEquals(reg:get(uri).counter, 2)
  lu.assertEquals(s.counts, { suppressed = 1, received = 1 })
  lu.assertEquals(reg:get(uri).tile.count, 2)
end

function TestCounter:test_stored_title_wins_over_the_option()
  local ch, uri = phone("gus", { app_running = false })
  reg:set_tile(uri, { kind = "tile", title = "Mine", background_image = "/Images/mine.png" })
  counter():bump { user = "gus" }
  lu.assertEquals(got(ch)[1].fields, { Count = "1", Title = "Mine", BackgroundImage = "/Images/mine.png" })
end

function TestCounter:test_temp_disconnected_gets_nothing_more()
  local queued, q_uri = phone("hal", { device = "TempDisconnected" })
  local closed, c_uri = phone("hal", { device = "TempDisconnected", app_running = false })
  local s = counter():bump { user = "hal" }
  lu.assertEquals(s.sent, 2)                               -- the two probes, no tile
  lu.assertEquals(s.counts, { received = 1, suppressed = 1 })
  lu.assertEquals(reg:get(q_uri).counter, 0)
  lu.assertEquals(reg:get(c_uri).counter, 0)
  assert(e:set(queued, { device = "Connected" }))          -- the queued probe arrives, nothing else
  lu.assertEquals(kinds(queued), { "raw" })
  lu.assertEquals(got(closed), {})
end

function TestCounter:test_expired_or_inactive_gets_no_tile()
  local _, gone = phone("ida", { subscription = "Expired" })
  local away, away_uri = phone("ida", { device = "InActive" })
  local s = counter():bump { user = "ida" }
  lu.assertEquals(s.sent, 2)
  lu.assertEquals(s.counts, { expired = 1, inactive = 1 })
  lu.assertNil(reg:get(gone))
  lu.assertEquals(reg:get(away_uri).counter, 0)
  lu.assertEquals(got(away), {})
end

-- A backed-off channel (retry_at ahead) gets no tile now, but its counter
-- still starts again from 0.
function TestCounter:test_logon_resets_backed_off_channels_too()
  local due, due_uri = phone("lb")
  local held, held_uri = phone("lb")
  reg:bump_counter(held_uri, 3)
  reg:record(held_uri, { kind = "connect", retry_after = 3600 })
  local c = mpns.patterns.counter.new { registry = reg, sender = sender, title = "C" }
  local s = c:logon("lb")
  lu.assertEquals(reg:get(held_uri).counter, 0)
  lu.assertEquals(#got(held), 0, "no tile while it is backed off")
  lu.assertEquals(s.channels, 1)
  lu.assertEquals(reg:get(due_uri).tile.count, 0)
  lu.assertEquals(got(due)[1].fields.Count, "0")
end

function TestCounter:test_logon_resets_to_zero()
  local ch, uri = phone("jo", { app_running = false })
  local c = counter()
  c:bump { user = "jo" }
  c:bump { user = "jo" }
  local s = c:logon("jo")
  lu.assertEquals(reg:get(uri).counter, 0)
  lu.assertEquals(got(ch)[3].fields.Count, "0")
  lu.assertEquals(tostring(s), "counter.logon: 1 channel, 1 sent (received 1)")
  c:bump { user = "jo" }
  lu.assertEquals(got(ch)[4].fields.Count, "1")
end

-- ---- ask to pin ----------------------------------------------------------------

TestAskToPin = { setUp = setup }

local function ask(extra)
  local o = { registry = reg, sender = sender, tile = { title = "Scores", count = 0 } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return mpns.patterns.ask_to_pin.new(o)
end

function TestAskToPin:test_pinned_gets_the_tile_only()
  local ch, uri = phone("kim")
  local s = ask():subscribed(uri)
  lu.assertEquals(kinds(ch), { "tile" })
  lu.assertEquals(got(ch)[1].fields, { Title = "Scores", Count = "0" })
  lu.assertEquals(s.counts, { received = 1 })
end

function TestAskToPin:test_not_pinned_gets_asked()
  local ch, uri = phone("lee", { tile_pinned = false })
  local s = ask { payload = "please pin" }:subscribed(reg:get(uri))
  lu.assertEquals(kinds(ch), { "raw" })
  lu.assertEquals(decoded_raw(got(ch)[1]), "please pin")
  lu.assertEquals(s.counts, { suppressed = 1, received = 1 })
end

function TestAskToPin:test_update_is_stored_and_resent_unchanged_on_subscribe()
  local ch, uri = phone("max")
  local a = ask()
  a:update({ count = 3 }, { user = "max" })
  a:update({ title = "Live" }, { user = "max" })
  a:subscribed(uri)
  local notes = got(ch)
  lu.assertEquals(#notes, 3)
  lu.assertEquals(notes[2].fields, { Title = "Live", Count = "3" })
  lu.assertEquals(notes[3].fields, notes[2].fields)
  lu.assertEquals(reg:get(uri).tile, { kind = "tile", title = "Live", count = 3 })
end

function TestAskToPin:test_unknown_channel_and_missing_tile_raise()
  lu.assertErrorMsgContains("option 'tile' is required", mpns.patterns.ask_to_pin.new,
    { registry = reg, sender = sender })
  lu.assertErrorMsgContains("no channel http://nowhere/x", ask().subscribed, ask(), "http://nowhere/x")
end

-- ---- a failing registry or send -------------------------------------------------

TestFailures = { setUp = setup }

-- record raising or returning nil, err: every send still counted and told.
-- (The patterns record through record_sent: record without its checks.)
function TestFailures:test_record_failures_are_counted_not_lost()
  local a, b = phone("rf"), phone("rf")
  local calls, seen = 0, 0
  reg.record_sent = function()
    calls = calls + 1
    if calls == 1 then error("store exploded") end
    return nil, "store busy"
  end
  local p = mpns.patterns.one_time.new { registry = reg, sender = sender,
    on_result = function() seen = seen + 1 end }
  local s = p:send({ mpns.toast { text1 = "Hi" } }, { user = "rf" })
  lu.assertEquals(#got(a) + #got(b), 2)
  lu.assertEquals(s.counts, { received = 2 })
  lu.assertEquals(seen, 2)
  lu.assertEquals(s.unrecorded, 2)
  lu.assertStrContains(s.record_errors[1], "store exploded")
  lu.assertEquals(s.record_errors[2], "store busy")
  lu.assertStrContains(tostring(s), "2 not recorded")
end

-- A registry of your own, without record_sent: the patterns record
-- through its record, with the message's kind as `msg`.
function TestFailures:test_a_registry_without_record_sent_gets_record()
  local _, uri = phone("rr")
  local own = { seen = {} }
  function own:channels()
    local given = false
    return function() if not given then given = true; return { uri = uri, os = "8.0" } end end
  end
  function own:record(u, r, kind, tile) self.seen[#self.seen + 1] = { u, r.outcome, kind, tile }; return {} end
  function own:flush() return true end
  local s = mpns.patterns.one_time.new { registry = own, sender = sender }:send(mpns.toast { text1 = "x" })
  lu.assertEquals(s.counts, { received = 1 })
  lu.assertEquals(s.unrecorded, 0)
  lu.assertEquals(own.seen, { { uri, "received", "toast", nil } })
end

-- A sender that gives done neither a result nor an error: the send is
-- counted, and unrecorded with why (never a raise out of the callback).
function TestFailures:test_a_sender_giving_no_outcome_is_counted_unrecorded()
  local _, uri = phone("no")
  local bad = { send = function(_, _, _, done, ctx) done(nil, nil, ctx) end, wait = function() return true end }
  local s = mpns.patterns.one_time.new { registry = reg, sender = bad }:send(mpns.toast { text1 = "x" }, { user = "no" })
  lu.assertEquals(s.sent, 1)
  lu.assertEquals(s.counts, { unknown = 1 })
  lu.assertEquals(s.unrecorded, 1)
  lu.assertStrContains(s.record_errors[1], "gave no result or error table")
  lu.assertNil(reg:get(uri).last_outcome)
end

-- A sender that calls done without send's ctx: a clear error from the run.
function TestFailures:test_a_sender_dropping_ctx_is_a_clear_error()
  phone("nc")
  local orig = sender.send
  local dropping = setmetatable({ send = function(snd, msg, uri, done)
    return orig(snd, msg, uri, function(res, err) done(res, err) end)
  end }, { __index = sender })
  local p = mpns.patterns.one_time.new { registry = reg, sender = dropping }
  lu.assertErrorMsgContains("called done without send's ctx", p.send, p, mpns.toast { text1 = "x" }, { user = "nc" })
end

-- The last tile is stored once MPNS answered, never for a send that failed.
function TestFailures:test_a_tile_is_stored_only_when_it_was_answered()
  local ok_ch, ok_uri = phone("ts")
  local dead = "http://127.0.0.1:9/nobody-listens"
  assert(reg:subscribe { uri = dead, user = "ts", os = "8.0" })
  local stored_before_answer
  local orig = sender.send
  sender.send = function(snd, msg, uri, done, ctx)
    return orig(snd, msg, uri, function(res, err)
      stored_before_answer = stored_before_answer or reg:get(uri).tile ~= nil
      done(res, err, ctx)
    end)
  end
  local c = mpns.patterns.counter.new { registry = reg, sender = sender, title = "C" }
  c:logon("ts")
  sender.send = orig
  lu.assertFalse(stored_before_answer)
  lu.assertEquals(reg:get(ok_uri).tile, { kind = "tile", title = "C", count = 0 })
  lu.assertNil(reg:get(dead).tile)
  lu.assertEquals(#got(ok_ch), 1)
end

-- ---- custom image and schedule --------------------------------------------------

TestImages = { setUp = setup }

local function tmpfile(bytes)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb")); f:write(bytes); f:close()
  return path
end

function TestImages:test_custom_image_points_each_channel_at_its_url()
  local a = phone("ned")
  local b = phone("ned")
  local file = tmpfile("\137PNG fake")
  local c = mpns.patterns.custom_image.new { registry = reg, sender = sender, file = file,
    url = "http://127.0.0.1:9/tiles/{id}.png", title = "Art" }
  local s = c:send({ count = 4 }, { user = "ned" })
  lu.assertEquals(got(a)[1].fields, { BackgroundImage = "http://127.0.0.1:9/tiles/" .. a .. ".png",
    Title = "Art", Count = "4" })
  lu.assertEquals(got(b)[1].fields.BackgroundImage, "http://127.0.0.1:9/tiles/" .. b .. ".png")
  lu.assertEquals(s.counts, { received = 2 })
  os.remove(file)
end

local PNG_SIG = "\137PNG\r\n\26\n"
local has_image = pcall(require, "mpns.image")

-- With the renderer built, image() draws the tile (never the file); the
-- `tile` option is the renderer's spec and image(id) still works with it.
function TestImages:test_custom_image_renders_with_the_tile_renderer()
  local file = tmpfile("\137PNG fake")
  local c = mpns.patterns.custom_image.new { registry = reg, sender = sender, file = file,
    url = "http://127.0.0.1:9/tiles/{id}.png", title = "Art" }
  local s = mpns.patterns.custom_image.new { registry = reg, sender = sender, file = file,
    url = "http://127.0.0.1:9/tiles/{id}.png", tile = { size = "small", title = "Sized", count = 3 } }
  if has_image then
    local png = assert(c:image("x"))
    lu.assertEquals(png:sub(1, 8), PNG_SIG)
    lu.assertNotEquals(png, "\137PNG fake")
    local small = assert(s:image("x"))
    lu.assertEquals(small:sub(1, 8), PNG_SIG)
    lu.assertEquals(small:byte(17) * 2^24 + small:byte(18) * 2^16 + small:byte(19) * 256 + small:byte(20), 159)
    local bad = mpns.patterns.custom_image.new { registry = reg, sender = sender, file = file,
      url = "http://x/{id}.png", tile = { titel = "x" } }
    local none, why = bad:image("x")
    lu.assertNil(none)
    lu.assertStrContains(why, "titel")
  else
    lu.assertEquals(c:image("x"), "\137PNG fake")
    lu.assertEquals(s:image("x"), "\137PNG fake")
  end
  os.remove(file)
end

function TestImages:test_schedule_test_now_and_serve()
  local ch = phone("oz")
  local file = tmpfile("\137PNG sched")
  local p = mpns.patterns.schedule.new { registry = reg, sender = sender, file = file,
    url = "http://127.0.0.1:9/tiles/schedule.png" }
  p:test_now { user = "oz" }
  lu.assertEquals(got(ch)[1].fields, { BackgroundImage = "http://127.0.0.1:9/tiles/schedule.png" })
  os.remove(file)
  local none = mpns.patterns.schedule.new { registry = reg, sender = sender, url = "http://x/s.png",
    tile = { title = "Later", size = "wp7" } }
  local png, why = none:image()
  if has_image then
    lu.assertEquals(png:sub(1, 8), PNG_SIG)
    lu.assertEquals(png:byte(19) * 256 + png:byte(20), 173)  -- the tile option's size
  else
    lu.assertNil(png)
    lu.assertStrContains(why, "no renderer")
  end
end

-- A tile fan-out keeps each channel's tile with its outcome: no store write
-- of its own per channel, and one tile to all groups into one write.
function TestImages:test_schedule_keeps_tiles_in_grouped_writes()
  local uris = {}
  for i = 1, 5 do uris[i] = select(2, phone("sg")) end
  reg:flush()
  local writes, depth = {}, 0  -- the registry's calls (the memory store's update_many calls update)
  for _, fn in ipairs { "update", "update_many", "incr" } do
    local orig = reg.store[fn]
    reg.store[fn] = function(...)
      if depth == 0 then writes[fn] = (writes[fn] or 0) + 1 end
      depth = depth + 1
      local r = { orig(...) }
      depth = depth - 1
      return table.unpack and table.unpack(r) or unpack(r)
    end
  end
  local p = mpns.patterns.schedule.new { registry = reg, sender = sender, url = "http://127.0.0.1:9/s.png" }
  lu.assertEquals(p:test_now { user = "sg" }.counts, { received = 5 })
  lu.assertEquals(writes, { update_many = 1 })
  for _, uri in ipairs(uris) do
    lu.assertEquals(reg:get(uri).tile, { kind = "tile", background_image = "http://127.0.0.1:9/s.png" })
  end
end

-- ---- the same patterns over SQLite (tiles come back through JSON) ---------------

TestOverSqlite = {}

function TestOverSqlite:setUp()
  self.path = os.tmpname()
  reg = assert(mpns.registry.open { store = "sqlite", path = self.path, allowed_hosts = { "127.0.0.1:*" } })
  sender = mpns.sender.new("client", { max_connections = 8, retry = { max_attempts = 1 } })
end

function TestOverSqlite:tearDown()
  reg:close()
  for _, suffix in ipairs { "", "-wal", "-shm" } do os.remove(self.path .. suffix) end
end

function TestOverSqlite:test_counter_and_ask_to_pin()
  local ch, uri = phone("sq", { app_running = false })
  local c = counter()
  c:bump { user = "sq" }
  c:bump { user = "sq" }
  lu.assertEquals(reg:get(uri).counter, 2)
  local a = ask()
  a:update({ title = "Stored" }, { user = "sq" })        -- over the counter's stored tile
  assert(e:set(ch, { tile_pinned = false, app_running = true }))   -- unpinned, app open
  local s = a:subscribed(uri)
  lu.assertEquals(s.counts, { suppressed = 1, received = 1 })
  local notes = got(ch)
  lu.assertEquals(notes[3].fields, { Title = "Stored", Count = "2", BackgroundImage = "/Images/inbox.png" })
  lu.assertEquals(notes[4].kind, "raw")
  lu.assertFalse(reg:get(uri).pinned)
end

function TestOverSqlite:test_callback_registration_is_recorded()
  local _, uri = phone("cbr")
  local fake = { register_callback = function(_, u, cb, data, done)
    lu.assertEquals({ u, cb, data }, { uri, "http://127.0.0.1/cb", "wake" })
    done({ status = 200, ok = true, outcome = "registered" })
  end, wait = function() end }
  local res = mpns.patterns.register_callback(reg, fake, uri, "http://127.0.0.1/cb", "wake")
  lu.assertTrue(res.ok)
  lu.assertEquals(reg:get(uri).callback.uri, "http://127.0.0.1/cb")
  lu.assertErrorMsgContains("no channel http://127.0.0.1/none", mpns.patterns.register_callback,
    reg, fake, "http://127.0.0.1/none", "http://127.0.0.1/cb")
end

local rc = lu.LuaUnit.run()
e:stop()
os.exit(rc == 0)
