-- The common payload layouts, recognised without a parser: anchored
-- string.find calls that return positions only, so a body makes no
-- substrings and no tables (about 1 us instead of 8-15 us for expat and the
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
--     value checks of schema.value_checks pass on the unescaped text.
-- spec/emulator_layout_spec.lua feeds mutated bodies to this and to expat.
local schema = require "mpns_emulator.schema"

local find, sub, gsub, byte = string.find, string.sub, string.gsub, string.byte

local _M = {}

local ENTITIES = { amp = "&", lt = "<", gt = ">", quot = '"', apos = "'" }

-- True when every byte is printable ASCII, tab, LF or CR. A byte loop:
-- LuaJIT compiles it (ten times as fast as a negated set in string.find).
local function plain_ascii(body)
  for i = 1, #body do
    local b = byte(body, i)
    if b > 126 or (b < 32 and b ~= 9 and b ~= 10 and b ~= 13) then return false end
  end
  return true
end

-- Skips whitespace from i; returns the next position. Most bodies have none
-- between tags: one byte test then, not a pattern.
local function ws(body, i)
  local b = byte(body, i)
  if b ~= 32 and b ~= 9 and b ~= 10 and b ~= 13 then return i end
  local _, e = find(body, "^[ \t\r\n]*", i)
  return e + 1
end

-- The text from a to b (inclusive) of property `name` passes what
-- validate.finish_property checks, with no warning.
local function text_ok(body, a, b, name)
  local amp = find(body, "&", a, true)
  while amp and amp <= b do
    local _, e, ent = find(body, "^&(%a+);", amp)
    if not ent or not ENTITIES[ent] then return false end
    -- "&amp;" then "#?%w+;": the unescaped text still holds an entity.
    if ent == "amp" and find(body, "^#?%w+;", e + 1) then return false end
    amp = find(body, "&", e + 1, true)
  end
  local check = schema.value_checks[name]
  if not check then return true end
  if find(body, "\r", a, true) and find(body, "\r", a, true) <= b then return false end
  local v = sub(body, a, b) -- short: only properties with a value check
  if find(v, "&", 1, true) then v = gsub(v, "&(%a+);", ENTITIES) end
  return check(v) == nil
end

-- Properties from i: returns the position after the last one, or nil.
local function properties(body, i, children)
  local last = 0
  while true do
    i = ws(body, i)
    local _, e, name = find(body, "^<wp:(%w+)>", i)
    if not name then return i end
    local at = children[name]
    if not at or at <= last then return nil end -- unknown, repeated, out of order
    last = at
    local lt = find(body, "<", e + 1, true)
    if not lt or not text_ok(body, e + 1, lt - 1, name) then return nil end
    local _, ce, close = find(body, "^</wp:(%w+)>", lt)
    if close ~= name then return nil end
    i = ce + 1
  end
end

-- The element under wp:Notification for `kind` from i: its children's
-- table, the position after its start tag, and its end tag; or nil.
local function container(body, i, kind, v2)
  if kind == "toast" then
    local _, e = find(body, "^<wp:Toast>", i)
    return e and schema.children.Toast, e and e + 1, "^</wp:Toast>"
  end
  local _, e = find(body, "^<wp:Tile>", i)
  if e then return schema.children[""], e + 1, "^</wp:Tile>" end
  local _, te, template = find(body, '^<wp:Tile Template="(%a+)">', i)
  if not v2 or not template then return nil end -- a template without Version warns
  return schema.children[template], te + 1, "^</wp:Tile>"
end

local DECL = { '^<%?xml version="1%.0" encoding="[uU][tT][fF]%-8"%?>', '^<%?xml version="1%.0"%?>' }
local ROOT = '^<wp:Notification xmlns:wp="WPNotification">'
local ROOT_V2 = '^<wp:Notification xmlns:wp="WPNotification" Version="2%.0">'

--- True when `body` is a standard layout of a `kind` ("toast" or "tile")
--- payload that expat accepts with no warning (see the top of this file).
---@param kind string
---@param body string
---@return boolean
function _M.standard(kind, body)
  if not plain_ascii(body) or find(body, "]]>", 1, true) then return false end
  local _, e = find(body, DECL[1])
  if not e then _, e = find(body, DECL[2]) end
  local i = ws(body, (e or 0) + 1)
  local v2 = false
  _, e = find(body, ROOT, i)
  if not e then
    _, e = find(body, ROOT_V2, i)
    v2 = true
  end
  if not e then return false end
  local children, from, close = container(body, ws(body, e + 1), kind, v2)
  if not children then return false end
  i = properties(body, from, children)
  if not i then return false end
  _, e = find(body, close, i)
  if not e then return false end
  _, e = find(body, "^</wp:Notification>", ws(body, e + 1))
  return e ~= nil and ws(body, e + 1) == #body + 1
end

return _M
