-- The nginx instances bench/delivery starts beside the emulator, each with
-- one worker on a random loopback port in its own temp prefix, stopped by
-- PID (spec/proc.lua):
--   peers.responder(root)  the fast reference responder: plain nginx, no Lua,
--                          `return 200` with the three MPNS status headers
--   peers.resty(root)      an OpenResty client: GET /fanout runs
--                          bench/resty_fanout.lua (mpns.resty, light threads)
local proc = require "proc"

local _M = {}

local sh = proc.sh

local HEAD = [[
%sdaemon off;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
%s
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
%s
}
]]

local RESPONDER = [[
  server {
    listen 127.0.0.1:@PORT@;
    location / {
      add_header X-NotificationStatus Received;
      add_header X-SubscriptionStatus Active;
      add_header X-DeviceConnectionStatus Connected;
      return 200;
    }
  }]]

local RESTY = [[
  lua_package_path "@ROOT@/lua/?.lua;@ROOT@/bench/?.lua;/usr/share/lua/5.1/?.lua;;";
  lua_package_cpath "@ROOT@/build/jit/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
  lua_socket_log_errors off;
  init_by_lua_block { require "resty_fanout" }
  server {
    listen 127.0.0.1:@PORT@;
    location = /fanout {
      content_by_lua_block { require("resty_fanout")() }
    }
  }]]

local LUA_MODULES = "load_module /usr/lib/nginx/modules/ndk_http_module.so;\n"
  .. "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;"

local Peer = {}
Peer.__index = Peer

-- The worker's pid (the master's only child).
function Peer:worker() return sh("pgrep -P " .. self.pid):match("%d+") end

function Peer:stop()
  if self.pid then proc.stop(self.pid) end
  self.pid = nil
  os.execute("rm -rf " .. self.prefix)
end

local function start(root, server, lua)
  local user = sh("id -u"):match("^0%s") and "user root;\n" or ""
  for _ = 1, 10 do
    local port = math.random(20000, 60000)
    local prefix = sh("mktemp -d /tmp/mpns-bench.XXXXXX"):gsub("%s+$", "")
    os.execute("mkdir -p " .. prefix .. "/logs")
    local f = assert(io.open(prefix .. "/nginx.conf", "w"))
    f:write((HEAD:format(user, lua and LUA_MODULES or "", server)
      :gsub("@PORT@", port):gsub("@ROOT@", root)))
    f:close()
    local p = setmetatable({ prefix = prefix, port = port, url = "http://127.0.0.1:" .. port }, Peer)
    p.pid = tonumber(sh("PATH=$PATH:/usr/sbin nginx -p " .. prefix .. " -c nginx.conf -e logs/error.log >"
      .. prefix .. "/logs/stdout 2>&1 & echo $!"))
    for _ = 1, 100 do
      if not proc.alive(p.pid) then break end
      if sh("curl -s -o /dev/null -w '%{http_code}' " .. p.url .. "/") ~= "000" then return p end
      os.execute("sleep 0.05")
    end
    local log = proc.read_file(prefix .. "/logs/error.log") or ""
    p:stop()
    if not log:find("Address already in use", 1, true) then error("nginx did not start: " .. log) end
  end
  error("nginx did not start: no free port")
end

function _M.responder(root) return start(root, RESPONDER, false) end
function _M.resty(root) return start(root, RESTY, true) end

return _M
