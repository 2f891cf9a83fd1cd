-- What MPNS accepts, as data: headers per kind and the payload elements per
-- target and template, from the protocol's header and payload tables.
local _M = {}

-- X-WindowsPhone-Target -> kind. Absent means raw; "tile" is not a target.
_M.targets = { toast = "toast", token = "tile" }

-- X-NotificationClass values each kind accepts (immediate, 450 s, 900 s).
_M.classes = {
  tile  = { ["1"] = 1, ["11"] = 11, ["21"] = 21 },
  toast = { ["2"] = 2, ["12"] = 12, ["22"] = 22 },
  raw   = { ["3"] = 3, ["13"] = 13, ["23"] = 23 },
}
_M.immediate = { tile = 1, toast = 2, raw = 3 }

-- The one element under wp:Notification for each XML kind.
_M.body = { toast = "Toast", tile = "Tile" }

-- Children of wp:Toast and of wp:Tile per Template ("" = the 7.x tile), in the
-- order the protocol gives; the index is the position.
local function ordered(list)
  for i, name in ipairs(list) do list[name] = i end
  return list
end

local cycle = { "SmallBackgroundImage" }
for i = 1, 9 do cycle[#cycle + 1] = "CycleImage" .. i end
cycle[#cycle + 1] = "Count"
cycle[#cycle + 1] = "Title"

_M.children = {
  Toast = ordered { "Text1", "Text2", "Param", "Sound" },
  [""] = ordered { "BackgroundImage", "Count", "Title",
    "BackBackgroundImage", "BackTitle", "BackContent" },
  FlipTile = ordered { "SmallBackgroundImage", "WideBackgroundImage",
    "WideBackBackgroundImage", "WideBackContent", "BackgroundImage", "Count",
    "Title", "BackBackgroundImage", "BackTitle", "BackContent" },
  IconicTile = ordered { "SmallIconImage", "IconImage", "WideContent1",
    "WideContent2", "WideContent3", "Count", "Title", "BackgroundColor" },
  CycleTile = ordered(cycle),
}

-- Attributes each element may carry. Tile properties may carry Action (below);
-- toast elements may not: clearing is a tile feature.
_M.attributes = {
  Notification = { ["xmlns:wp"] = true, Version = true },
  Toast = {},
  Tile = { Id = true, Template = true },
  Sound = { Silent = true },
}
_M.namespace = "WPNotification"

-- Checks of one property's text, on its bytes p[a..b] (a byte view, see
-- bytes.lua; b = a - 1 when empty), so the fast path (layout.lua) checks a
-- personalised value in the request buffer without copying it. Each returns
-- nil when fine, or what the text should be and whether that is fatal (400)
-- or only a warning (MPNS's answer unknown); validate.lua adds the text.
-- They look only at digits, letters, '#', ':', '/' and '?', none of which an
-- entity named in XML makes, and treat CR like LF, so the escaped text
-- (layout.lua) gets the verdict of its unescaped text (expat).
local function digit(c) return c >= 48 and c <= 57 end
local function letter(c) return (c >= 65 and c <= 90) or (c >= 97 and c <= 122) end
local function hex(c) return digit(c) or (c >= 65 and c <= 70) or (c >= 97 and c <= 102) end

local function count(p, a, b)
  if b < a or b > a + 1 or not digit(p[a]) or not digit(p[b]) then
    return "Count must be an integer 0..99", true
  end
end

local function color(p, a, b)
  if b ~= a + 8 or p[a] ~= 35 then return "BackgroundColor should be #AARRGGBB" end -- '#'
  for i = a + 1, b do
    if not hex(p[i]) then return "BackgroundColor should be #AARRGGBB" end
  end
end

-- Not local: a scheme (letters) and "://".
local function local_image(p, a, b)
  local i = a
  while i <= b and letter(p[i]) do i = i + 1 end
  if i > a and i + 2 <= b and p[i] == 58 and p[i + 1] == 47 and p[i + 2] == 47 then
    return "cycle images must be local"
  end
end

local function param(p, a, b)
  if b < a or (p[a] ~= 47 and p[a] ~= 63) then -- '/' or '?'
    return "Param should be a relative page URI (/Page.xaml?...)"
  end
end

_M.value_checks = { Count = count, BackgroundColor = color, Param = param }
for i = 1, 9 do _M.value_checks["CycleImage" .. i] = local_image end

-- Attribute values with a fixed set of meanings.
_M.attribute_values = {
  Action = { Clear = true },
  Silent = { ["true"] = true, ["false"] = true },
}

return _M
