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

-- Checks of one property's text. Each returns nil when fine, or a message and
-- whether it is fatal (400) or only a warning (MPNS's answer unknown).
local function count(v)
  local n = v:match("^%d%d?$")
  if not n then return "Count must be an integer 0..99, got '" .. v .. "'", true end
end

local function color(v)
  if not v:match("^#%x%x%x%x%x%x%x%x$") then
    return "BackgroundColor should be #AARRGGBB, got '" .. v .. "'"
  end
end

local function local_image(v)
  if v:match("^%a+://") then return "cycle images must be local, got '" .. v .. "'" end
end

local function param(v)
  if not v:match("^[/?]") then
    return "Param should be a relative page URI (/Page.xaml?...), got '" .. v .. "'"
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
