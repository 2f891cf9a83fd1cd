-- The emulator's fast path (emulator/lua/mpns_emulator/layout.lua) must never
-- accept a body that its expat path (validate.payload) refuses or warns
-- about: it only skips the parse for bodies expat would pass cleanly. Run
-- outside nginx, on both VMs (lua-expat exists for each), against thousands
-- of mutated payloads.
local lu = require "luaunit"
package.path = "./emulator/lua/?.lua;" .. package.path
local layout = require "mpns_emulator.layout"
local validate = require "mpns_emulator.validate"

local DECL = '<?xml version="1.0" encoding="utf-8"?>'
local function doc(inner, root_attrs)
  return DECL .. '<wp:Notification xmlns:wp="WPNotification"' .. (root_attrs or "") .. ">"
    .. inner .. "</wp:Notification>"
end

-- Standard layouts, as the library and the benchmarks send them.
local SEEDS = {
  toast = {
    doc("<wp:Toast><wp:Text1>Alice, your order 4711 shipped</wp:Text1><wp:Text2>a toast &amp; its text</wp:Text2>"
      .. "<wp:Param>/Page.xaml?a=1&amp;b=2</wp:Param><wp:Sound>s.wav</wp:Sound></wp:Toast>"),
    doc("<wp:Toast><wp:Text1>&lt;b&gt; &quot;q&quot; &apos;</wp:Text1></wp:Toast>"),
    '<wp:Notification xmlns:wp="WPNotification">\n  <wp:Toast>\n    <wp:Text2>x</wp:Text2>\n  </wp:Toast>\n</wp:Notification>\n',
  },
  tile = {
    doc("<wp:Tile><wp:BackgroundImage>b.png</wp:BackgroundImage><wp:Count>3</wp:Count><wp:Title>T</wp:Title></wp:Tile>"),
    doc('<wp:Tile Template="FlipTile"><wp:SmallBackgroundImage>s.png</wp:SmallBackgroundImage>'
      .. "<wp:Count>99</wp:Count><wp:Title>Orders</wp:Title><wp:BackContent>4711 &amp; 4712</wp:BackContent></wp:Tile>",
      ' Version="2.0"'),
    doc('<wp:Tile Template="IconicTile"><wp:Count>0</wp:Count><wp:BackgroundColor>#FF00AA11</wp:BackgroundColor></wp:Tile>',
      ' Version="2.0"'),
    doc('<wp:Tile Template="CycleTile"><wp:CycleImage1>/a.png</wp:CycleImage1></wp:Tile>', ' Version="2.0"'),
  },
}

-- Expat's verdict: "ok" (accepted, no warning), "warn" or "bad".
local function expat(kind, body)
  local j = validate.payload(kind, body)
  return not j and "bad" or (j.warnings and "warn" or "ok")
end

TestLayout = {}

function TestLayout:test_standard_layouts_skip_the_parse()
  for kind, bodies in pairs(SEEDS) do
    for _, body in ipairs(bodies) do
      lu.assertEquals(expat(kind, body), "ok", body)
      lu.assertTrue(layout.standard(kind, body), body)
    end
  end
end

