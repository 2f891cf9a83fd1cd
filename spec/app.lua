-- spec/app.lua: "the app's web service" for the phone's downloads: a plain
-- nginx (no Lua) serving a directory on a free port, started in a temp
-- prefix and stopped by PID. /slow/<file> serves the same files at 1 KB/s.
--   local a = assert(app.start { ["tile.png"] = bytes, ... })
--   a.url .. "/tile.png"; a:put("other.png", bytes); a:stop()
local proc = require "proc"

local A = {}
A.__index = A
local sh = proc.sh

local CONF = [[
%s
worker_processes 1;
daemon off;
pid %s/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path %s/tmp; proxy_temp_path %s/tmp; fastcgi_temp_path %s/tmp;
  uwsgi_temp_path %s/tmp; scgi_temp_path %s/tmp;
  types { image/png png; image/jpeg jpg; text/plain txt; }
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:%d;
    root %s/files;
    location /slow/ { alias %s/files/; limit_rate 1k; }
  }
}
]]

--- Writes (or replaces) a file the app serves.
function A:put(name, bytes)
  local f = assert(io.open(self.prefix .. "/files/" .. name, "wb"))
  f:write(bytes)
  f:close()
end

local function try_start(files, port)
  local prefix = proc.tmpdir("app")
  os.execute("mkdir -p " .. prefix .. "/files " .. prefix .. "/tmp")
  local user = sh("id -u"):match("^0%s") and "user root;" or ""
  local f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write(CONF:format(user, prefix, prefix, prefix, prefix, prefix, prefix, port, prefix, prefix))
  f:close()
  local a = setmetatable({ prefix = prefix, port = port, url = "http://127.0.0.1:" .. port }, A)
  for name, bytes in pairs(files or {}) do a:put(name, bytes) end
  a:put("ready.txt", "ok")
  a.pid = tonumber(sh("PATH=$PATH:/usr/sbin nginx -p " .. prefix .. " -c nginx.conf -e error.log >"
    .. prefix .. "/stdout 2>&1 & echo $!"))
  for _ = 1, 100 do
    if not proc.alive(a.pid) then break end
    if sh("curl -s --max-time 1 " .. a.url .. "/ready.txt") == "ok" then return a end
    os.execute("sleep 0.05")
  end
  local log = (proc.read_file(prefix .. "/error.log") or "") .. (proc.read_file(prefix .. "/stdout") or "")
  a:stop()
  return nil, log
end

--- Starts the app with `files` (name -> bytes); returns it or nil, error.
function A.start(files)
  local f = io.open("/dev/urandom", "rb") -- LuaJIT does not seed math.random
  if f then
    local b = f:read(4)
    f:close()
    math.randomseed(b:byte(1) * 16777216 + b:byte(2) * 65536 + b:byte(3) * 256 + b:byte(4))
  end
  return proc.on_free_port(40001, 47000, function(port) return try_start(files, port) end, "app nginx")
end

A.stop = proc.stop_server

return A
