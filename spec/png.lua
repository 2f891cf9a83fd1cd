-- spec/png.lua: small valid PNG files made in Lua (stored deflate blocks,
-- no zlib, no renderer), for the specs and benchmarks that need an image.
-- Lua 5.4 and LuaJIT.
--   png.image(w, h, function(x, y) return r, g, b end) -> PNG bytes
local P = {}

local bxor, band, rshift
if jit then
  local bit = require "bit"
  bxor, band, rshift = bit.bxor, bit.band, bit.rshift
else -- Lua 5.4's operators, hidden from LuaJIT's parser
  bxor, band, rshift = load("return function(a, b) return a ~ b end, "
    .. "function(a, b) return a & b end, function(a, n) return a >> n end")()
end

local CRC = {}
for n = 0, 255 do
  local c = n
  for _ = 1, 8 do c = c % 2 == 1 and bxor(0xEDB88320, rshift(c, 1)) or rshift(c, 1) end
  CRC[n] = c
end

local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do c = bxor(CRC[band(bxor(c, s:byte(i)), 0xFF)], rshift(c, 8)) end
  return bxor(c, 0xFFFFFFFF) % 4294967296
end

local function u32(n)
  return string.char(math.floor(n / 16777216) % 256, math.floor(n / 65536) % 256,
    math.floor(n / 256) % 256, n % 256)
end

local function chunk(kind, data) return u32(#data) .. kind .. data .. u32(crc32(kind .. data)) end

-- zlib with stored (uncompressed) blocks.
local function zlib(raw)
  local out, a, b = { "\120\1" }, 1, 0
  for i = 1, #raw do
    a = (a + raw:byte(i)) % 65521
    b = (b + a) % 65521
  end
  local pos = 1
  repeat
    local piece = raw:sub(pos, pos + 65534)
    pos = pos + #piece
    local last = pos > #raw and 1 or 0
    out[#out + 1] = string.char(last, #piece % 256, math.floor(#piece / 256),
      (65535 - #piece) % 256, math.floor((65535 - #piece) / 256)) .. piece
  until last == 1
  out[#out + 1] = u32(b * 65536 + a)
  return table.concat(out)
end

--- An RGB image, w x h, each pixel from pixel(x, y) -> r, g, b (0..255).
function P.image(w, h, pixel)
  local rows = {}
  for y = 0, h - 1 do
    local row = { "\0" }
    for x = 0, w - 1 do row[#row + 1] = string.char(pixel(x, y)) end
    rows[#rows + 1] = table.concat(row)
  end
  return "\137PNG\r\n\26\n" .. chunk("IHDR", u32(w) .. u32(h) .. "\8\2\0\0\0")
    .. chunk("IDAT", zlib(table.concat(rows))) .. chunk("IEND", "")
end

--- Diagonal stripes of two colours: easy to recognise in a screenshot.
function P.stripes(w, h, c1, c2)
  return P.image(w, h, function(x, y)
    local c = math.floor((x + y) / 12) % 2 == 0 and c1 or c2
    return c[1], c[2], c[3]
  end)
end

return P
