--- mpns.options: the one check of a Lua constructor's options table. Each
-- module lists its options with their Lua types ("string|table" for either,
-- "any" for any value); an unknown key (a typo) or a wrong type raises,
-- naming the constructor and the key, at the caller of that constructor.
-- (mpns.client's options are checked in C, csrc/lclient.c.)
local type, error, pairs, tostring, format, find =
  type, error, pairs, tostring, string.format, string.find

local M = {}

--- Raises unless every key of `opts` is in `known` with a value of that
--- type; nil is an empty table. Returns the table.
---@param who string the constructor, e.g. "mpns.store.sqlite"
---@param opts table|nil
---@param known table name -> "type", "type|type" or "any"
---@param level integer|nil the error level from the constructor (default 1: its caller)
---@return table opts
function M.check(who, opts, known, level)
  level = (level or 1) + 2
  if opts == nil then return {} end
  if type(opts) ~= "table" then error(who .. ": options must be a table", level) end
  for k, v in pairs(opts) do
    local want = known[k]
    if not want then error(format("%s: unknown option '%s'", who, tostring(k)), level) end
    if want ~= "any" and not find("|" .. want .. "|", "|" .. type(v) .. "|", 1, true) then
      error(format("%s: option '%s' expected a %s, got %s", who, k, want, type(v)), level)
    end
  end
  return opts
end

return M
