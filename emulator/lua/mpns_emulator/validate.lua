-- Judges a push the way MPNS did: headers first, then the XML payload with
-- lua-expat, never with the library's own code. request() returns what the
-- phone would get (kind, class, the payload's judgment: fields, clear,
-- attributes, warnings) or nil and the reason for a 400.
local lxp = require "lxp"
local schema = require "mpns_emulator.schema"
local config = require "mpns_emulator.config"
local cache = require "mpns_emulator.cache"
local layout = require "mpns_emulator.layout"
local bytes = require "mpns_emulator.bytes"

local type, sub, find, byte = type, string.sub, string.find, string.byte
local pairs, next = pairs, next

local _M = {}

-- Bytes of the custom (X-*) headers, as "Name: value\r\n" on the wire.
local function custom_header_bytes(headers)
  local n = 0
  for k, v in pairs(headers) do
    if byte(k, 1) == 120 and byte(k, 2) == 45 then -- "x-"
      if type(v) == "table" then
        for i = 1, #v do n = n + #k + #v[i] + 4 end
      else
        n = n + #k + #v + 4
      end
    end
  end
  return n
end

-- Checks the headers; returns kind, class number or nil, reason.
function _M.headers(h)
  local target, class = h["x-windowsphone-target"], h["x-notificationclass"]
  if type(target) == "table" or type(class) == "table" then
    return nil, "repeated X-WindowsPhone-Target or X-NotificationClass header"
  end
  local kind = "raw"
  if target then
    kind = schema.targets[target]
    if not kind then return nil, "bad X-WindowsPhone-Target: '" .. target .. "'" end
  end
  if class then
    class = schema.classes[kind][class]
    if not class then
      return nil, "X-NotificationClass '" .. h["x-notificationclass"]
        .. "' does not belong to a " .. kind .. " notification"
    end
  else
    class = schema.immediate[kind]
  end
  if custom_header_bytes(h) > config.max_headers then
    return nil, "custom headers over " .. config.max_headers .. " bytes"
  end
  return kind, class
end

-- The parse in progress. Callbacks never raise through expat: the first
-- problem is kept here and the parser stopped.
local cx

local function fail(p, msg)
  if not cx.err then cx.err = msg end
  p:stop()
end

