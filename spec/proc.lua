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

--- A shell command's standard output and exit code (both interpreters:
-- LuaJIT's close() does not give the code). Add "2>&1" for its errors too.
function P.run(cmd)
  local f = assert(io.popen("( " .. cmd .. " ); printf '\\n%s' \"rc=$?\""))
  local out = f:read("*a")
  f:close()
  local body, rc = out:match("^(.*)\nrc=(%d+)$")
  return body or out, tonumber(rc)
end

--- `s` quoted for sh.
function P.quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

function P.sleep(seconds) os.execute("sleep " .. seconds) end

--- A new directory /tmp/mpns-<tag>.XXXXXX.
function P.tmpdir(tag)
  return (P.sh("mktemp -d /tmp/mpns-" .. (tag or "spec") .. ".XXXXXX"):gsub("%s+$", ""))
end

function P.write_file(path, bytes)
  local f = assert(io.open(path, "wb"))
  f:write(bytes)
  f:close()
  return path
end

function P.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end


--- Seconds since boot (/proc/uptime): wall time for benchmarks, no LuaSocket.
function P.uptime()
  local f = assert(io.open("/proc/uptime"))
  local t = tonumber(f:read("*l"):match("^(%S+)"))
  f:close()
  return t
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

--- Calls try(port) on random ports in [lo, hi] until it returns a server, or
-- fails other than by a port in use; returns the server or nil, `what` and
-- the last log.
function P.on_free_port(lo, hi, try, what)
  local log
  for _ = 1, 10 do
    local server
    server, log = try(math.random(lo, hi))
    if server then return server end
    if not tostring(log):find("Address already in use", 1, true) then break end
  end
  return nil, what .. " did not start: " .. tostring(log)
end

--- Stops a server started in its own prefix (fields pid, prefix) and removes
-- the prefix unless EMU_KEEP_PREFIX is set; safe to call twice.
function P.stop_server(s)
  if s.pid then
    P.stop(s.pid)
    s.pid = nil
  end
  if s.prefix and not os.getenv("EMU_KEEP_PREFIX") then os.execute("rm -rf " .. s.prefix) end
end

return P
