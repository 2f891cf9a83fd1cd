-- Messages: payloads, headers, escaping, downgrade and validation.
local lu = require "luaunit"
local mpns = require "mpns"
local xml = require "xml"

local HEAD = '<?xml version="1.0" encoding="utf-8"?><wp:Notification xmlns:wp="WPNotification"'
local UUID = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

-- Every text-valued field of every kind, with the element it must become.
local ELEMENTS = {
  toast = { text1 = "Text1", text2 = "Text2", param = "Param", sound = "Sound" },
  tile = { background_image = "BackgroundImage", title = "Title",
    back_background_image = "BackBackgroundImage", back_title = "BackTitle",
    back_content = "BackContent" },
  flip_tile = { background_image = "BackgroundImage", title = "Title",
    back_background_image = "BackBackgroundImage", back_title = "BackTitle",
    back_content = "BackContent", small_background_image = "SmallBackgroundImage",
    wide_background_image = "WideBackgroundImage",
    wide_back_background_image = "WideBackBackgroundImage",
    wide_back_content = "WideBackContent" },
  iconic_tile = { title = "Title", icon_image = "IconImage", small_icon_image = "SmallIconImage",
    wide_content1 = "WideContent1", wide_content2 = "WideContent2", wide_content3 = "WideContent3" },
  cycle_tile = { title = "Title", small_background_image = "SmallBackgroundImage" },
}

local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  lu.assertFalse(ok, "expected an error")
  return tostring(err)
end

local function tile_of(msg) return xml.parse(msg:body()).children[1] end

TestPayloads = {}

function TestPayloads:test_contract_toast_is_exact()
  local toast = mpns.toast{ text1 = "Score", text2 = "Home 2 – 1 Away",
    param = "/Match.xaml?id=7&tab=live" }
  lu.assertEquals(toast.kind, "toast")
  lu.assertEquals(toast:body(), HEAD .. "><wp:Toast><wp:Text1>Score</wp:Text1>"
    .. "<wp:Text2>Home 2 – 1 Away</wp:Text2>"
    .. "<wp:Param>/Match.xaml?id=7&amp;tab=live</wp:Param></wp:Toast></wp:Notification>")
end

function TestPayloads:test_plain_tile_is_exact()
  local t = mpns.tile{ id = "/Tile.xaml?x=1", title = "T", count = 5, background_image = "/b.png",
    back_title = "BT", back_content = "BC", back_background_image = "/bb.png" }
  lu.assertEquals(t:body(), HEAD .. '><wp:Tile Id="/Tile.xaml?x=1">'
    .. "<wp:BackgroundImage>/b.png</wp:BackgroundImage><wp:Count>5</wp:Count>"
    .. "<wp:Title>T</wp:Title><wp:BackBackgroundImage>/bb.png</wp:BackBackgroundImage>"
    .. "<wp:BackTitle>BT</wp:BackTitle><wp:BackContent>BC</wp:BackContent>"
    .. "</wp:Tile></wp:Notification>")
end