-- Valid bodies the fast path leaves to expat, and bodies it must refuse.
function TestLayout:test_what_it_leaves_to_expat()
  local cases = {
    { "toast", doc("<wp:Toast><wp:Text1>Zo\195\171</wp:Text1></wp:Toast>"), "ok" }, -- not ASCII
    { "toast", doc("<wp:Toast><wp:Text1>a &#38; b</wp:Text1></wp:Toast>"), "ok" },  -- numeric entity
    { "toast", doc("<wp:Toast><wp:Text1>a &amp;amp; b</wp:Text1></wp:Toast>"), "warn" },
    { "toast", doc("<wp:Toast><wp:Param>Page.xaml</wp:Param></wp:Toast>"), "warn" },
    { "toast", doc("<wp:Toast><wp:Text2>b</wp:Text2><wp:Text1>a</wp:Text1></wp:Toast>"), "warn" },
    { "toast", doc("<wp:Toast><wp:Text1>a</wp:Text1><wp:Text1>a</wp:Text1></wp:Toast>"), "bad" },
    { "toast", doc("<wp:Toast><wp:Text1>a ]]> b</wp:Text1></wp:Toast>"), "bad" },
    { "toast", doc("<wp:Toast><wp:Text1>a \1 b</wp:Text1></wp:Toast>"), "bad" },
    { "toast", doc("<wp:Tile></wp:Tile>"), "bad" },
    { "tile", doc('<wp:Tile Template="FlipTile"></wp:Tile>'), "warn" }, -- no Version="2.0"
    { "tile", doc("<wp:Tile><wp:Count>100</wp:Count></wp:Tile>"), "bad" },
    { "tile", doc("<wp:Tile><wp:Count>1\r</wp:Count></wp:Tile>"), "bad" },
    { "toast", '<?xml version="1.0" encoding="ISO-8859-1"?>' .. doc("<wp:Toast/>"):sub(#DECL + 1), "warn" },
  }
  for _, c in ipairs(cases) do
    lu.assertEquals(expat(c[1], c[2]), c[3], c[2])
    lu.assertFalse(layout.standard(c[1], c[2]), c[2])
  end
end

-- Pieces a mutation inserts: XML's special characters and fragments of the
-- layouts themselves, so mutants stay close to the accepted shapes.
local PIECES = { "<", ">", "&", ";", "/", '"', "'", "=", " ", "\t", "\r", "\n", "#", "]", "]]>",
  "\0", "\128", "\255", "a", "1", "&amp;", "&lt;", "&#38;", "&foo;", "&amp;lt;", "wp:", "Text1",
  "Text3", "Count", "b", "Z", "42", " and ", ".", "?", "-", "<wp:Text1>", "</wp:Text1>", "<wp:Sound>", "<!-- c -->", "<![CDATA[x]]>",
  ' Version="2.0"', ' Action="Clear"', ' Template="FlipTile"', "Tile", "Toast", "x" }

local function mutate(s, rnd)
  local i = rnd(1, #s + 1)
  local op = rnd(1, 5)
  if op == 1 then return s:sub(1, i - 1) .. s:sub(i + rnd(1, 12)) end           -- delete
  if op == 2 then return s:sub(1, i - 1) .. PIECES[rnd(1, #PIECES)] .. s:sub(i) end -- insert
  if op == 3 then return s:sub(1, i - 1) .. PIECES[rnd(1, #PIECES)] .. s:sub(i + 1) end -- replace
  if op == 4 then -- move a span elsewhere
    local j = rnd(i, math.min(#s, i + 30))
    local span, rest = s:sub(i, j), s:sub(1, i - 1) .. s:sub(j + 1)
    local k = rnd(1, #rest + 1)
    return rest:sub(1, k - 1) .. span .. rest:sub(k)
  end
  local j = rnd(i, math.min(#s, i + 40)) -- duplicate a span
  return s:sub(1, j) .. s:sub(i, j) .. s:sub(j + 1)
end

-- A small deterministic generator (the same mutants on both VMs and every run).
local function generator(seed)
  local x = seed
  return function(lo, hi)
    if hi <= lo then return lo end
    x = x * 16807 % 2147483647 -- exact in a double too
    return lo + x % (hi - lo + 1)
  end
end

function TestLayout:test_mutants_never_pass_where_expat_refuses_or_warns()
  local rnd = generator(4711)
  local tried, fast, refused = 0, 0, 0
  for round = 1, 6000 do
    for kind, bodies in pairs(SEEDS) do
      local body = bodies[round % #bodies + 1]
      for _ = 1, (rnd(1, 3) == 3 and 2 or 1) do body = mutate(body, rnd) end
      for _, as in ipairs { "toast", "tile" } do -- also under the other target
        tried = tried + 1
        local verdict = expat(as, body)
        if verdict ~= "ok" then refused = refused + 1 end
        if layout.standard(as, body) then
          fast = fast + 1
          lu.assertEquals(verdict, "ok", as .. ": " .. body)
        end
      end
    end
  end
  -- The mutants must exercise both sides, or the test proves nothing.
  print(("%d mutants judged, %d refused or warned by expat, %d passed the fast path"):format(tried, refused, fast))
  lu.assertTrue(fast > 300, "fast path accepted only " .. fast .. " of " .. tried)
  lu.assertTrue(refused > 10000, "expat refused only " .. refused .. " of " .. tried)
end

-- The benchmark's personalised param toast: the number sits near the end of
-- the body, inside the value the fast path checks in place.
local function param_toast(value)
  return doc("<wp:Toast><wp:Text1>Benchmark</wp:Text1><wp:Text2>a toast &amp; its text</wp:Text2>"
    .. "<wp:Param>" .. value .. "</wp:Param></wp:Toast>")
end

function TestLayout:test_malformed_param_values_are_left_to_expat()
  lu.assertTrue(layout.standard("toast", param_toast("/Order.xaml?id=4711&amp;from=push")))
  lu.assertTrue(layout.standard("toast", param_toast("?id=4711")))
  local cases = {
    { "/Order.xaml?id=4711&from=push", "bad" },  -- a bare "&"
    { "/Order.xaml?id=4711&amp from=push", "bad" },
    { "/Order.xaml?id=4711&nbsp;", "bad" },       -- not one of XML's entities
    { "/Order.xaml?id=47]]>11", "bad" },
    { "/Order.xaml?id=47\0" .. "11", "bad" },
    { "/Order.xaml?id=47\255" .. "11", "bad" },
    { "/Order.xaml?id=4711<b>", "bad" },
    { "/Order.xaml?id=4711&amp;amp;x", "warn" },  -- escaped twice
    { "Order.xaml?id=4711", "warn" },             -- not a relative URI
    { "&amp;Order.xaml", "warn" },
    { "", "warn" },
    { "/Order.xaml?id=4711</wp:Text1>", "bad" },
  }
  for _, c in ipairs(cases) do
    local body = param_toast(c[1])
    lu.assertEquals(expat("toast", body), c[2], c[1])
    lu.assertFalse(layout.standard("toast", body), c[1])
  end
end

-- Mutants whose change is inside the param value (where personalisation puts
-- the number): whatever the fast path accepts, expat accepts cleanly.
function TestLayout:test_param_position_mutants()
  local rnd = generator(815)
  local fast, refused = 0, 0
  for i = 1, 4000 do
    local value = "/Order.xaml?id=" .. (4000 + i) .. "&amp;from=push"
    for _ = 1, rnd(1, 2) do value = mutate(value, rnd) end
    local body = param_toast(value)
    local verdict = expat("toast", body)
    if verdict ~= "ok" then refused = refused + 1 end
    if layout.standard("toast", body) then
      fast = fast + 1
      lu.assertEquals(verdict, "ok", value)
    end
  end
  lu.assertTrue(fast > 500 and refused > 500, fast .. " fast, " .. refused .. " refused")
end

-- In nginx the fast path reads a pointer into the request buffer (push.lua),
-- not a string: the verdict must be the same whatever follows its n bytes.
function TestLayout:test_a_buffer_view_gives_the_string_verdict()
  if not jit then lu.skip("the FFI exists under LuaJIT only (as in nginx)") end
  local ffi = require "ffi"
  local rnd = generator(99)
  local body = param_toast("/Order.xaml?id=4711&amp;from=push")
  for i = 1, 3000 do
    local b = i == 1 and body or mutate(body, rnd)
    local buf = ffi.new("uint8_t[?]", #b + 8)
    ffi.copy(buf, b .. "<junk>!", #b + 7)
    lu.assertEquals(layout.standard("toast", buf, #b), layout.standard("toast", b), b)
  end
  local buf = ffi.new("uint8_t[?]", #body)
  ffi.copy(buf, body, #body)
  lu.assertTrue(layout.standard("toast", buf, #body))
  lu.assertFalse(layout.standard("toast", buf, #body - 1)) -- cut short: not the whole layout
end

os.exit(lu.LuaUnit.run() == 0)
