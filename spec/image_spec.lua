-- mpns.image: tile images rendered in C. Sizes, where text, count and title
-- are drawn (decoded by build/image_test --diff), the 80 KB limit, PNG and
-- JPEG backgrounds, and errors that name their field.
local lu = require "luaunit"
local mpns = require "mpns"
local image = require "mpns.image"

local TOOL = "build/image_test"
local BLUE = "#FF1BA1E2"

local proc = require "proc"

local function sh(cmd) return proc.sh("{ " .. cmd .. "; } 2>&1") end

local dir = proc.tmpdir("image")

local function write(name, bytes) return proc.write_file(dir .. "/" .. name, bytes) end

-- Width, height, bit depth and colour type from the PNG's IHDR chunk.
local function ihdr(png)
  lu.assertEquals(png:sub(1, 8), "\137PNG\r\n\26\n")
  lu.assertEquals(png:sub(13, 16), "IHDR")
  local function u32(i)
    local a, b, c, d = png:byte(i, i + 3)
    return ((a * 256 + b) * 256 + c) * 256 + d
  end
  return u32(17), u32(21), png:byte(25), png:byte(26)
end

-- Pixels that differ between two PNGs inside a box (decoded by cairo).
local function differ(a, b, x, y, w, h)
  local out = sh(("%s --diff '%s' '%s' %d %d %d %d"):format(TOOL, write("a.png", a),
    write("b.png", b), x, y, w, h))
  return assert(tonumber(out:match("^(%d+)\n$")), "image_test --diff said: " .. out)
end

local function err_of(t)
  local ok, err = pcall(image.tile, t)
  lu.assertFalse(ok, "expected an error")
  return tostring(err)
end

-- noise.png (691x336 random pixels), alpha.png (the same, translucent), photo.jpg
local made = sh(TOOL .. " --fixtures " .. dir .. " && echo made")
assert(made:match("made\n$"), TOOL .. " could not write the fixtures (run make build): " .. made)

TestImage = {}

function TestImage:test_every_size_has_its_pixels()
  local want = { small = { 159, 159 }, medium = { 336, 336 }, wide = { 691, 336 }, wp7 = { 173, 173 } }
  for size, wh in pairs(want) do
    local w, h = ihdr(image.tile{ size = size, background = BLUE, text = "Hi", count = 1, title = "T" })
    lu.assertEquals({ w, h }, wh, size)
  end
  local w, h = ihdr(image.tile{ text = "default" })
  lu.assertEquals({ w, h }, { 336, 336 })
end

function TestImage:test_text_count_and_title_are_drawn_where_a_phone_has_them()
  local plain = image.tile{ background = BLUE }
  local text = image.tile{ background = BLUE, text = "Three new messages from Ana" }
  local full = image.tile{ background = BLUE, text = "Three new messages from Ana", count = 5,
    title = "Inbox" }
  lu.assertTrue(differ(plain, text, 20, 120, 296, 100) > 200, "text in the middle")
  lu.assertEquals(differ(plain, text, 0, 0, 336, 90), 0, "nothing above the text")
  lu.assertTrue(differ(text, full, 256, 0, 80, 80) > 200, "the count badge, top right")
  lu.assertTrue(differ(text, full, 0, 290, 120, 46) > 100, "the title, bottom left")
  lu.assertEquals(differ(text, full, 0, 0, 150, 60), 0, "nothing new top left")
end

function TestImage:test_text_wraps_and_font_size_and_colour_change_it()
  local long = ("word "):rep(40)
  local one = image.tile{ background = BLUE, text = "word" }
  local wrapped = image.tile{ background = BLUE, text = long }
  lu.assertTrue(differ(one, wrapped, 0, 60, 336, 60) > 200, "more lines above the middle")
  local small = image.tile{ background = BLUE, text = "word", font_size = 12 }
  lu.assertTrue(differ(one, small, 100, 140, 136, 60) > 100)
  local red = image.tile{ background = BLUE, text = "word", color = "#FFFF0000" }
  lu.assertTrue(differ(one, red, 100, 140, 136, 60) > 100)
  -- a word wider than the tile is cut at a character, not lost
  local wide = image.tile{ background = BLUE, text = ("é"):rep(60) }
  lu.assertTrue(differ(one, wide, 0, 60, 40, 200) > 50)
end

-- Transparency is in the PNG only when the tile has some (tRNS for a
-- palette, colour type 6 for RGBA).
local function translucent(png)
  local _, _, _, ctype = ihdr(png)
  return ctype == 6 or png:find("tRNS", 1, true) ~= nil
end

function TestImage:test_colours_with_and_without_alpha()
  lu.assertEquals(image.tile{ background = "#1BA1E2" }, image.tile{ background = BLUE })
  for _, t in ipairs{ { background = BLUE }, { background = BLUE, text = "own colours" },
    { background = BLUE, text = "more colours", count = 5 } } do
    lu.assertFalse(translucent(image.tile(t)), t.text)
  end
  lu.assertTrue(translucent(image.tile{ background = "#801BA1E2" }))
  lu.assertTrue(translucent(image.tile{ text = "no background", count = 5 }))
