--- spec/proc.lua: the few process helpers the nginx launchers of the specs
-- share (spec/emu.lua, spec/resty_nginx.lua, bench/peers.lua). Lua 5.4 and LuaJIT.
local P = {}

--- A shell command's standard output.
function P.sh(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("*a")
  f:close()
  return out
end

function P.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- Alive and not a zombie (an orphaned master may never be reaped here).
function P.alive(pid)
  local stat = P.read_file("/proc/" .. pid .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

--- TERM, then KILL after 5 s, waiting until the process is gone.
function P.stop(pid)
  os.execute("kill -TERM " .. pid .. " 2>/dev/null")
  for i = 1, 200 do
    if not P.alive(pid) then return end
    if i == 100 then os.execute("kill -KILL " .. pid .. " 2>/dev/null") end
    os.execute("sleep 0.05")
  end
end

return P
