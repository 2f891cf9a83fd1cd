-- The MPNS emulator judges requests as MPNS did: method, headers, sizes and
-- the XML payload (lua-expat). Driven over real HTTP with curl.
local lu = require "luaunit"
local emu = require "emu"

local e = assert(emu.start { keep = 20 })
local xml, headers = emu.xml, emu.headers

local n = 0
local function fresh() n = n + 1; return "val-" .. n end

-- Pushes one request to a fresh channel; returns the response and the id.
local function push(kind, body, extra, opts)
  local id = fresh()
  opts = opts or {}
  opts.headers, opts.body = headers(kind, extra), body
  return e:push(id, opts), id
end

local function last_notification(id)
  local ch = assert(e:get(id))
  return ch.notifications[#ch.notifications], ch
end

local function assert_received(r)
  lu.assertEquals(r.status, 200, r.body)
  lu.assertEquals(r.headers["x-notificationstatus"], "Received")
  lu.assertEquals(r.headers["x-deviceconnectionstatus"], "Connected")
  lu.assertEquals(r.headers["x-subscriptionstatus"], "Active")
end

-- A 400 with no status headers and the reason in the body.
local function assert_bad(r, reason)
  lu.assertEquals(r.status, 400, r.body)
  lu.assertStrContains(r.body, reason)
  lu.assertNil(r.headers["x-notificationstatus"])
end

local TOAST = xml("Toast", { { "Text1", "Hi &amp; bye" }, { "Text2", "two" },
  { "Param", "/Page.xaml?a=1&amp;b=2" } })

TestRequest = {}

function TestRequest:test_valid_toast_is_received_and_recorded()
  local r, id = push("toast", TOAST, { ["X-MessageID"] = "3f2504e0-4f89-11d3-9a0c-0305e82c3301" })
  assert_received(r)
  lu.assertEquals(r.headers["x-messageid"], "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
  local note = last_notification(id)
  lu.assertEquals(note.kind, "toast")
  lu.assertEquals(note.class, 2)
  lu.assertEquals(note.message_id, "3f2504e0-4f89-11d3-9a0c-0305e82c3301")
  -- Escaped once on the wire, so the phone sees each character once.
  lu.assertEquals(note.fields, { Text1 = "Hi & bye", Text2 = "two", Param = "/Page.xaml?a=1&b=2" })
  lu.assertEquals(note.xml, TOAST)
  lu.assertNil(note.warnings)
  lu.assertEquals(note.endpoint, "http")
  lu.assertTrue(math.abs(note.time - os.time()) < 60)
end

function TestRequest:test_message_id_needing_json_escapes_is_recorded_exactly()
  local odd = [[id "quoted" \ back	tab]]
  local r, id = push("toast", TOAST, { ["X-MessageID"] = odd })
  assert_received(r)
  lu.assertEquals(last_notification(id).message_id, odd)
end

function TestRequest:test_without_message_id_none_is_echoed()
  local r = push("toast", TOAST)
  assert_received(r)
  lu.assertNil(r.headers["x-messageid"])
end

function TestRequest:test_any_message_id_is_echoed_and_kept_verbatim()
  local odd = 'not a "uuid" \\ at all'
  local r, id = push("toast", TOAST, { ["X-MessageID"] = odd })
  assert_received(r)
  lu.assertEquals(r.headers["x-messageid"], odd)
  lu.assertEquals(last_notification(id).message_id, odd)
end

function TestRequest:test_methods_other_than_post_get_405()
  for _, m in ipairs { "GET", "PUT", "DELETE" } do
    local r = push("toast", m ~= "GET" and TOAST or nil, nil, { method = m })
    lu.assertEquals(r.status, 405, m)
    lu.assertEquals(r.headers["allow"], "POST")
  end
end

function TestRequest:test_tile_is_not_a_target()
  assert_bad(push("tile", xml("Tile", { { "Count", "1" } }), { ["X-WindowsPhone-Target"] = "tile" }),
    "X-WindowsPhone-Target")
  assert_bad(push("toast", TOAST, { ["X-WindowsPhone-Target"] = "Toast" }), "X-WindowsPhone-Target")
end

-- Every kind accepts exactly its three classes; absent means immediate.
function TestRequest:test_classes_belong_to_their_kind()
  local bodies = { toast = TOAST, tile = xml("Tile", { { "Count", "3" } }), raw = "bytes" }
  local classes = { tile = { 1, 11, 21 }, toast = { 2, 12, 22 }, raw = { 3, 13, 23 } }
  for kind, list in pairs(classes) do
    for _, class in ipairs(list) do
      local r, id = push(kind, bodies[kind], { ["X-NotificationClass"] = tostring(class) })
      assert_received(r)
      lu.assertEquals(last_notification(id).class, class)
    end
    for other, olist in pairs(classes) do
      if other ~= kind then
        assert_bad(push(kind, bodies[kind], { ["X-NotificationClass"] = tostring(olist[2]) }),
          "X-NotificationClass")
      end
    end
    assert_bad(push(kind, bodies[kind], { ["X-NotificationClass"] = "4" }), "X-NotificationClass")
    local r, id = push(kind, bodies[kind], { ["X-NotificationClass"] = false })
    assert_received(r)
    lu.assertEquals(last_notification(id).class, list[1])
  end
end

function TestRequest:test_payload_limit_is_3072_bytes()
  assert_received(push("raw", ("r"):rep(3072)))
  assert_bad(push("raw", ("r"):rep(3073)), "over 3072")
  local big = xml("Toast", { { "Text1", ("t"):rep(3100) } })
  assert_bad(push("toast", big), "over 3072")
  -- Larger than nginx's body buffer: written to a file, judged by its length.
  assert_bad(push("raw", ("r"):rep(40000)), "payload of 40000 bytes over 3072")
end

-- Without Content-Length the body is read, then measured.
function TestRequest:test_chunked_payload_over_the_limit()
  assert_bad(push("raw", ("r"):rep(5000), { ["Transfer-Encoding"] = "chunked" }), "over")
  assert_received(push("raw", ("r"):rep(100), { ["Transfer-Encoding"] = "chunked" }))
end

function TestRequest:test_custom_headers_limit_is_1k()
  -- "X-Pad: " + value + CRLF; the kind's own X- headers come on top.
  assert_received(push("raw", "x", { ["X-Pad"] = ("p"):rep(900) }))
  assert_bad(push("raw", "x", { ["X-Pad"] = ("p"):rep(1000) }), "custom headers")
end

function TestRequest:test_raw_bytes_are_kept_as_base64()
  local r, id = push("raw", "hello\0\255")
  assert_received(r)
  local note = last_notification(id)
  lu.assertEquals(note.kind, "raw")
  lu.assertEquals(note.raw, "aGVsbG8A/w==")
  lu.assertNil(note.fields)
end

function TestRequest:test_malformed_channel_uris()
  local r = emu.request { url = e.http_prefix .. "a/b", method = "POST", body = "x" }
  assert_bad(r, "malformed channel URI")
  r = emu.request { url = e.http_prefix .. "bad%20id", method = "POST", body = "x" }
  assert_bad(r, "malformed channel URI")
  -- A decoded trailing newline: PCRE's $ would match before it.
  r = emu.request { url = e.http_prefix .. "abc%0A", method = "POST", body = "x" }
  assert_bad(r, "malformed channel URI")
  r = emu.request { url = e.http_prefix .. ("a"):rep(1000), method = "POST", body = "x" }
  assert_bad(r, "1024")
end

-- Payloads the protocol rejects, each with the reason the emulator gives.
local T, TILE = "toast", "tile"
local NS = '<wp:Notification xmlns:wp="WPNotification">'
local BAD = {
  { T, "<wp:Notification", "malformed XML" },
  { T, '<wp:Notification><wp:Toast/></wp:Notification>', "missing wp namespace" },
  { T, '<wp:Notification xmlns:wp="Other"><wp:Toast/></wp:Notification>', "missing wp namespace" },
  { T, '<Notification xmlns:wp="WPNotification"/>', "root element" },
  { T, NS .. "</wp:Notification>", "has no wp:Toast" },
  { TILE, xml("Toast", { { "Text1", "x" } }), "wp:Toast in a tile request" },
  { T, xml("Tile", { { "Count", "1" } }), "wp:Tile in a toast request" },
  { TILE, xml("Tile", { { "Text1", "x" } }), "unknown element wp:Text1" },
  { T, xml("Toast", { { "Text3", "x" } }), "unknown element wp:Text3" },
  { T, NS .. "<wp:Toast><Text1>x</Text1></wp:Toast></wp:Notification>", "unknown element Text1" },
  { TILE, xml("Tile", { { "CycleImage1", "/a.png" } }, { Template = "FlipTile" }, { Version = "2.0" }),
    "unknown element wp:CycleImage1" },
  { TILE, xml("Tile", { { "Count", "1" } }, { Template = "PeekTile" }), "unknown tile Template" },
  { TILE, xml("Tile", { { "Count", "", { Action = "Reset" } } }), "bad Action" },
  { T, xml("Toast", { { "Text1", "", { Action = "Clear" } } }), "unknown attribute Action" },
  { TILE, xml("Tile", { { "Count", "1" } }, { Color = "red" }), "unknown attribute Color" },
  { T, xml("Toast", { { "Sound", "", { Silent = "maybe" } } }), "bad Silent" },
  { TILE, xml("Tile", { { "Count", "100" } }), "Count must be" },
  { TILE, xml("Tile", { { "Count", "-1" } }), "Count must be" },
  { TILE, xml("Tile", { { "Count", "seven" } }), "Count must be" },
  { TILE, xml("Tile", { { "Count", "" } }), "Count must be" },
  { T, xml("Toast", { { "Text1", "<wp:b>x</wp:b>" } }), "inside wp:Text1" },
  { T, xml("Toast", { { "Text1", "a" }, { "Text1", "b" } }), "repeated element" },
  { T, NS .. "<wp:Toast/><wp:Toast/></wp:Notification>", "more than one" },
  { T, NS .. "stray<wp:Toast/></wp:Notification>", "text outside" },
  { T, "", "empty toast payload" },
  { T, '<!DOCTYPE x [<!ENTITY a "b">]>' .. NS .. "<wp:Toast/></wp:Notification>", "DOCTYPE" },
  { T, xml("Toast", { { "Text1", "a & b" } }), "malformed XML" },
}

function TestRequest:test_invalid_payloads_get_400_with_the_reason()
  for i, case in ipairs(BAD) do
    local r = push(case[1], case[2])
    lu.assertEquals(r.status, 400, "case " .. i .. ": " .. case[3] .. " -> " .. r.body)
    lu.assertStrContains(r.body, case[3], false)
  end
end

-- Every form the protocol's payload table allows, with what the phone got.
local FLIP = { "SmallBackgroundImage", "WideBackgroundImage", "WideBackBackgroundImage",
  "WideBackContent", "BackgroundImage", "Count", "Title", "BackBackgroundImage",
  "BackTitle", "BackContent" }
local ICONIC = { "SmallIconImage", "IconImage", "WideContent1", "WideContent2",
  "WideContent3", "Count", "Title", "BackgroundColor" }
local function children(names, values)
  local out = {}
  for _, name in ipairs(names) do out[#out + 1] = { name, values[name] or ("/" .. name .. ".png") } end
  return out
end
local cycle = { { "SmallBackgroundImage", "/s.png" } }
for i = 1, 9 do cycle[#cycle + 1] = { "CycleImage" .. i, "/c" .. i .. ".png" } end
cycle[#cycle + 1] = { "Count", "9" }

local GOOD = {
  { T, xml("Toast", { { "Text1", "a" }, { "Text2", "b" } }), { Text1 = "a", Text2 = "b" } },
  { T, xml("Toast", { { "Text1", "a" }, { "Sound", "/s.wav" } }), { Text1 = "a", Sound = "/s.wav" } },
  { T, xml("Toast", { { "Text1", "a" }, { "Sound", "", { Silent = "true" } } }),
    { Text1 = "a", Sound = "" }, { Silent = "true" } },
  { TILE, xml("Tile", { { "BackgroundImage", "/b.png" }, { "Count", "0" }, { "Title", "t" } }),
    { BackgroundImage = "/b.png", Count = "0", Title = "t" } },
  { TILE, xml("Tile", { { "Count", "99" }, { "BackTitle", "bt" }, { "BackContent", "bc" } },
    { Id = "/Second.xaml?x=1" }), { Count = "99", BackTitle = "bt", BackContent = "bc" },
    { Id = "/Second.xaml?x=1" } },
  { TILE, xml("Tile", children(FLIP, { Count = "5", Title = "T", WideBackContent = "w", BackTitle = "b",
    BackContent = "c" }), { Template = "FlipTile", Id = "/" }, { Version = "2.0" }), nil,
    { Template = "FlipTile", Id = "/", Version = "2.0" } },
  { TILE, xml("Tile", children(ICONIC, { Count = "1", Title = "T", WideContent1 = "1",
    WideContent2 = "2", WideContent3 = "3", BackgroundColor = "#FF00AA11" }),
    { Template = "IconicTile" }, { Version = "2.0" }), { BackgroundColor = "#FF00AA11" } },
  { TILE, xml("Tile", cycle, { Template = "CycleTile" }, { Version = "2.0" }),
    { CycleImage9 = "/c9.png", Count = "9" } },
}

function TestRequest:test_every_allowed_form_is_received_without_warnings()
  for i, case in ipairs(GOOD) do
    local r, id = push(case[1], case[2])
    lu.assertEquals(r.status, 200, "case " .. i .. ": " .. r.body)
    local note = last_notification(id)
    lu.assertNil(note.warnings, "case " .. i)
    for k, v in pairs(case[3] or {}) do lu.assertEquals(note.fields[k], v, "case " .. i .. " " .. k) end
    for k, v in pairs(case[4] or {}) do lu.assertEquals(note.attributes[k], v, "case " .. i .. " " .. k) end
  end
end

-- Personalised toasts as the benchmark sends them (the number in the Param
-- URI, near the end of the body): each is judged in nginx's request buffer
-- (layout.lua's fast path) and stored byte for byte; a malformed value in
-- the same place is refused with expat's reason, or accepted with a warning.
function TestRequest:test_personalised_param_values_are_judged_each_time()
  local function toast(param)
    return xml("Toast", { { "Text1", "Benchmark" }, { "Text2", "a toast &amp; its text" },
      { "Param", param } })
  end
  local id = fresh()
  for i = 1, 5 do
    local body = toast("/Order.xaml?id=" .. (4700 + i) .. "&amp;from=push")
    assert_received(e:push(id, { headers = headers("toast"), body = body }))
    local note = last_notification(id)
    lu.assertEquals(note.xml, body)
    lu.assertEquals(note.fields.Param, "/Order.xaml?id=" .. (4700 + i) .. "&from=push")
    lu.assertNil(note.warnings)
  end
  assert_bad(push("toast", toast("/Order.xaml?id=4711&from=push")), "malformed XML")
  assert_bad(push("toast", toast("/Order.xaml?id=47]]>11")), "malformed XML")
  assert_bad(push("toast", toast("/Order.xaml?id=47\1" .. "1")), "malformed XML")
  assert_bad(push("toast", toast("/Order.xaml?id=4711<b/>")), "inside wp:Param")
  local r, bad = push("toast", toast("Order.xaml?id=4711"))
  assert_received(r)
  lu.assertStrContains(last_notification(bad).warnings[1], "Param should be a relative page URI")
  r, bad = push("toast", toast("/Order.xaml?id=4711&amp;amp;x"))
  assert_received(r)
  lu.assertStrContains(last_notification(bad).warnings[1], "escaped twice")
end

-- Clearing a property is recorded apart from its value; Count 0 is a value.
function TestRequest:test_clear_is_not_a_value()
  local r, id = push("tile", xml("Tile", { { "Count", "", { Action = "Clear" } }, { "Title", "0" } }))
  assert_received(r)
  local note = last_notification(id)
  lu.assertEquals(note.clear, { "Count" })
  lu.assertNil(note.fields.Count)
  lu.assertEquals(note.fields.Title, "0")
end

-- Where MPNS's answer is unknown the emulator accepts and says why it doubts.
local WARN = {
  { TILE, xml("Tile", { { "Count", "1" } }, { Template = "FlipTile" }), "without Version" },
  { T, xml("Toast", { { "Text2", "b" }, { "Text1", "a" } }), "out of the protocol's order" },
  { T, xml("Toast", { { "Text1", "Tom &amp;amp; Jerry" } }), "escaped twice" },
  { TILE, xml("Tile", { { "Title", "x", { Action = "Clear" } } }), "Action=\"Clear\" and content" },
  { TILE, xml("Tile", { { "CycleImage1", "http://x/c.png" } }, { Template = "CycleTile" },
    { Version = "2.0" }), "must be local" },
  { TILE, xml("Tile", { { "BackgroundColor", "red" } }, { Template = "IconicTile" },
    { Version = "2.0" }), "#AARRGGBB" },
  { T, xml("Toast", { { "Param", "Page.xaml" } }), "relative page URI" },
  { T, '<?xml version="1.0" encoding="ISO-8859-1"?>' .. NS
    .. "<wp:Toast><wp:Text1>a</wp:Text1></wp:Toast></wp:Notification>", "encoding" },
}

function TestRequest:test_doubtful_payloads_are_accepted_with_a_warning()
  for i, case in ipairs(WARN) do
    local r, id = push(case[1], case[2])
    lu.assertEquals(r.status, 200, "case " .. i .. ": " .. r.body)
    local note = last_notification(id)
    lu.assertNotNil(note.warnings, "case " .. i)
    lu.assertStrContains(table.concat(note.warnings, "|"), case[3], false)
  end
end

function TestRequest:test_missing_content_type_is_a_warning()
  local r, id = push("toast", TOAST, { ["Content-Type"] = "application/x-www-form-urlencoded" })
  assert_received(r)
  lu.assertStrContains(last_notification(id).warnings[1], "Content-Type")
end

-- Limits are settings: a second emulator started with other ones.
function TestRequest:test_limits_are_settable_at_start()
  local e2 = assert(emu.start { max_payload = 100, max_headers = 200, daily_limit = 2 })
  local cfg = e2:config()
  local r1 = e2:push("s", { headers = headers("raw"), body = ("r"):rep(101) })
  local r2 = e2:push("s", { headers = headers("raw", { ["X-Pad"] = ("p"):rep(200) }), body = "x" })
  local rs = {}
  for i = 1, 3 do rs[i] = e2:push("t", { headers = headers("raw"), body = "x" }) end
  e2:stop()
  lu.assertEquals({ cfg.max_payload, cfg.max_headers, cfg.daily_limit }, { 100, 200, 2 })
  assert_bad(r1, "over 100")
  assert_bad(r2, "custom headers")
  lu.assertEquals({ rs[1].status, rs[2].status, rs[3].status }, { 200, 200, 406 })
end

-- Judgments are remembered per kind and exact bytes (config.memo): a repeat
-- must be judged exactly as the first, and as an emulator that never
-- remembers (memo = 0) judges it.
function TestRequest:test_remembered_judgments_match_fresh_ones()
  local samples = { BAD[9], BAD[17], WARN[3], GOOD[5] }
  local e2 = assert(emu.start { memo = 0 })
  local function judge(em, case)
    local r = em:push("memo", { headers = headers(case[1]), body = case[2] })
    local ch = em:get("memo")
    local note = ch and ch.notifications[#ch.notifications]
    return { r.status, r.body, note and note.warnings, note and note.fields }
  end
  local fresh_ones, firsts, repeats = {}, {}, {}
  for i, case in ipairs(samples) do
    fresh_ones[i] = judge(e2, case)
    firsts[i] = judge(e, case)
    repeats[i] = judge(e, case)
  end
  e2:stop()
  lu.assertEquals(firsts, fresh_ones)
  lu.assertEquals(repeats, fresh_ones)
  -- The same bytes under another target are judged again, as that target.
  assert_received(push("toast", TOAST))
  assert_bad(push("tile", TOAST), "wp:Toast in a tile request")
end

function teardownSuite() e:stop() end -- luaunit calls it after every test

os.exit(lu.LuaUnit.run() == 0)