end

function TestImage:test_png_and_jpeg_backgrounds()
  local plain = image.tile{}
  for _, file in ipairs{ "photo.jpg", "noise.png", "alpha.png" } do
    local png = image.tile{ background = dir .. "/" .. file, text = "x" }
    lu.assertEquals((ihdr(png)), 336, file)
    lu.assertTrue(differ(plain, png, 0, 0, 100, 100) > 5000, file .. " covers the tile")
  end
end

function TestImage:test_never_over_80_KB()
  lu.assertEquals(image.MAX_BYTES, 81920)
  local png = image.tile{ background = dir .. "/noise.png", text = "noise", count = 9 }
  local _, _, depth, ctype = ihdr(png)
  lu.assertTrue(#png <= 81920, #png)
  lu.assertEquals(ctype, 3, "noise only fits as a palette")
  lu.assertTrue(depth <= 8)
  local ok, res = pcall(image.tile, { size = "wide", background = dir .. "/noise.png" })
  if ok then lu.assertTrue(#res <= 81920, #res)
  else lu.assertStrContains(res, "over 81920 bytes even in 16 colours") end
end

function TestImage:test_bad_input_names_the_field()
  local missing = dir .. "/none.png"
  local cases = {
    { { titel = "x" }, "mpns.image.tile: unknown field 'titel'" },
    { { [1] = "x" }, "mpns.image.tile: field names are strings, got number" },
    { { size = "huge" }, "field 'size' expected \"small\" (159x159), \"medium\" (336x336), "
      .. "\"wide\" (691x336) or \"wp7\" (173x173), got \"huge\"" },
    { { color = "red" }, "field 'color' expected a colour written #AARRGGBB or #RRGGBB, such as #FF1BA1E2, got \"red\"" },
    { { background = "#FF00" }, "field 'background' expected a colour written #AARRGGBB or #RRGGBB" },
    { { background = "" }, "field 'background' expected a colour written #AARRGGBB or #RRGGBB, "
      .. "such as #FF1BA1E2, or the path of a PNG or JPEG file, got \"\"" },
    { { background = missing }, "field 'background' expected a PNG or JPEG file, got '" .. missing .. "' (No such file or directory)" },
    { { background = "spec/image_spec.lua" }, "field 'background' expected a PNG or JPEG file, got 'spec/image_spec.lua'" },
    { { text = "caf\233" }, "field 'text' expected valid UTF-8 text without control characters (byte 4 is not allowed)" },
    { { title = "a\0b" }, "field 'title' expected valid UTF-8 text without control characters (byte 2 is not allowed)" },
    { { count = 100 }, "field 'count' expected an integer from 0 to 99, got 100" },
    { { count = "5" }, "field 'count' expected a number, got string" },
    { { font_size = 200 }, "field 'font_size' expected a size in pixels from 8 to 96, got 200" },
    { { text = 5 }, "field 'text' expected a string, got number" },
  }
  for _, c in ipairs(cases) do lu.assertStrContains(err_of(c[1]), c[2]) end
  write("fake.jpg", "\255\216\255\224 not really a jpeg")
  lu.assertStrContains(err_of{ background = dir .. "/fake.jpg" }, "field 'background' expected a JPEG libjpeg "
    .. "can read, got '" .. dir .. "/fake.jpg' (")
  local SIG = "\137PNG\r\n\26\n\0\0\0\13IHDR"
  write("fake.png", SIG .. "\0\0\0\16\0\0\0\16\8\2\0\0\0 truncated")
  lu.assertStrContains(err_of{ background = dir .. "/fake.png" }, "field 'background' expected a PNG cairo can read, got '")
  -- sizes are read from the headers before anything is decoded
  write("huge.png", SIG .. "\0\0\156\64\0\0\156\64\8\2\0\0\0")
  lu.assertStrContains(err_of{ background = dir .. "/huge.png" }, "field 'background' expected an "
    .. "image of at most 16777216 pixels and 32767 a side, got '" .. dir .. "/huge.png' (40000x40000)")
  write("huge.jpg", "\255\216\255\192\0\11\8\253\232\253\232\1\1\17\0"
    .. "\255\218\0\8\1\1\0\0\63\0\255\217")
  lu.assertStrContains(err_of{ background = dir .. "/huge.jpg" }, "(8125x8125)")
  lu.assertErrorMsgContains("bad argument #1", image.tile, "medium")
end

function TestImage:test_mpns_image_loads_on_first_use()
  lu.assertIs(mpns.image, image)
end

local failures = lu.LuaUnit.run()
sh("rm -rf '" .. dir .. "'")
os.exit(failures == 0)
