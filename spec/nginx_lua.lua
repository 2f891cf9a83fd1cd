-- Test helper: an nginx with the Lua module and the repository's modules on
-- its paths, serving the `server` lines a spec gives, on a free port in a
-- temp prefix; stopped by PID. Lua 5.4 and LuaJIT (it drives nginx from
-- outside, with the curl CLI).
--   local n = assert(nginx_lua.start{ http = "init_by_lua_block { ... }",
--     lua_path = "/tmp/x/?.lua;",  -- searched before the repository's lua/
--     server = "location /t { content_by_lua_block { ... } }" })
--   n:get("/t") --> status, body;  n:stop()
local proc = require "proc"

local N = {}
N.__index = N

local sh = proc.sh

local ROOT = sh("pwd"):gsub("%s+$", "")   -- spec/run runs from the repo root
N.ROOT = ROOT

local TEMPLATE = [[
daemon off;
worker_processes 1;
pid logs/nginx.pid;
error_log logs/error.log warn;
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
events { worker_connections 64; }
http {
  access_log off;
  lua_package_path "@LUAPATH@@ROOT@/lua/?.lua;@ROOT@/lua/?/init.lua;@ROOT@/spec/?.lua;/usr/share/lua/5.1/?.lua;;";
  lua_package_cpath "@ROOT@/build/jit/?.so;/usr/lib/x86_64-linux-gnu/lua/5.1/?.so;;";
  @HTTP@
  server {
    listen 127.0.0.1:@PORT@;
    location = /ready { return 204; }
    @SERVER@
  }
}
]]

local function try_start(opts, port)
  local prefix = proc.tmpdir("ngx")
  os.execute("mkdir -p " .. prefix .. "/logs")
  local conf = TEMPLATE:gsub("@(%u+)@", { ROOT = ROOT, PORT = tostring(port),
    HTTP = opts.http or "", SERVER = opts.server or "", LUAPATH = opts.lua_path or "" })
  if sh("id -u"):match("^0") then conf = "user root;\n" .. conf end
  proc.write_file(prefix .. "/nginx.conf", conf)
  local n = setmetatable({ prefix = prefix, url = "http://127.0.0.1:" .. port }, N)
  n.pid = tonumber((sh("PATH=$PATH:/usr/sbin nginx -p " .. prefix .. " -c nginx.conf -e logs/error.log >"
    .. prefix .. "/logs/stdout 2>&1 & echo $!")))
  for _ = 1, 200 do
    if not proc.alive(n.pid) then break end
    if n:get("/ready") == 204 then return n end
    os.execute("sleep 0.05")
  end
  local log = (proc.read_file(prefix .. "/logs/error.log") or "")
    .. (proc.read_file(prefix .. "/logs/stdout") or "")
  n:stop()
  return nil, log
end

--- Starts nginx; returns it, or nil and its error log.
function N.start(opts)
  local f = io.open("/dev/urandom", "rb")     -- LuaJIT does not seed by itself
  local seed = 0
  for _, b in ipairs { f:read(4):byte(1, 4) } do seed = seed * 256 + b end
  f:close()
  math.randomseed(seed % 2147483647)
  local n, log
  for _ = 1, 10 do                     -- another port while the one drawn is taken
    n, log = try_start(opts, math.random(41000, 48000))
    if n or not log:find("Address already in use", 1, true) then break end
  end
  return n, n == nil and "nginx did not start: " .. tostring(log) or nil
end

--- GET path: the status and the body.
function N:get(path)
  local out = sh("curl -s --max-time 20 -w '\n%{http_code}' '" .. self.url .. path .. "'")
  local body, code = out:match("^(.*)\n(%d+)$")
  return tonumber(code), body
end

--- The error log so far (what a failing test shows).
function N:log() return proc.read_file(self.prefix .. "/logs/error.log") or "" end

--- Stops nginx by PID and removes its prefix; safe to call twice.
function N:stop()
  if self.pid then proc.stop(self.pid) end
  if self.prefix and not os.getenv("EMU_KEEP_PREFIX") then os.execute("rm -rf " .. self.prefix) end
  self.pid, self.prefix = nil, nil
end

return N
