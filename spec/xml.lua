--- spec/xml.lua: parses a payload with lua-expat, an independent referee of
-- what the C builder wrote. Returns the root element as
-- { name = "wp:Notification", attr = {...}, text = "...", children = {...} }.
local lxp = require "lxp"

local M = {}

function M.parse(body)
  local root = { children = {} }
  local stack = { root }
  local parser = lxp.new({
    StartElement = function(_, name, attr)
      local node = { name = name, attr = attr, text = "", children = {} }
      local parent = stack[#stack]
      parent.children[#parent.children + 1] = node
      stack[#stack + 1] = node
    end,
    EndElement = function() stack[#stack] = nil end,
    CharacterData = function(_, s)
      local node = stack[#stack]
      node.text = (node.text or "") .. s
    end,
  })
  local ok, err = parser:parse(body)
  if ok then ok, err = parser:parse() end
  parser:close()
  assert(ok, "payload is not well-formed XML: " .. tostring(err))
  return root.children[1]
end

--- The names of an element's children, in order.
function M.names(node)
  local out = {}
  for i, child in ipairs(node.children) do out[i] = child.name end
  return out
end

--- The child named `name`, or nil.
function M.child(node, name)
  for _, child in ipairs(node.children) do
    if child.name == name then return child end
  end
end

return M
