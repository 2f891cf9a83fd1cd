--- mpns.store: what every channel store shares.
-- The record's fields (one table of data), `NULL` to clear a field, filter
-- checks and matching, the JSON codec for table-valued fields, and `open`,
-- which picks a store by name. Each store is one file in mpns/store/.
local cjson = require("cjson").new()  -- a private instance: settings stay ours

local M = {}

--- Passed as a value in `store:update` changes: clears that field.
M.NULL = setmetatable({}, { __tostring = function() return "mpns.store.NULL" end })

--- Every field of a channel record and its Lua type ("json" = a table kept as JSON).
M.FIELDS = {
  { "uri", "string" }, { "user", "string" }, { "device", "string" },
  { "os", "string" }, { "tags", "json" },
  { "created_at", "number" }, { "updated_at", "number" },
  { "last_outcome", "string" }, { "last_status", "number" }, { "last_at", "number" },
  { "notification_status", "string" }, { "device_status", "string" },
  { "subscription_status", "string" },
  { "pinned", "boolean" }, { "app_running", "boolean" }, { "retry_at", "number" },
  { "counter", "number" }, { "tile", "json" }, { "callback", "json" },
}
M.TYPE = {}
for _, f in ipairs(M.FIELDS) do M.TYPE[f[1]] = f[2] end

-- What a filter may hold; `due` is a time, the others match a field.
local FILTER = { user = "string", tag = "string", os = "string", device = "string",
  due = "number" }

--- Raises unless `filter` is a table of known keys with values of the right type.
---@param filter table|nil
---@param who string the caller's name, for the message
---@return table filter (an empty table for nil)
function M.check_filter(filter, who)
  if filter == nil then return {} end
  if type(filter) ~= "table" then error(who .. ": filter must be a table", 3) end
  for k, v in pairs(filter) do
    local want = FILTER[k]
    if not want then error(who .. ": unknown filter key '" .. tostring(k) .. "'", 3) end
    if type(v) ~= want then
      error(who .. ": filter '" .. k .. "' expected a " .. want .. ", got " .. type(v), 3)
    end
  end
  return filter
end

--- True if the record matches the filter (for stores that filter in Lua).
---@param rec table
---@param filter table
function M.matches(rec, filter)
  if filter.user and rec.user ~= filter.user then return false end
  if filter.os and rec.os ~= filter.os then return false end
  if filter.device and rec.device ~= filter.device then return false end
  if filter.due and rec.retry_at and rec.retry_at > filter.due then return false end
  if filter.tag then
    for _, t in ipairs(rec.tags) do if t == filter.tag then return true end end
    return false
  end
  return true
end

--- Raises unless every key of `changes` is a record field `update` may set
--- (`uri` and `device` change only through subscribe, which keeps them unique).
---@param changes table
---@param who string
function M.check_changes(changes, who)
  for k in pairs(changes) do
    if not M.TYPE[k] or k == "uri" or k == "device" then
      error(who .. ": cannot update field '" .. tostring(k) .. "'", 3)
    end
  end
end

-- mpns.CLEAR inside a stored tile is kept as this JSON object.
local CLEAR_JSON = { ["mpns.CLEAR"] = true }

local function to_json_value(v, clear)
  if v == clear then return CLEAR_JSON end
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = to_json_value(x, clear) end
  return t
end

local function from_json_value(v, clear)
  if type(v) ~= "table" then return v end
  if v["mpns.CLEAR"] == true then return clear end
  for k, x in pairs(v) do v[k] = from_json_value(x, clear) end
  return v
end

-- mpns.CLEAR, once mpns is loaded (the stores do not need the C core).
local CLEAR
local function clear_marker()
  if CLEAR == nil then
    local ok, mpns = pcall(require, "mpns")
    CLEAR = ok and mpns.CLEAR or false
  end
  return CLEAR or nil
end

--- A deep copy of plain data (records never share tables with their store);
--- the NULL and mpns.CLEAR markers are kept as they are.
function M.copy(v)
  if type(v) ~= "table" or v == M.NULL or v == clear_marker() then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = M.copy(x) end
  return t
end

--- A table-valued field as JSON text (mpns.CLEAR survives the trip).
---@param v table|nil
---@return string|nil
function M.encode(v)
  if v == nil then return nil end
  return cjson.encode(to_json_value(v, clear_marker()))
end

--- The table `M.encode` wrote.
---@param s string|nil
---@return table|nil
function M.decode(s)
  if s == nil then return nil end
  return from_json_value(cjson.decode(s), clear_marker())
end

--- A store from a name ("memory", "sqlite", "redis") and its options, or the
--- store object itself.
---@param spec string|table
---@param opts table options for that store's `new`
function M.open(spec, opts)
  if type(spec) == "table" then return spec end
  if type(spec) ~= "string" or not spec:match("^[%w_]+$") then
    error("mpns.store: store expected a name such as \"sqlite\" or a store object", 2)
  end
  local ok, mod = pcall(require, "mpns.store." .. spec)
  if not ok then error("mpns.store: no store named '" .. spec .. "' (" .. tostring(mod) .. ")", 2) end
  return mod.new(opts or {})
end

return M