local function warn(msg)
  local w = cx.warnings
  w[#w + 1] = msg
end

-- Checks the attributes of element `local_name` against `allowed`; records
-- the ones the notification keeps. Returns false after a failure.
local function attributes(p, local_name, attrs, allowed)
  for i = 1, #attrs do
    local a = attrs[i]
    local v = attrs[a]
    if not allowed[a] then
      return fail(p, "unknown attribute " .. a .. " on wp:" .. local_name)
    end
    local values = schema.attribute_values[a]
    if values and not values[v] then
      return fail(p, "bad " .. a .. "='" .. v .. "' on wp:" .. local_name)
    end
    if a ~= "xmlns:wp" and a ~= "Action" then cx.attributes[a] = v end
  end
  return true
end

local tile_child_attrs = { Action = true }
local no_attrs = {}

local function root(p, name, attrs)
  if name ~= "wp:Notification" then
    return fail(p, "root element must be wp:Notification, got " .. name)
  end
  if attrs["xmlns:wp"] ~= schema.namespace then
    return fail(p, "missing wp namespace (xmlns:wp=\"WPNotification\")")
  end
  attributes(p, "Notification", attrs, schema.attributes.Notification)
end

local function body(p, name, attrs)
  local want = schema.body[cx.kind]
  if cx.container then return fail(p, "more than one element in wp:Notification") end
  if name ~= "wp:" .. want then
    return fail(p, name .. " in a " .. cx.kind .. " request (expected wp:" .. want .. ")")
  end
  if not attributes(p, want, attrs, schema.attributes[want]) then return end
  local key = want == "Toast" and "Toast" or (attrs.Template or "")
  cx.children = schema.children[key]
  if not cx.children then return fail(p, "unknown tile Template '" .. key .. "'") end
  if attrs.Template and cx.attributes.Version ~= "2.0" then
    warn("WP8 template " .. key .. " without Version=\"2.0\" on wp:Notification")
  end
  cx.container = want
end

local function child(p, name, attrs)
  local local_name = sub(name, 1, 3) == "wp:" and sub(name, 4)
  local pos = local_name and cx.children[local_name]
  if not pos then
    return fail(p, "unknown element " .. name .. " in wp:" .. cx.container
      .. (cx.attributes.Template and (" (" .. cx.attributes.Template .. ")") or ""))
  end
  if cx.seen[local_name] then return fail(p, "repeated element " .. name) end
  cx.seen[local_name] = true
  if pos < cx.last then warn(name .. " out of the protocol's order") end
  cx.last = pos
  local allowed = cx.container == "Tile" and tile_child_attrs
    or schema.attributes[local_name] or no_attrs
  if not attributes(p, local_name, attrs, allowed) then return end
  cx.clearing = attrs.Action == "Clear"
  cx.current, cx.text = local_name, {}
end

local starts = { root, body, child }

local callbacks = {
  StartElement = function(p, name, attrs)
    if cx.err then return end
    cx.depth = cx.depth + 1
    local f = starts[cx.depth]
    if not f then return fail(p, "element " .. name .. " inside wp:" .. cx.current) end
    f(p, name, attrs)
  end,
  CharacterData = function(p, s)
    if cx.depth == 3 then
      local t = cx.text
      t[#t + 1] = s
    elseif find(s, "%S") then
      fail(p, "text outside the property elements")
    end
  end,
  EndElement = function(p)
    if cx.err then return end
    if cx.depth == 3 then _M.finish_property(p) end
    cx.depth = cx.depth - 1
  end,
  StartDoctypeDecl = function(p) fail(p, "DOCTYPE is not allowed") end,
  XmlDecl = function(_, _, encoding)
    if encoding and encoding:lower() ~= "utf-8" then
      warn("XML encoding " .. encoding .. ", the protocol says utf-8")
    end
  end,
}

-- A property's text is complete: check it and record it (or its clearing).
function _M.finish_property(p)
  local name, v = cx.current, table.concat(cx.text)
  if cx.clearing then
    if v ~= "" then warn("wp:" .. name .. " has Action=\"Clear\" and content") end
    cx.clear[#cx.clear + 1] = name
    return
  end
  local check = schema.value_checks[name]
  local msg, fatal
  if check then msg, fatal = check(bytes.view(v), 0, #v - 1) end
  if msg then
    msg = msg .. ", got '" .. v .. "'"
    if fatal then return fail(p, msg) end
    warn(msg)
  end
  if find(v, "&#?%w+;") then
    warn("wp:" .. name .. " still holds an entity after unescaping (escaped twice?)")
  end
  cx.fields[name] = v
end

-- Parses an XML payload for `kind`: returns its judgment (fields, clear,
-- attributes, warnings; empty ones left out) or nil and the reason.
function _M.payload(kind, body)
  if body == "" then return nil, "empty " .. kind .. " payload" end
  cx = { kind = kind, depth = 0, last = 0, seen = {}, fields = {}, clear = {},
         attributes = {}, warnings = {} }
  local p = lxp.new(callbacks)
  local ok, msg, line, col = p:parse(body)
  if ok then ok, msg, line, col = p:parse() end
  pcall(p.close, p) -- raises once the parse has failed; the parser is done anyway
  local c = cx
  cx = nil
  if c.err then return nil, c.err end
  if not ok then return nil, "malformed XML: " .. tostring(msg) .. " at " .. line .. ":" .. col end
  if not c.container then return nil, "wp:Notification has no wp:" .. schema.body[kind] end
  return { fields = c.fields, clear = c.clear[1] and c.clear,
           attributes = next(c.attributes) and c.attributes, warnings = c.warnings[1] and c.warnings }
end

-- What payload() says of kind and body: its judgment, or { err = reason }.
local function judgment(kind, body)
  local j, err = _M.payload(kind, body)
  return j or { err = err }
end

-- Recent judgments per kind, by exact bytes, of bodies that are not a
-- standard layout. Judging is a function of those alone, so the same such
-- notification fanned out to many channels is parsed once; config.memo
-- bounds the payloads remembered per kind (0 turns it off).
local memos = {}
for _, kind in ipairs { "toast", "tile" } do
  memos[kind] = cache.new(config.memo, function(body) return judgment(kind, body) end)
end

local function judge(kind, body)
  if config.memo == 0 then return judgment(kind, body) end
  return memos[kind]:get(body)
end

-- Forgets every judgment.
function _M.forget()
  for _, memo in pairs(memos) do memo:clear() end
end

-- Judges one request: its headers table and its body, n bytes in view p
-- (bytes.lua). Returns the record { kind, class, warnings = this request's
-- own (header) warnings } or nil and the reason for a 400. A standard layout
-- (layout.lua) is proven valid and warning-free in place, never made a Lua
-- string; the stored notification keeps the body, and record.expand judges
-- it again when it is shown, so nothing of the judgment outlives the request.
function _M.request(h, p, n)
  local kind, class = _M.headers(h)
  if not kind then return nil, class end
  if n > config.max_payload then
    return nil, "payload of " .. n .. " bytes over " .. config.max_payload
  end
  if kind == "raw" then return { kind = kind, class = class } end
  local ct, warnings = h["content-type"], nil
  if type(ct) ~= "string" or find(ct, "text/xml", 1, true) ~= 1 then
    warnings = { "Content-Type should be text/xml, got " .. tostring(ct) }
  end
  if not layout.standard(kind, p, n) then
    local m = judge(kind, bytes.string(p, n))
    if m.err then return nil, m.err end
  end
  return { kind = kind, class = class, warnings = warnings }
end

return _M
