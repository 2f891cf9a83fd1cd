--- mpns.registry and its stores: the store contract against memory and
-- SQLite, then the registry's own behaviour.
local lu = require "luaunit"
local mpns = require "mpns"
local contract = require "store_contract"

local function tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p " .. p))
  return p
end

local function rmdir(p) os.execute("rm -rf " .. p) end

TestMemoryStore = contract(function() return require("mpns.store.memory").new() end)

local dirs = {}
TestSqliteStore = contract(function()
  local d = tmpdir()
  local s = require("mpns.store.sqlite").new{ path = d .. "/push.db" }
  dirs[s] = d
  return s
end, function(s) rmdir(dirs[s]) end)

os.exit(lu.LuaUnit.run() == 0)