function TestPayloads:test_every_text_field_becomes_its_element()
  for kind, fields in pairs(ELEMENTS) do
    for field, element in pairs(fields) do
      local value = "/v-" .. field .. ".png"
      local root = xml.parse(mpns[kind]{ [field] = value }:body())
      local node = xml.child(root.children[1], "wp:" .. element)
      lu.assertNotNil(node, kind .. "." .. field)
      lu.assertEquals(node.text, value, kind .. "." .. field)
      lu.assertEquals(#root.children[1].children, 1, kind .. "." .. field)
    end
  end
end

function TestPayloads:test_flip_tile_order_and_template()
  local root = xml.parse(mpns.flip_tile{ id = "/F.xaml", title = "t", count = 1,
    background_image = "/b", back_background_image = "/bb", back_title = "bt",
    back_content = "bc", small_background_image = "/s", wide_background_image = "/w",
    wide_back_background_image = "/wb", wide_back_content = "wbc" }:body())
  lu.assertEquals(root.attr.Version, "2.0")
  local tile = root.children[1]
  lu.assertEquals(tile.attr.Template, "FlipTile")
  lu.assertEquals(tile.attr.Id, "/F.xaml")
  lu.assertEquals(xml.names(tile), { "wp:SmallBackgroundImage", "wp:WideBackgroundImage",
    "wp:WideBackBackgroundImage", "wp:WideBackContent", "wp:BackgroundImage", "wp:Count",
    "wp:Title", "wp:BackBackgroundImage", "wp:BackTitle", "wp:BackContent" })
end

function TestPayloads:test_iconic_tile_order_and_template()
  local root = xml.parse(mpns.iconic_tile{ id = "/I.xaml", title = "t", count = 3,
    icon_image = "/i", small_icon_image = "/si", wide_content1 = "1", wide_content2 = "2",
    wide_content3 = "3", background_color = "#FF112233" }:body())
  lu.assertEquals(root.attr.Version, "2.0")
  lu.assertEquals(root.children[1].attr.Template, "IconicTile")
  lu.assertEquals(xml.names(root.children[1]), { "wp:SmallIconImage", "wp:IconImage",
    "wp:WideContent1", "wp:WideContent2", "wp:WideContent3", "wp:Count", "wp:Title",
    "wp:BackgroundColor" })
  lu.assertEquals(xml.child(root.children[1], "wp:BackgroundColor").text, "#FF112233")
end

function TestPayloads:test_cycle_tile_order_and_images()
  local images = {}
  for i = 1, 9 do images[i] = "/Images/" .. i .. ".png" end
  local tile = tile_of(mpns.cycle_tile{ title = "t", count = 2, small_background_image = "/s",
    cycle_images = images })
  lu.assertEquals(tile.attr.Template, "CycleTile")
  local names = xml.names(tile)
  lu.assertEquals(#names, 12)
  lu.assertEquals(names[1], "wp:SmallBackgroundImage")
  for i = 1, 9 do
    lu.assertEquals(names[i + 1], "wp:CycleImage" .. i)
    lu.assertEquals(tile.children[i + 1].text, images[i])
  end
  lu.assertEquals({ names[11], names[12] }, { "wp:Count", "wp:Title" })
end

function TestPayloads:test_toast_sound_and_silent()
  lu.assertStrContains(mpns.toast{ text1 = "a", sound = "/s.wav" }:body(),
    "<wp:Sound>/s.wav</wp:Sound>")
  lu.assertStrContains(mpns.toast{ text1 = "a", silent = true }:body(),
    '<wp:Sound Silent="true"/>')
  lu.assertNotStrContains(mpns.toast{ text1 = "a", silent = false }:body(), "Sound")
end

function TestPayloads:test_count_zero_is_a_value_not_absence()
  local node = xml.child(tile_of(mpns.tile{ count = 0 }), "wp:Count")
  lu.assertEquals(node.text, "0")
  lu.assertNil(node.attr.Action)
end

function TestPayloads:test_clear_emits_action_clear()
  lu.assertEquals(tostring(mpns.CLEAR), "mpns.CLEAR")
  local tile = tile_of(mpns.flip_tile{ count = mpns.CLEAR, back_content = mpns.CLEAR,
    wide_back_content = mpns.CLEAR, title = "kept" })
  for _, name in ipairs{ "wp:Count", "wp:BackContent", "wp:WideBackContent" } do
    local node = xml.child(tile, name)
    lu.assertEquals(node.attr.Action, "Clear", name)
    lu.assertEquals(node.text, "", name)
  end
  lu.assertNil(xml.child(tile, "wp:Title").attr.Action)
  lu.assertStrContains(mpns.tile{ count = mpns.CLEAR }:body(),
    '<wp:Count Action="Clear"></wp:Count>')
  lu.assertEquals(xml.child(tile_of(mpns.cycle_tile{ cycle_images = { "/1.png", mpns.CLEAR } }),
    "wp:CycleImage2").attr.Action, "Clear")
end

function TestPayloads:test_raw_carries_any_bytes()
  local bytes = "\0\1\255<&>" .. string.rep("x", 100)
  local raw = mpns.raw(bytes)
  lu.assertEquals(raw.kind, "raw")
  lu.assertEquals(raw:body(), bytes)
  lu.assertEquals(mpns.raw{ data = bytes, content_type = "application/json" }:body(), bytes)
end

function TestPayloads:test_message_is_built_once_and_keeps_its_values()
  local fields = { text1 = "before" }
  local toast = mpns.toast(fields)
  fields.text1 = "after"
  collectgarbage()
  lu.assertStrContains(toast:body(), "before")
  lu.assertEquals(toast:body(), toast:body())
end

function TestPayloads:test_tostring_shows_kind_size_and_fields()
  local s = tostring(mpns.toast{ text1 = "Score", param = "/P.xaml" })
  lu.assertStrContains(s, "mpns.toast")
  lu.assertStrContains(s, #mpns.toast{ text1 = "Score", param = "/P.xaml" }:body() .. " bytes")
  lu.assertStrContains(s, 'text1="Score"')
  lu.assertStrContains(s, 'param="/P.xaml"')
  lu.assertStrContains(tostring(mpns.tile{ count = mpns.CLEAR }), "count=CLEAR")
  lu.assertStrContains(tostring(mpns.raw("abc")), "data=<3 bytes>")
end

TestEscaping = {}

function TestEscaping:test_five_characters_in_text()
  local body = mpns.toast{ text1 = [[a&b<c>d"e'f]] }:body()
  lu.assertStrContains(body, "<wp:Text1>a&amp;b&lt;c&gt;d&quot;e&apos;f</wp:Text1>")
  lu.assertEquals(xml.parse(body).children[1].children[1].text, [[a&b<c>d"e'f]])
end

function TestEscaping:test_attribute_is_escaped()
  local id = [[/T.xaml?a=1&b="2"&c='<3>']]
  local body = mpns.tile{ id = id, title = "t" }:body()
  lu.assertStrContains(body, 'Id="/T.xaml?a=1&amp;b=&quot;2&quot;&amp;c=&apos;&lt;3&gt;&apos;"')
  lu.assertEquals(tile_of(mpns.tile{ id = id, title = "t" }).attr.Id, id)
end

function TestEscaping:test_already_escaped_text_is_escaped_exactly_once()
  local body = mpns.toast{ text1 = "&amp; &lt;", param = "/P.xaml?a=1&amp;b=2" }:body()
  lu.assertStrContains(body, "<wp:Text1>&amp;amp; &amp;lt;</wp:Text1>")
  lu.assertNotStrContains(body, "&amp;amp;amp;")
  local toast = xml.parse(body).children[1]
  lu.assertEquals(toast.children[1].text, "&amp; &lt;")
  lu.assertEquals(toast.children[2].text, "/P.xaml?a=1&amp;b=2")
end

function TestEscaping:test_non_ascii_passes_through()
  local text = "Ünïcödé – 日本語 – 🎉"
  local body = mpns.toast{ text1 = text }:body()
  lu.assertStrContains(body, text)
  lu.assertEquals(xml.parse(body).children[1].children[1].text, text)
end

-- An XML parser turns a raw CR in text into LF, and CR, LF and tab in an
-- attribute into spaces: character references keep them as they were given.
function TestEscaping:test_cr_lf_and_tab_round_trip()
  local text = "line 1\r\nline 2\rend\tx"
  local body = mpns.toast{ text1 = text }:body()
  lu.assertStrContains(body, "<wp:Text1>line 1&#13;&#10;line 2&#13;end&#9;x</wp:Text1>")
  lu.assertEquals(xml.parse(body).children[1].children[1].text, text)
  local id = "/T.xaml?a=1\nb=2\tc\r"
  lu.assertEquals(tile_of(mpns.tile{ id = id, title = "t" }).attr.Id, id)
end

function TestEscaping:test_every_field_is_escaped()
  for kind, fields in pairs(ELEMENTS) do
    for field in pairs(fields) do
      local body = mpns[kind]{ [field] = "/a&b" }:body()
      lu.assertStrContains(body, "/a&amp;b", kind .. "." .. field)
    end
  end
end

TestHeaders = {}

function TestHeaders:test_target_and_content_type()
  local cases = { toast = "toast", tile = "token", flip_tile = "token",
    iconic_tile = "token", cycle_tile = "token" }
  for kind, target in pairs(cases) do
    local h = mpns[kind]{ title = kind ~= "toast" and "t" or nil,
      text1 = kind == "toast" and "t" or nil }:headers()
    lu.assertEquals(h["X-WindowsPhone-Target"], target, kind)
    lu.assertEquals(h["Content-Type"], "text/xml", kind)
  end
  local raw = mpns.raw("x"):headers()
  lu.assertNil(raw["X-WindowsPhone-Target"])
  lu.assertEquals(raw["Content-Type"], "text/xml")
  lu.assertEquals(mpns.raw{ data = "{}", content_type = "application/json" }:headers()["Content-Type"],
    "application/json")
end

function TestHeaders:test_notification_class_for_each_kind_and_delay()
  local base = { toast = 2, tile = 1, flip_tile = 1, iconic_tile = 1, cycle_tile = 1, raw = 3 }
  local fields = { toast = { text1 = "a" }, raw = { data = "a" } }
  for kind, class in pairs(base) do
    for delay, add in pairs{ immediate = 0, [450] = 10, [900] = 20 } do
      local t = {}
      for k, v in pairs(fields[kind] or { title = "t" }) do t[k] = v end
      t.delay = delay
      lu.assertEquals(mpns[kind](t):headers()["X-NotificationClass"], tostring(class + add),
        kind .. " " .. tostring(delay))
    end
  end
  lu.assertEquals(mpns.toast{ text1 = "a" }:headers()["X-NotificationClass"], "2")
end

function TestHeaders:test_message_id()
  lu.assertEquals(mpns.toast{ text1 = "a", message_id = UUID }:headers()["X-MessageID"], UUID)
  lu.assertNil(mpns.toast{ text1 = "a" }:headers()["X-MessageID"])
end

TestDowngrade = {}

-- A message keeps what it was given once: values its body holds verbatim
-- are read back from the body, the rest (escaped text, delay, message_id)
-- from copies. Every one must come back exact, whichever way it was kept.
function TestDowngrade:test_given_values_survive_any_round_trip()
  local function check(msg)
    local back = msg:for_os("7.0"):for_os("8.0")
    lu.assertEquals(back:body(), msg:body())
    lu.assertEquals(back:headers(), msg:headers())
    lu.assertEquals(tostring(back), tostring(msg))
  end
  local toast = mpns.toast{ text1 = "Tom & Jerry <3", text2 = "plain", param = "/P.xaml?a=1&b=2",
    sound = "/s.wav", silent = false, delay = 450, message_id = UUID }
  check(toast)
  lu.assertStrContains(tostring(toast:for_os("7.1")), 'text1="Tom & Jerry <3" text2="plain"')
  lu.assertEquals(toast:for_os("7.0"):headers()["X-MessageID"], UUID)
  check(mpns.flip_tile{ id = "/T.xaml?x=1&y=2", title = "same", back_title = "same",
    count = mpns.CLEAR, wide_back_content = "a\tb", background_image = "/b.png", delay = 900 })
  check(mpns.cycle_tile{ cycle_images = { "/1.png", "/2 & 3.png" }, title = "t" })
  check(mpns.raw{ data = "<a>&</a>", content_type = "application/xml", message_id = UUID })
end


function TestDowngrade:test_toast_for_each_os()
  local toast = mpns.toast{ text1 = "a", text2 = "b", param = "/P.xaml", sound = "/s.wav" }
  local function names(os) return xml.names(xml.parse(toast:for_os(os):body()).children[1]) end
  lu.assertEquals(names("7.0"), { "wp:Text1", "wp:Text2" })
  lu.assertEquals(names("7.1"), { "wp:Text1", "wp:Text2", "wp:Param" })
  lu.assertEquals(names("8.0"), { "wp:Text1", "wp:Text2", "wp:Param", "wp:Sound" })
  lu.assertNotStrContains(mpns.toast{ text1 = "a", silent = true }:for_os("7.1"):body(), "Sound")
  lu.assertEquals(toast:for_os("7.0").os, "7.0")
  lu.assertEquals(toast.os, "8.0")
end

function TestDowngrade:test_tile_for_7_0_drops_id_and_back()
  local tile = mpns.tile{ id = "/T.xaml", title = "t", count = 1, background_image = "/b",
    back_title = "bt", back_content = "bc", back_background_image = "/bb" }
  local t70 = tile_of(tile:for_os("7.0"))
  lu.assertNil(t70.attr.Id)
  lu.assertEquals(xml.names(t70), { "wp:BackgroundImage", "wp:Count", "wp:Title" })
  local t71 = tile_of(tile:for_os("7.1"))
  lu.assertEquals(t71.attr.Id, "/T.xaml")
  lu.assertEquals(#t71.children, 6)
end

function TestDowngrade:test_flip_becomes_plain_tile()
  local flip = mpns.flip_tile{ id = "/F.xaml", title = "t", count = 4, background_image = "/b",
    back_title = "bt", wide_background_image = "/w", small_background_image = "/s" }
  local m71 = flip:for_os("7.1")
  lu.assertEquals(m71.kind, "tile")
  local root = xml.parse(m71:body())
  lu.assertNil(root.attr.Version)
  lu.assertNil(root.children[1].attr.Template)
  lu.assertEquals(root.children[1].attr.Id, "/F.xaml")
  lu.assertEquals(xml.names(root.children[1]),
    { "wp:BackgroundImage", "wp:Count", "wp:Title", "wp:BackTitle" })
  lu.assertEquals(xml.names(tile_of(flip:for_os("7.0"))),
    { "wp:BackgroundImage", "wp:Count", "wp:Title" })
  lu.assertEquals(flip:for_os("7.0"):for_os("8.0"):body(), flip:body())
end

function TestDowngrade:test_iconic_and_cycle_keep_title_count_and_an_image()
  local iconic = mpns.iconic_tile{ title = "t", count = 2, icon_image = "/i.png",
    wide_content1 = "w", background_color = "#FF000000" }
  local t = tile_of(iconic:for_os("7.0"))
  lu.assertEquals(xml.names(t), { "wp:BackgroundImage", "wp:Count", "wp:Title" })
  lu.assertEquals(t.children[1].text, "/i.png")
  local cycle = mpns.cycle_tile{ title = "c", cycle_images = { "/1.png", "/2.png" } }
  local c = tile_of(cycle:for_os("7.1"))
  lu.assertEquals(xml.names(c), { "wp:BackgroundImage", "wp:Title" })
  lu.assertEquals(c.children[1].text, "/1.png")
  lu.assertEquals(cycle:for_os("7.0").kind, "tile")
end

function TestDowngrade:test_headers_follow_the_downgrade()
  local flip = mpns.flip_tile{ title = "t", delay = 900, message_id = UUID }
  local h = flip:for_os("7.0"):headers()
  lu.assertEquals(h["X-WindowsPhone-Target"], "token")
  lu.assertEquals(h["X-NotificationClass"], "21")
  lu.assertEquals(h["X-MessageID"], UUID)
end

function TestDowngrade:test_nothing_left_is_nil_and_a_reason()
  local m, err = mpns.toast{ param = "/P.xaml" }:for_os("7.0")
  lu.assertNil(m)
  lu.assertStrContains(err, "7.0")
  local m2, err2 = mpns.iconic_tile{ wide_content1 = "x" }:for_os("7.1")
  lu.assertNil(m2)
  lu.assertStrContains(err2, "mpns.iconic_tile")
end

function TestDowngrade:test_bad_os_raises()
  lu.assertStrContains(err_of(function() return mpns.toast{ text1 = "a" }:for_os("9") end),
    '"7.0", "7.1" or "8.0"')
end

function TestDowngrade:test_os_with_a_nul_raises()
  local toast = mpns.toast{ text1 = "a" }
  lu.assertStrContains(err_of(toast.for_os, toast, "7.0\0x"), '"7.0", "7.1" or "8.0"')
  lu.assertStrContains(err_of(toast.for_os, toast, "8.0\0"), '"7.0", "7.1" or "8.0"')
  lu.assertEquals(toast:for_os("7.0").os, "7.0")
end

TestValidation = {}

local function assert_rejects(kind, fields, ...)
  local err = err_of(mpns[kind], fields)
  lu.assertStrContains(err, "mpns." .. kind .. ":")
  for _, part in ipairs{ ... } do lu.assertStrContains(err, part) end
end

function TestValidation:test_unknown_field()
  assert_rejects("tile", { titel = "x" }, "unknown field 'titel'")
  assert_rejects("toast", { text1 = "a", count = 1 }, "unknown field 'count'")
  assert_rejects("tile", { [1] = "x" }, "field names are strings")
end

function TestValidation:test_wrong_types()
  assert_rejects("toast", { text1 = 5 }, "'text1'", "expected a string, got number")
  assert_rejects("tile", { count = "5" }, "'count'", "got string")
  assert_rejects("toast", { text1 = "a", silent = "yes" }, "'silent'", "a boolean")
  assert_rejects("tile", { title = {} }, "'title'", "got table")
  assert_rejects("cycle_tile", { cycle_images = "/1.png" }, "'cycle_images'", "got string")
  assert_rejects("cycle_tile", { cycle_images = { a = "/1.png" } }, "a list")
  assert_rejects("raw", { data = 5 }, "'data'", "a string")
  lu.assertStrContains(err_of(mpns.tile, "title"), "table expected")
end

function TestValidation:test_count_range_and_integer()
  assert_rejects("tile", { count = 100 }, "'count'", "0 to 99", '"100"')
  assert_rejects("tile", { count = -1 }, "'count'", "0 to 99")
  assert_rejects("tile", { count = 1.5 }, "'count'", "0 to 99")
  lu.assertStrContains(mpns.tile{ count = 99 }:body(), "<wp:Count>99</wp:Count>")
end

function TestValidation:test_invalid_utf8_in_any_text()
  for _, bad in ipairs{ "\255", "a\192\128", "\237\160\128", "ok\0no", "\244\144\128\128" } do
    assert_rejects("toast", { text1 = bad }, "'text1'", "UTF-8")
  end
  assert_rejects("flip_tile", { wide_back_content = "\255" }, "'wide_back_content'", "byte 1")
  assert_rejects("tile", { id = "/\255" }, "'id'")
  assert_rejects("cycle_tile", { cycle_images = { "/ok.png", "/\255.png" } }, "cycle_images[2]")
end

function TestValidation:test_background_color()
  assert_rejects("iconic_tile", { background_color = "#FFF" }, "'background_color'", "#AARRGGBB")
  assert_rejects("iconic_tile", { background_color = "FF00FF00" }, "#AARRGGBB")
  assert_rejects("iconic_tile", { background_color = "#GG00FF00" }, "#AARRGGBB")
end

function TestValidation:test_cycle_images()
  local ten = {}
  for i = 1, 10 do ten[i] = "/" .. i .. ".png" end
  assert_rejects("cycle_tile", { cycle_images = ten }, "at most 9")
  assert_rejects("cycle_tile", { cycle_images = { "http://x/1.png" } }, "local image")
end

function TestValidation:test_message_id_must_be_uuid()
  assert_rejects("toast", { text1 = "a", message_id = "42" }, "'message_id'", "UUID")
  assert_rejects("toast", { text1 = "a", message_id = UUID .. "\r\nX: y" }, "UUID")
end

function TestValidation:test_no_cr_or_lf_in_headers()
  assert_rejects("raw", { data = "x", content_type = "text/plain\r\nX-Evil: 1" },
    "'content_type'", "CR, LF")
  assert_rejects("raw", { data = "x", content_type = "a\nb" }, "'content_type'")
end

function TestValidation:test_payload_limit_is_a_setting()
  assert_rejects("toast", { text1 = string.rep("a", 3000) }, "over the 3072-byte limit")
  local old = mpns.set_limits{ payload = 5000 }
  lu.assertEquals(old.payload, 3072)
  local ok = pcall(mpns.toast, { text1 = string.rep("a", 3000) })
  mpns.set_limits{ payload = 1024 }
  local small = pcall(mpns.toast, { text1 = string.rep("a", 1000) })
  mpns.set_limits(old)
  lu.assertTrue(ok)
  lu.assertFalse(small)
  lu.assertStrContains(err_of(mpns.set_limits, { size = 1 }), "unknown limit 'size'")
  lu.assertStrContains(err_of(mpns.set_limits, { payload = 0 }), "positive integer")
  assert_rejects("raw", { data = string.rep("x", 3073) }, "3073 bytes")
end

function TestValidation:test_header_limit()
  assert_rejects("raw", { data = "x", content_type = string.rep("a", 1100) }, "the headers")
end

function TestValidation:test_empty_messages()
  assert_rejects("tile", {}, "no field set", "title")
  assert_rejects("tile", { id = "/T.xaml", delay = 450 }, "no field set")
  assert_rejects("toast", { silent = true }, "no field set")
  assert_rejects("raw", {}, "no field set", "data")
  assert_rejects("raw", { data = "" }, "'data'", "non-empty")
end

function TestValidation:test_other_rules()
  assert_rejects("toast", { text1 = mpns.CLEAR }, "cannot be mpns.CLEAR")
  assert_rejects("toast", { text1 = "a", sound = "/s", silent = true }, "together with 'sound'")
  assert_rejects("tile", { title = "t", id = "Tile.xaml" }, "'id'", "starting with '/'")
  assert_rejects("tile", { title = "t", delay = 300 }, "'delay'", "450 or 900")
  assert_rejects("tile", { title = "t", delay = "later" }, "'delay'")
  assert_rejects("tile", { title = "a\1b" }, "'title'", "byte 2")
end

-- mpns.callback: a registration POSTed to <channel URI>/callback, not a
-- notification (protocol, "Authenticated web services").
-- msg:body() and __gc tell a message from other userdata by a mark only
-- the message metatables hold: a file handle is refused, and left open.
function TestValidation:test_other_userdata_is_not_a_message()
  local msg = mpns.toast{ text1 = "a" }
  lu.assertStrContains(err_of(msg.body, io.stdout), "mpns message expected, got userdata")
  getmetatable(msg).__gc(io.stdout)
  lu.assertEquals(io.type(io.stdout), "file")
  lu.assertEquals(#msg:body(), mpns.toast{ text1 = "b" }:body():len())
end

TestCallback = {}

local CB = "https://service.example/cb?user=1&x=2"

function TestCallback:test_constructor_headers_and_body()
  local msg = mpns.callback{ uri = CB, data = "opaque \0\1 bytes" }
  lu.assertEquals(msg.kind, "callback")
  lu.assertEquals(msg.os, "8.0")
  lu.assertEquals(msg:body(), "opaque \0\1 bytes")
  lu.assertEquals(msg:headers(), { ["X-CallbackURI"] = CB, ["Content-Type"] = "application/octet-stream" })
  lu.assertStrContains(tostring(msg), 'data=<15 bytes> uri="' .. CB .. '"')
end

function TestCallback:test_data_is_optional_and_message_id_allowed()
  local msg = mpns.callback{ uri = "http://127.0.0.1:8080/", message_id = UUID }
  lu.assertEquals(msg:body(), "")
  lu.assertEquals(msg:headers(), { ["X-CallbackURI"] = "http://127.0.0.1:8080/",
    ["Content-Type"] = "application/octet-stream", ["X-MessageID"] = UUID })
end

-- The caps are MPNS's (1 KB each), not the payload and header settings.
function TestCallback:test_uri_and_data_of_1024_bytes_pass()
  local uri = "https://h/" .. string.rep("u", 1014)
  local msg = mpns.callback{ uri = uri, data = string.rep("d", 1024) }
  lu.assertEquals(#msg:headers()["X-CallbackURI"], 1024)
  lu.assertEquals(#msg:body(), 1024)
end

function TestCallback:test_for_os_keeps_it_unchanged()
  local msg = mpns.callback{ uri = CB, data = "d", message_id = UUID }
  for _, os in ipairs { "7.0", "7.1", "8.0" } do
    local d = assert(msg:for_os(os))
    lu.assertEquals(d.kind, "callback")
    lu.assertEquals(d.os, os)
    lu.assertEquals(d:body(), "d")
    lu.assertEquals(d:headers(), msg:headers())
  end
  lu.assertEquals(tostring(msg:for_os("7.0"):for_os("8.0")), tostring(msg))
end

function TestCallback:test_errors_name_the_field()
  assert_rejects("callback", {}, "'uri'", "is required")
  assert_rejects("callback", { data = "x" }, "'uri'", "is required")
  assert_rejects("callback", { uri = 5 }, "'uri'", "a string")
  assert_rejects("callback", { uri = "/cb" }, "'uri'", "absolute http:// or https:// URL")
  assert_rejects("callback", { uri = "ftp://h/cb" }, "'uri'", "absolute http")
  assert_rejects("callback", { uri = "https://" }, "'uri'", "absolute http")
  assert_rejects("callback", { uri = "https:///cb" }, "'uri'", "absolute http")
  assert_rejects("callback", { uri = "http://h/a\r\nX-Evil: 1" }, "'uri'", "byte 11")
  assert_rejects("callback", { uri = "http://h/\0" }, "'uri'", "byte 10")
  assert_rejects("callback", { uri = "http://h/" .. string.rep("u", 1016) }, "'uri'", "1025 bytes", "1024")
  assert_rejects("callback", { uri = CB, data = string.rep("d", 1025) }, "'data'", "1025 bytes")
  assert_rejects("callback", { uri = CB, data = "" }, "'data'", "non-empty")
  assert_rejects("callback", { uri = CB, data = 1 }, "'data'", "a string")
  assert_rejects("callback", { uri = CB, message_id = "x" }, "'message_id'", "UUID")
  assert_rejects("callback", { uri = CB, delay = 450 }, "unknown field 'delay'")
  assert_rejects("callback", { uri = CB, content_type = "a/b" }, "unknown field 'content_type'")
  assert_rejects("toast", { text1 = "a", uri = CB }, "unknown field 'uri'")
  assert_rejects("raw", { data = "a", uri = CB }, "unknown field 'uri'")
end

-- A callback uri passes the rule a channel URI does (mpns_url_check): a
-- host, no space, no credentials; case does not matter in the scheme.
function TestCallback:test_uri_follows_the_channel_uri_rule()
  assert_rejects("callback", { uri = "http://?x" }, "'uri'", "with a host")
  assert_rejects("callback", { uri = "https://#f" }, "'uri'", "with a host")
  assert_rejects("callback", { uri = "http://h/a b" }, "'uri'", "no spaces")
  assert_rejects("callback", { uri = "http://user:secret@h/cb" }, "'uri'", "credentials")
  assert_rejects("callback", { uri = "https://@h/cb" }, "'uri'", "credentials")
  lu.assertEquals(mpns.callback{ uri = "HTTPS://h/a@b" }:headers()["X-CallbackURI"], "HTTPS://h/a@b")
end

os.exit(lu.LuaUnit.run() == 0)
