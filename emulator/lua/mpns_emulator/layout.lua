-- The common payload layouts, recognised without a parser and without
-- making the body a Lua string: byte loops over a view of it (bytes.lua; in
-- nginx a pointer into the request buffer), which LuaJIT compiles, and no
-- substrings or tables (about 1 us instead of 8-15 us for expat and the
-- judgment). standard(kind, body) is true only for a body that the expat path
-- (validate.payload) accepts WITHOUT a warning; every other body, including
-- every valid layout this file does not know, gets false and goes to expat,
-- which gives the verdict and its reason. What a true proves:
--   * bytes: printable ASCII, tab, LF, CR only (so well-formed UTF-8 and XML
--     characters), no "]]>", and every "&" one of the five named entities;
--   * an optional <?xml version="1.0"?> declaration whose encoding, if any,
--     is utf-8 in some case; whitespace-only text outside the properties;
--   * <wp:Notification xmlns:wp="WPNotification"> (optionally Version="2.0"),
--     holding one wp:Toast for a toast or one wp:Tile (optionally
--     Template="<known WP8 template>", only with Version="2.0") for a tile;
--   * children with no attributes, each a property of that element, in the
--     protocol's order (so none repeated), holding text only;
--   * no property text that still holds an entity after unescaping, and the
--     value checks of schema.value_checks pass on the text.
-- spec/emulator_layout_spec.lua feeds mutated bodies to this and to expat.
local schema = require "mpns_emulator.schema"
local bytes = require "mpns_emulator.bytes"

local type = type

local _M = {}

local LT, GT, AMP, SEMI, HASH, RSQB = 60, 62, 38, 59, 35, 93

local lit = bytes.at

-- Skips whitespace from i; returns the next position.
local function ws(p, n, i)
  while i < n do
    local b = p[i]
    if b ~= 32 and b ~= 9 and b ~= 10 and b ~= 13 then return i end
    i = i + 1
  end
  return i
end

local function letter(b) return b and ((b >= 65 and b <= 90) or (b >= 97 and b <= 122)) end
local function alnum(b) return letter(b) or (b and b >= 48 and b <= 57) end

-- The position after the run of bytes from i that pass `is` (maybe i).
local function run(p, n, i, is)
  while i < n and is(p[i]) do i = i + 1 end
  return i
end

-- The five named entities, by their names' bytes.
local ENTITIES = { "amp", "lt", "gt", "quot", "apos" }

-- At "&" in p[i]: the position after a named entity's ";" and whether it is
-- "&amp;", or nil.
local function entity(p, n, i)
  local e = run(p, n, i + 1, letter)
  if e == i + 1 or e >= n or p[e] ~= SEMI then return nil end
  for k = 1, #ENTITIES do
    local name = ENTITIES[k]
    if e - i - 1 == #name and lit(p, n, i + 1, name) then return e + 1, k == 1 end
  end
  return nil
end

-- The text of property `name` from a, up to the next "<": every byte
-- printable ASCII, tab, LF or CR, no "]]>", every "&" a named entity, and
-- what validate.finish_property checks passes with no warning. Returns the
-- position of that "<", or nil. One pass: the tags around it are literals.
local function text(p, n, a, name)
  local i = a
  while i < n do
    local b = p[i]
    if b == LT then
      local check = schema.value_checks[name]
      if check and check(p, a, i - 1) ~= nil then return nil end
      return i
    end
    if b > 126 or (b < 32 and b ~= 9 and b ~= 10 and b ~= 13) then return nil end
    if b == GT and i >= a + 2 and p[i - 1] == RSQB and p[i - 2] == RSQB then return nil end
    if b == AMP then
      local e, amp = entity(p, n, i)
      if not e then return nil end
      -- "&amp;" then "#?%w+;": the unescaped text still holds an entity.
      if amp then
        local j = p[e] == HASH and e + 1 or e
        local k = run(p, n, j, alnum)
        if k > j and k < n and p[k] == SEMI then return nil end
      end
      i = e
    else
      i = i + 1
    end
  end
  return nil
end

-- At "<wp:" in p[i]: the property of `list` (schema.children) after
-- position `last` whose start tag this is: its position, the position after
-- the tag, its name; or nil (unknown, repeated, out of order, attributes).
local function start_tag(p, n, i, list, last)
  for at = last + 1, #list do
    local name = list[at]
    local e = lit(p, n, i + 4, name)
    if e and e < n and p[e] == GT then return at, e + 1, name end
  end
  return nil
end

-- Properties from i: returns the position after the last one, or nil.
local function properties(p, n, i, list)
  local last = 0
  while true do
    i = ws(p, n, i)
    if not lit(p, n, i, "<wp:") then return i end
    local at, from, name = start_tag(p, n, i, list, last)
    if not at then return nil end
    last = at
    local lt = text(p, n, from, name)
    if not lt then return nil end
    local e = lit(p, n, lt, "</wp:")
    e = e and lit(p, n, e, name)
    if not e or e >= n or p[e] ~= GT then return nil end
    i = e + 1
  end
end

-- The element under wp:Notification for `kind` from i: its children's
-- list, the position after its start tag, and its end tag; or nil.
local function container(p, n, i, kind, v2)
  if kind == "toast" then
    local e = lit(p, n, i, "<wp:Toast>")
    return e and schema.children.Toast, e, "</wp:Toast>"
  end
  local e = lit(p, n, i, "<wp:Tile>")
  if e then return schema.children[""], e, "</wp:Tile>" end
  e = lit(p, n, i, '<wp:Tile Template="')
  if not v2 or not e then return nil end -- a template without Version warns
  local te = run(p, n, e, letter)
  if te == e or not lit(p, n, te, '">') then return nil end
  return schema.children[bytes.string(p, te - e, e)], te + 2, "</wp:Tile>"
end

-- After an XML declaration at 0, if any: version 1.0, encoding utf-8 (in
-- any case) or none.
local function declaration(p, n)
  local e = lit(p, n, 0, '<?xml version="1.0"')
  if not e then return 0 end
  local f = lit(p, n, e, "?>")
  if f then return f end
  e = lit(p, n, e, ' encoding="')
  if not e or e + 3 > n then return nil end
  local u, t, f8 = p[e], p[e + 1], p[e + 2]
  if (u ~= 85 and u ~= 117) or (t ~= 84 and t ~= 116) or (f8 ~= 70 and f8 ~= 102) then return nil end
  return lit(p, n, e + 3, '-8"?>')
end

local ROOT = '<wp:Notification xmlns:wp="WPNotification"'

--- True when `body` is a standard layout of a `kind` ("toast" or "tile")
--- payload that expat accepts with no warning (see the top of this file).
--- body is a string, or a byte view (bytes.lua) of n bytes.
---@param kind string
---@param body string|ffi.cdata*
---@param n? integer
---@return boolean
function _M.standard(kind, body, n)
  local p = body
  if type(body) == "string" then p, n = bytes.view(body) end
  local e = declaration(p, n)
  if not e then return false end
  local i = lit(p, n, ws(p, n, e), ROOT)
  if not i then return false end
  e = lit(p, n, i, ">")
  local v2 = not e
  if v2 then e = lit(p, n, i, ' Version="2.0">') end
  if not e then return false end
  local list, from, close = container(p, n, ws(p, n, e), kind, v2)
  if not list then return false end
  i = properties(p, n, from, list)
  e = i and lit(p, n, i, close)
  e = e and lit(p, n, ws(p, n, e), "</wp:Notification>")
  return e ~= nil and ws(p, n, e) == n
end

return _M
