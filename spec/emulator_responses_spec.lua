-- The MPNS emulator answers every row of the protocol's response table from
-- the channel's state, throttles unauthenticated channels, and exposes its
-- state through the control API. Driven over real HTTP with curl.
local lu = require "luaunit"
local cjson = require "cjson"
local emu = require "emu"

local e = assert(emu.start { keep = 5 })

local n = 0
local function fresh() n = n + 1; return "resp-" .. n end

local BODY = {
  toast = emu.xml("Toast", { { "Text1", "hello" } }),
  tile = emu.xml("Tile", { { "Count", "4" } }),
  raw = "raw bytes",
}

local function push(id, kind, opts)
  opts = opts or {}
  opts.headers = opts.headers or emu.headers(kind)
  opts.body = opts.body or BODY[kind]
  return e:push(id, opts)
end

-- HTTP status and the three status headers ("-" where a header is absent).
local function answer(r)
  local h = r.headers
  return { r.status, h["x-notificationstatus"] or "-", h["x-deviceconnectionstatus"] or "-",
           h["x-subscriptionstatus"] or "-" }
end

local function set(id, fields) return assert(e:set(id, fields)) end

TestResponses = {}

function TestResponses:test_unknown_channel_is_created_healthy_on_first_push()
  local id = fresh()
  local _, err, status = e:get(id)
  lu.assertEquals(status, 404, err)
  lu.assertEquals(answer(push(id, "toast")), { 200, "Received", "Connected", "Active" })
  local ch = assert(e:get(id))
  lu.assertEquals({ ch.device, ch.subscription, ch.app_running, ch.tile_pinned, ch.toasts },
    { "Connected", "Active", true, true, true })
  lu.assertEquals({ ch.queue_limit, ch.daily_limit, ch.pushes_today }, { 30, 500, 1 })
  lu.assertEquals(#ch.notifications, 1)
end

function TestResponses:test_every_kind_reaches_a_healthy_device()
  local id = fresh()
  for _, kind in ipairs { "toast", "tile", "raw" } do
    lu.assertEquals(answer(push(id, kind)), { 200, "Received", "Connected", "Active" }, kind)
  end
  local kinds = {}
  for i, note in ipairs(e:get(id).notifications) do kinds[i] = note.kind end
  lu.assertEquals(kinds, { "toast", "tile", "raw" })
end

-- Queued while away, up to the queue limit; delivered in order on return.
function TestResponses:test_temp_disconnected_queues_then_queue_full()
  local id = fresh()
  set(id, { device = "TempDisconnected", queue_limit = 2 })
  for i = 1, 2 do
    local r = push(id, "toast", { body = emu.xml("Toast", { { "Text1", "q" .. i } }) })
    lu.assertEquals(answer(r), { 200, "Received", "TempDisconnected", "Active" })
  end
  lu.assertEquals(answer(push(id, "toast")), { 200, "QueueFull", "TempDisconnected", "Active" })
  local ch = e:get(id)
  lu.assertEquals({ #ch.queued, #ch.notifications }, { 2, 0 })
  ch = set(id, { device = "Connected" })
  lu.assertEquals(#ch.queued, 0)
  lu.assertEquals({ ch.notifications[1].fields.Text1, ch.notifications[2].fields.Text1 }, { "q1", "q2" })
end

function TestResponses:test_queue_full_while_connected_when_there_is_no_room()
  local id = fresh()
  set(id, { queue_limit = 0 })
  lu.assertEquals(answer(push(id, "toast")), { 200, "QueueFull", "Connected", "Active" })
  lu.assertEquals(#e:get(id).notifications, 0)
end

-- Each kind is suppressed by its own device setting only.
function TestResponses:test_suppressed_per_kind()
  local cases = { tile = "tile_pinned", raw = "app_running", toast = "toasts" }
  for kind, setting in pairs(cases) do
    local id = fresh()
    set(id, { [setting] = false })
    lu.assertEquals(answer(push(id, kind)), { 200, "Suppressed", "Connected", "Active" }, kind)
    for other in pairs(cases) do
      if other ~= kind then
        lu.assertEquals(answer(push(id, other))[2], "Received", kind .. " off, " .. other)
      end
    end
    lu.assertEquals(#e:get(id).notifications, 2, kind)
  end
end

function TestResponses:test_suppressed_while_temp_disconnected()
  local id = fresh()
  set(id, { device = "TempDisconnected", app_running = false })
  lu.assertEquals(answer(push(id, "raw")), { 200, "Suppressed", "TempDisconnected", "Active" })
  lu.assertEquals(#e:get(id).queued, 0)
end

function TestResponses:test_dropped_by_the_device_side()
  local id = fresh()
  set(id, { drop = true })
  lu.assertEquals(answer(push(id, "toast")), { 200, "Dropped", "Connected", "Active" })
  lu.assertEquals(#e:get(id).notifications, 0)
end

function TestResponses:test_inactive_is_412_without_subscription_status()
  local id = fresh()
  set(id, { device = "InActive" })
  lu.assertEquals(answer(push(id, "toast")), { 412, "Dropped", "InActive", "-" })
  set(id, { device = "Disconnected" })
  lu.assertEquals(answer(push(id, "tile")), { 412, "Dropped", "Disconnected", "-" })
  lu.assertEquals(#e:get(id).notifications, 0)
end

function TestResponses:test_expired_is_404_dropped()
  local id = fresh()
  set(id, { subscription = "Expired" })
  lu.assertEquals(answer(push(id, "toast")), { 404, "Dropped", "Connected", "Expired" })
  set(id, { device = "InActive" }) -- an expired subscription wins
  lu.assertEquals(answer(push(id, "raw")), { 404, "Dropped", "InActive", "Expired" })
end

function TestResponses:test_message_id_is_echoed_on_every_row()
  local id = fresh()
  set(id, { subscription = "Expired" })
  local r = push(id, "toast", { headers = emu.headers("toast", { ["X-MessageID"] = "m-404" }) })
  lu.assertEquals({ r.status, r.headers["x-messageid"] }, { 404, "m-404" })
end

function TestResponses:test_daily_limit_per_channel_gives_406()
  local id, other = fresh(), fresh()
  set(id, { daily_limit = 3 })
  for i = 1, 3 do lu.assertEquals(push(id, "raw").status, 200, i) end
  lu.assertEquals(answer(push(id, "raw")), { 406, "Dropped", "Connected", "Active" })
  lu.assertEquals(answer(push(id, "toast"))[1], 406)
  lu.assertEquals(push(other, "raw").status, 200)
  lu.assertEquals(e:get(id).pushes_today, 5)
  -- Back to the emulator's default (500): the channel is under it again.
  local ch = set(id, { daily_limit = cjson.null })
  lu.assertEquals(ch.daily_limit, 500)
  lu.assertEquals(push(id, "raw").status, 200)
end

function TestResponses:test_notifications_kept_are_capped()
  local id = fresh()
  for i = 1, 7 do push(id, "toast", { body = emu.xml("Toast", { { "Text1", tostring(i) } }) }) end
  local texts = {}
  for i, note in ipairs(e:get(id).notifications) do texts[i] = note.fields.Text1 end
  lu.assertEquals(texts, { "3", "4", "5", "6", "7" })
end

-- A full notes dict makes room by evicting what was used least recently: the
-- newest notification is always kept, never counted as lost.
function TestResponses:test_full_notes_memory_evicts_old_not_new()
  local small = assert(emu.start { notes_size = "32k", keep = 1000 })
  local ok, err = pcall(function()
    local function toast(id, text)
      local r = small:push(id, { headers = emu.headers("toast"),
                                 body = emu.xml("Toast", { { "Text1", text } }) })
      lu.assertEquals(r.status, 200)
    end
    for i = 1, 300 do toast("busy", "n" .. i) end -- far more than 32 KB holds
    local kept = small:get("busy").notifications
    lu.assertTrue(#kept < 300)
    lu.assertEquals(kept[#kept].fields.Text1, "n300")
    toast("quiet", "q1")
    lu.assertEquals(small:get("quiet").notifications[1].fields.Text1, "q1")
    lu.assertNil(small:stats().lost)
    lu.assertTrue(small:stats().notes_evicted > 0, "evictions are counted")
  end)
  small:stop()
  assert(ok, err)
end

--- A full state dict forgets the least recently used channels: counted, so
--- a run that needs every channel's state can see it was not kept.
function TestResponses:test_full_state_memory_counts_evictions()
  local function fill(em, n)
    local c, ok = require("mpns").client { max_connections = 20 }, 0
    local toast = require("mpns").toast { text1 = "t" }
    for i = 1, n do
      c:send_async(toast, em.http_prefix .. "fill-" .. i, function(res) if res and res.ok then ok = ok + 1 end end)
    end
    c:run()
    c:close()
    lu.assertEquals(ok, n)
  end
  local small = assert(emu.start { state_size = "64k" })
  local ok, err = pcall(function()
    fill(small, 2000)  -- two keys a channel: far more than 64 KB holds
    lu.assertTrue((small:stats().state_evicted or 0) > 0)
  end)
  small:stop()
  assert(ok, err)
  fill(e, 2000)
  lu.assertNil(e:stats().state_evicted)
end

TestControl = {}

function TestControl:test_put_refuses_unknown_keys_and_bad_values()
  local cases = {
    { { colour = "red" }, "unknown key colour" },
    { { device = "Asleep" }, "device must be one of" },
    { { subscription = "Gone" }, "subscription must be one of" },
    { { toasts = "yes" }, "toasts must be true or false" },
    { { queue_limit = -1 }, "queue_limit must be a count" },
    { { daily_limit = 1.5 }, "daily_limit must be a count" },
    { { fail_next = { count = 1, status = 503, colour = 1 } }, "fail_next.colour" },
    { { fail_next = { count = 0, status = 503 } }, "fail_next.count" },
    { { fail_next = { count = 1 } }, "exactly one of" },
    { { fail_next = { count = 1, status = 503, mode = "close" } }, "exactly one of" },
    { { fail_next = { count = 1, mode = "explode" } }, "fail_next.mode" },
    { { fail_next = { count = 1, mode = "hang" } }, "fail_next.ms" },
    { { fail_next = { count = 1, status = 42 } }, "fail_next.status" },
  }
  for _, case in ipairs(cases) do
    local ok, err, status = e:set("ctl-bad", case[1])
    lu.assertNil(ok)
    lu.assertEquals(status, 400, err)
    lu.assertStrContains(err, case[2])
  end
  lu.assertNil(e:get("ctl-bad")) -- a refused PUT changes nothing
  local ok, err = e:call("PUT", "channels/x", "not json")
  lu.assertNil(ok)
  lu.assertStrContains(err, "JSON object")
end

function TestControl:test_put_sets_every_key_and_get_shows_it()
  local id = fresh()
  local ch = set(id, { device = "TempDisconnected", subscription = "Active", app_running = false,
    tile_pinned = false, toasts = false, queue_limit = 7, daily_limit = 9, drop = true,
    fail_next = { count = 2, delay_ms = 10 } })
  local got = assert(e:get(id))
  for _, c in ipairs { ch, got } do
    lu.assertEquals({ c.device, c.app_running, c.tile_pinned, c.toasts, c.queue_limit,
      c.daily_limit, c.drop }, { "TempDisconnected", false, false, false, 7, 9, true })
    lu.assertEquals(c.fail_next, { count = 2, delay_ms = 10 })
  end
  lu.assertNil(set(id, { fail_next = cjson.null }).fail_next)
end

function TestControl:test_delete_forgets_a_channel()
  local id = fresh()
  push(id, "toast")
  set(id, { toasts = false })
  lu.assertNotNil(e:delete(id))
  local _, _, status = e:get(id)
  lu.assertEquals(status, 404)
  _, _, status = e:delete(id)
  lu.assertEquals(status, 404)
  -- Back as a new, healthy device.
  lu.assertEquals(answer(push(id, "toast"))[2], "Received")
  lu.assertEquals(#e:get(id).notifications, 1)
end

function TestControl:test_channels_are_listed()
  local id = fresh()
  push(id, "raw")
  local ids = assert(e:channels())
  local found = false
  for _, v in ipairs(ids) do found = found or v == id end
  lu.assertTrue(found)
end

function TestControl:test_reset_and_stats_count_per_status()
  assert(e:reset())
  lu.assertEquals(#assert(e:channels()), 0)
  local st = assert(e:stats())
  lu.assertEquals(st.requests, 0)
  local a, b = fresh(), fresh()
  push(a, "toast"); push(a, "toast")
  set(b, { toasts = false })
  push(b, "toast")
  set(b, { device = "InActive" })
  push(b, "toast")
  e:push(a, { headers = emu.headers("toast"), body = "<bad" })
  st = assert(e:stats())
  lu.assertEquals(st.http, { ["200"] = 3, ["412"] = 1, ["400"] = 1 })
  lu.assertEquals(st.notification, { Received = 2, Suppressed = 1, Dropped = 1 })
  lu.assertEquals(st.requests, 5)
end

-- Kept notifications share their payload's text; a reset must not leave a
-- remembered payload pointing at nothing.
function TestControl:test_payload_fields_survive_a_reset()
  local body = emu.xml("Toast", { { "Text1", "before and after" } })
  push(fresh(), "toast", { body = body })
  assert(e:reset())
  local id = fresh()
  push(id, "toast", { body = body })
  local note = e:get(id).notifications[1]
  lu.assertEquals(note.fields, { Text1 = "before and after" })
  lu.assertEquals(note.xml, body)
  lu.assertNil(note.payload_evicted)
end

function TestControl:test_unknown_paths_and_methods()
  local _, err, status = e:call("GET", "nothing")
  lu.assertEquals(status, 404, err)
  _, err, status = e:call("DELETE", "reset")
  lu.assertEquals(status, 405, err)
  local r = emu.request { url = "http://127.0.0.1:" .. e.port .. "/elsewhere" }
  lu.assertEquals(r.status, 404)
end

function TestControl:test_ping_answers_without_lua()
  local r = emu.request { url = "http://127.0.0.1:" .. e.port .. "/ping" }
  lu.assertEquals(r.status, 204)
end

-- One JSON line per request with the channel, kind and the three statuses.
function TestControl:test_access_log_line_per_request()
  local id = fresh()
  set(id, { device = "TempDisconnected" })
  push(id, "tile", { headers = emu.headers("tile", { ["X-MessageID"] = "log-me" }) })
  local line
  for _ = 1, 40 do -- the log is buffered for up to a second
    local f = assert(io.open(e.access_log))
    for l in f:lines() do if l:find('"log-me"', 1, true) then line = l end end
    f:close()
    if line then break end
    os.execute("sleep 0.1")
  end
  lu.assertNotNil(line, "no access log line")
  local entry = cjson.decode(line)
  lu.assertEquals({ entry.channel, entry.kind, entry.status, entry.notification, entry.device,
    entry.subscription, entry.message_id, entry.payload_bytes },
    { id, "tile", 200, "Received", "TempDisconnected", "Active", "log-me", tostring(#BODY.tile) })
  lu.assertTrue(entry.bytes_in > #BODY.tile)
end

function teardownSuite() e:stop() end -- luaunit calls it after every test

os.exit(lu.LuaUnit.run() == 0)
