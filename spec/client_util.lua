-- What the client suites share: the module with delivery installed, one
-- emulator per suite, unique channel ids.
local mpns = require "mpns"
if not mpns.client then require("mpns.client")(mpns, require "mpns.core") end
local emu = require "emu"

local U = { mpns = mpns }
local e, n = nil, 0

function U.emu()
  if not e then e = assert(emu.start { daily_limit = 500 }) end
  return e
end

function U.stop()
  if e then e:stop(); e = nil end
end

-- Runs fn(e) with an emulator of its own, whose counts no other test's
-- late requests (a hung handler waking up) can reach; always stops it.
function U.with_own_emu(fn)
  local own = assert(emu.start { daily_limit = 500 })
  local ok, err = pcall(fn, own)
  own:stop()
  if not ok then error(err, 0) end
end

-- A channel id no other test uses.
function U.id(tag)
  n = n + 1
  return (tag or "ch") .. "-" .. n
end

function U.http(id) return U.emu().http_prefix .. id end
function U.https(id) return U.emu().https_prefix .. id end

function U.toast() return mpns.toast { text1 = "Score", text2 = "Home 2 - 1 Away" } end

-- Runs `code` in a fresh interpreter like this one (same paths); returns
-- what it wrote to stderr, and its stdout.
function U.script_stderr(code)
  local lua, f = arg and arg[-1] or "lua5.4", os.tmpname()
  local h = assert(io.open(f, "w"))
  h:write('local mpns = require "mpns"\n', code)
  h:close()
  local p = assert(io.popen(lua .. " " .. f .. " 2>&1 >" .. f .. ".out"))
  local err = p:read("*a")
  p:close()
  local o = io.open(f .. ".out")
  local out = o and o:read("*a") or ""
  if o then o:close() end
  os.remove(f); os.remove(f .. ".out")
  return err, out
end

-- Runs the luaunit suite, stops the emulator, exits with the result.
function U.run(lu)
  local rc = lu.LuaUnit.run()
  U.stop()
  os.exit(rc == 0)
end

return U
