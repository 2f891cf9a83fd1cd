-- The emulated phone downloads remote tile images as Windows Phone did:
-- only from allowed domains, bounded in size and time, PNG or JPEG only,
-- after MPNS's answer; ShellTileSchedule polls a URI. The images come from
-- a plain nginx playing the app (spec/app.lua).
local lu = require "luaunit"
local cjson = require "cjson"
local emu = require "emu"
local app = require "app"
local png = require "png"

-- hourly schedules poll every 0.5 s; downloads give up after 1 s.
local e = assert(emu.start { image_max_bytes = 20000, image_timeout = 1, clock_speed = 7200 })
local IMAGE = png.stripes(48, 48, { 27, 161, 226 }, { 255, 255, 255 }) -- about 7 KB
local BIG = png.stripes(100, 100, { 200, 0, 0 }, { 0, 0, 0 })         -- about 30 KB
local a = assert(app.start { ["tile.png"] = IMAGE, ["big.png"] = BIG, ["notes.txt"] = ("text "):rep(50),
  ["fake.jpg"] = "\255\216\255\224" .. ("j"):rep(100) })

local n = 0
local function fresh() n = n + 1; return "phone-" .. n end

local function flip(fields)
  local children = {}
  for _, f in ipairs(fields) do children[#children + 1] = f end
  return emu.xml("Tile", children, { Template = "FlipTile" }, { Version = "2.0" })
end

local function push_tile(id, body)
  local r = e:push(id, { headers = emu.headers("tile"), body = body })
  lu.assertEquals({ r.status, r.headers["x-notificationstatus"] }, { 200, "Received" })
  return r
end

-- The channel once it has `count` downloads (they run after the answer).
local function downloads(id, count)
  local ch
  for _ = 1, 100 do
    ch = assert(e:get(id))
    if #ch.downloads >= count then return ch end
    os.execute("sleep 0.1")
  end
  lu.fail("expected " .. count .. " downloads, got " .. cjson.encode(ch.downloads))
end

-- A positive event instead of a fixed sleep before a negative check: a
-- marker tile pushed now to a fresh channel has been downloaded, so the
-- phone's download queue (first in, first out) got past everything before.
local function queue_passed()
  local marker = "marker-" .. os.time() .. "-" .. math.random(1e9)
  assert(e:set(marker, { allowed_domains = { "127.0.0.1" } }))
  push_tile(marker, flip { { "BackgroundImage", a.url .. "/tile.png" } })
  downloads(marker, 1)
end

local function outcome_of(id, url, domains)
  assert(e:set(id, { allowed_domains = domains or { "127.0.0.1" } }))
  push_tile(id, flip { { "BackgroundImage", url }, { "Title", "t" } })
  local ch = downloads(id, 1)
  return ch.downloads[1].outcome, ch
end

TestPhone = {}

function TestPhone:test_allowed_image_is_shown_and_served_back()
  local id = fresh()
  local outcome, ch = outcome_of(id, a.url .. "/tile.png")
  lu.assertEquals(outcome, "shown")
  local d = ch.downloads[1]
  lu.assertEquals({ d.field, d.url, d.bytes, d.type }, { "BackgroundImage", a.url .. "/tile.png", #IMAGE, "png" })
  -- Next to the notification that asked for it.
  lu.assertEquals(ch.notifications[1].images.BackgroundImage.outcome, "shown")
  local img = emu.request { url = "http://127.0.0.1:" .. e.port .. "/phones/images/" .. d.image }
  lu.assertEquals(img.status, 200)
  lu.assertEquals(img.headers["content-type"], "image/png")
  lu.assertTrue(img.body == IMAGE, "the served image differs from the app's")
end

function TestPhone:test_no_allowed_domains_means_not_allowed()
  local id = fresh()
  push_tile(id, flip { { "BackgroundImage", a.url .. "/tile.png" } })
  lu.assertEquals(downloads(id, 1).downloads[1].outcome, "not_allowed")
  lu.assertEquals(outcome_of(fresh(), a.url .. "/tile.png", { "localhost" }), "not_allowed")
  lu.assertEquals(outcome_of(fresh(), "http://localhost:" .. a.port .. "/tile.png", { "LocalHost" }), "shown")
end

function TestPhone:test_refusals_each_have_their_outcome()
  lu.assertEquals(outcome_of(fresh(), a.url .. "/big.png"), "too_big")
  lu.assertEquals(outcome_of(fresh(), a.url .. "/notes.txt"), "not_an_image")
  lu.assertEquals(outcome_of(fresh(), a.url .. "/missing.png"), "http_404")
  -- A JPEG's magic bytes are enough.
  lu.assertEquals(outcome_of(fresh(), a.url .. "/fake.jpg"), "shown")
end

-- Other answers from the emulator's own ports: a chunked JSON body, and
-- HTTPS (the TLS port wants a client certificate, so it answers 401).
function TestPhone:test_chunked_and_https_answers()
  local outcome, ch = outcome_of(fresh(), "http://127.0.0.1:" .. e.port .. "/control/channels")
  lu.assertEquals(outcome, "not_an_image")
  lu.assertStrMatches(ch.downloads[1].detail, "[1-9]%d* bytes")
  lu.assertEquals(outcome_of(fresh(), "https://127.0.0.1:" .. e.tls_port .. "/x.png"), "http_401")
  lu.assertEquals(outcome_of(fresh(), "http://127.0.0.1:1/x.png"), "unreachable")
end

function TestPhone:test_slow_download_times_out()
  local outcome, ch = outcome_of(fresh(), a.url .. "/slow/tile.png") -- 7 KB at 1 KB/s, 1 s allowed
  lu.assertEquals(outcome, "timeout")
  -- at least the 1 s allowed, well under the 7 s the whole file would take
  lu.assertTrue(ch.downloads[1].ms >= 900 and ch.downloads[1].ms < 6000, "took " .. ch.downloads[1].ms .. " ms")
end

function TestPhone:test_every_remote_image_of_a_notification_is_fetched()
  local id = fresh()
  assert(e:set(id, { allowed_domains = { "127.0.0.1" } }))
  push_tile(id, flip { { "SmallBackgroundImage", "/Images/small.png" }, { "BackgroundImage", a.url .. "/tile.png" },
    { "BackBackgroundImage", a.url .. "/missing.png" } })
  local ch = downloads(id, 2)
  queue_passed()
  ch = e:get(id)
  lu.assertEquals(#ch.downloads, 2, "local images are not downloaded")
  local images = ch.notifications[1].images
  lu.assertEquals({ images.BackgroundImage.outcome, images.BackBackgroundImage.outcome }, { "shown", "http_404" })
end

function TestPhone:test_toasts_and_local_tiles_download_nothing()
  local id = fresh()
  assert(e:set(id, { allowed_domains = { "127.0.0.1" } }))
  e:push(id, { headers = emu.headers("toast"), body = emu.xml("Toast", { { "Text1", a.url .. "/tile.png" } }) })
  push_tile(id, flip { { "BackgroundImage", "/Images/front.png" } })
  queue_passed()
  lu.assertEquals(#e:get(id).downloads, 0)
end

function TestPhone:test_queued_tile_downloads_when_the_device_returns()
  local id = fresh()
  assert(e:set(id, { allowed_domains = { "127.0.0.1" }, device = "TempDisconnected" }))
  local r = e:push(id, { headers = emu.headers("tile"), body = flip { { "BackgroundImage", a.url .. "/tile.png" } } })
  lu.assertEquals(r.headers["x-deviceconnectionstatus"], "TempDisconnected")
  queue_passed()
  lu.assertEquals(#e:get(id).downloads, 0)
  assert(e:set(id, { device = "Connected" }))
  local ch = downloads(id, 1)
  lu.assertEquals(ch.notifications[1].images.BackgroundImage.outcome, "shown")
end

function TestPhone:test_allowed_domains_are_loopback_hosts_only()
  local id = fresh()
  for _, bad in ipairs { { "example.com" }, { "10.0.0.1" }, "127.0.0.1", { 5 } } do
    local _, err, status = e:set(id, { allowed_domains = bad })
    lu.assertEquals(status, 400, cjson.encode(bad))
    lu.assertStrContains(err, "allowed_domains")
  end
  local ch = assert(e:set(id, { allowed_domains = { "127.0.0.1", "localhost", "::1" } }))
  lu.assertEquals(ch.allowed_domains, { "127.0.0.1", "localhost", "::1" })
  lu.assertNil(assert(e:set(id, { allowed_domains = cjson.null })).allowed_domains)
end

function TestPhone:test_schedule_polls_hourly_at_clock_speed()
  local id = fresh()
  local ch = assert(e:set(id, { schedule = { uri = a.url .. "/tile.png", max_count = 3 } }))
  lu.assertEquals({ ch.schedule.interval, ch.schedule.recurrence, ch.schedule.max_count }, { "hourly", "interval", 3 })
  ch = downloads(id, 3)
  os.execute("sleep 1")
  ch = e:get(id)
  lu.assertEquals(#ch.downloads, 3, "max_count ends the schedule")
  for i, d in ipairs(ch.downloads) do
    lu.assertEquals({ d.schedule, d.poll, d.outcome, d.field }, { true, i, "shown", "BackgroundImage" })
  end
  -- One hour at clock speed 7200 is 0.5 s.
  local gap = ch.downloads[3].time - ch.downloads[2].time
  lu.assertTrue(gap > 0.3 and gap < 5, "polls " .. gap .. " s apart")
end

function TestPhone:test_schedule_once_and_stop()
  local id = fresh()
  assert(e:set(id, { schedule = { uri = a.url .. "/missing.png", recurrence = "once", interval = 1 } }))
  lu.assertEquals(downloads(id, 1).downloads[1].outcome, "http_404")
  local other = fresh()
  assert(e:set(other, { schedule = { uri = a.url .. "/tile.png", interval = 900 } })) -- 0.125 s here
  downloads(other, 2)
  lu.assertNil(assert(e:set(other, { schedule = cjson.null })).schedule)
  local after = #e:get(other).downloads
  -- the same schedule on a fresh channel polls 4 times meanwhile (>= 0.375 s)
  local witness = fresh()
  assert(e:set(witness, { schedule = { uri = a.url .. "/tile.png", interval = 900, max_count = 4 } }))
  downloads(witness, 4)
  lu.assertTrue(#e:get(other).downloads <= after + 1, "a stopped schedule keeps polling")
  lu.assertEquals(#e:get(id).downloads, 1, "once polls once")
end

function TestPhone:test_schedule_settings_are_checked()
  local id = fresh()
  local BAD = {
    { { uri = "http://example.com/t.png" }, "schedule.uri" },
    { { uri = "ftp://127.0.0.1/t.png" }, "schedule.uri" },
    { { uri = a.url, interval = "daily" }, "schedule.interval" },
    { { uri = a.url, recurrence = "twice" }, "schedule.recurrence" },
    { { uri = a.url, max_count = -1 }, "schedule.max_count" },
    { { uri = a.url, start = 1 }, "schedule.start" },
    { "http://127.0.0.1/", "schedule must be" },
  }
  for _, case in ipairs(BAD) do
    local _, err, status = e:set(id, { schedule = case[1] })
    lu.assertEquals(status, 400, cjson.encode(case[1]))
    lu.assertStrContains(err, case[2])
  end
end

-- The phone view's data: the tile as the phone keeps it across updates.
local function view_phone(id)
  local r = emu.request { url = "http://127.0.0.1:" .. e.port .. "/phones/state.json?q=" .. id }
  lu.assertEquals(r.status, 200)
  for _, p in ipairs(cjson.decode(r.body).phones) do
    if p.id == id then return p end
  end
  lu.fail("no phone " .. id .. " in state.json")
end

function TestPhone:test_view_keeps_the_last_shown_image_when_a_download_fails()
  local id = fresh()
  assert(e:set(id, { allowed_domains = { "127.0.0.1" } }))
  push_tile(id, flip { { "BackgroundImage", a.url .. "/tile.png" }, { "Count", "3" }, { "Title", "One" } })
  downloads(id, 1)
  push_tile(id, flip { { "BackgroundImage", a.url .. "/big.png" }, { "Title", "Two" } })
  local image = downloads(id, 2).downloads[1].image
  local t = view_phone(id).tiles[1]
  lu.assertEquals({ t.id, t.template, t.fields.Count, t.fields.Title }, { "", "FlipTile", "3", "Two" })
  lu.assertEquals(t.images.BackgroundImage.src, "images/" .. image)
  lu.assertEquals(t.failed.BackgroundImage, { url = a.url .. "/big.png", outcome = "too_big" })
  -- Clearing resets the property; a secondary tile (Id) is a tile of its own.
  push_tile(id, emu.xml("Tile", { { "BackgroundImage", "", { Action = "Clear" } }, { "Count", "", { Action = "Clear" } } },
    { Template = "FlipTile" }, { Version = "2.0" }))
  push_tile(id, emu.xml("Tile", { { "Title", "Second" } }, { Id = "/Page.xaml?s=2", Template = "FlipTile" }, { Version = "2.0" }))
  local tiles = view_phone(id).tiles
  lu.assertEquals(#tiles, 2)
  lu.assertNil(tiles[1].images.BackgroundImage)
  lu.assertNil(tiles[1].fields.Count)
  lu.assertEquals({ tiles[2].id, tiles[2].fields.Title }, { "/Page.xaml?s=2", "Second" })
end

function TestPhone:test_view_shows_schedule_images_on_the_primary_tile()
  local id = fresh()
  assert(e:set(id, { schedule = { uri = a.url .. "/tile.png", recurrence = "once" } }))
  local image = downloads(id, 1).downloads[1].image
  lu.assertEquals(view_phone(id).tiles[1].images.BackgroundImage.src, "images/" .. image)
end

local code = lu.LuaUnit.run()
a:stop()
e:stop()
os.exit(code == 0)
