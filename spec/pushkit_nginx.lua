-- Starts the phone-facing service (examples/pushkit/nginx.conf) for
-- spec/app_spec.lua and bench/fanout.lua: one worker, a free port, a temp
-- prefix (the SQLite registry lives there), channel hosts of the emulator
-- allowed, the emulator's CA and client certificate for https channels, and
-- /t-sender (spec/sender_handler.lua).
-- Stops it by PID.
local proc = require "proc"

local K = {}
K.__index = K

local sh = proc.sh

K.ROOT = sh("pwd"):gsub("%s+$", "")

local function abs(p) return p:sub(1, 1) == "/" and p or K.ROOT .. "/" .. p:gsub("^%./", "") end

-- Replaces `from` exactly once; the example changing shape fails loudly.
local function swap(s, from, to)
  local i, j = s:find(from, 1, true)
  assert(i and not s:find(from, j + 1, true), "pushkit nginx.conf: no single " .. from)
  return s:sub(1, i - 1) .. to .. s:sub(j + 1)
end

local function config(port, prefix, e, opts)
  local conf = assert(proc.read_file(K.ROOT .. "/examples/pushkit/nginx.conf"))
  conf = conf:gsub("@ROOT@", K.ROOT):gsub("@PORT@", port):gsub("@PREFIX@", prefix)
    :gsub("@ALLOWED@", ('{ "127.0.0.1:%d", "127.0.0.1:%d" }'):format(e.port, e.tls_port))
  if sh("id -u"):match("^0") then conf = "user root;\n" .. conf end
  conf = swap(conf, "/etc/ssl/certs/ca-certificates.crt", abs(e.ca))
  conf = swap(conf, "transport = { timeout = 15 },", ("transport = { timeout = 15, cert = %q, key = %q },")
    :format(abs(e.client_cert), abs(e.client_key)))
  if opts.store and opts.store ~= "sqlite" then   -- no path for other stores
    conf = swap(conf, 'store = "sqlite", path = "' .. prefix .. '/push.db",', ('store = %q,'):format(opts.store))
  end
  if opts.path then   -- where the SQLite registry lives (a bad one: 503s)
    conf = swap(conf, 'path = "' .. prefix .. '/push.db"', ('path = %q'):format(opts.path))
  end
  if opts.lua_path then conf = swap(conf, 'lua_package_path "', 'lua_package_path "' .. opts.lua_path .. ";") end
  -- spec/sender_handler.lua: the resty sender tested on its own, in this worker.
  conf = swap(conf, 'lua_package_path "', 'lua_package_path "' .. K.ROOT .. "/spec/?.lua;")
  return swap(conf, "    location = /ping", "    location = /t-sender { content_by_lua_block { require('sender_handler')() } }\n    location = /ping")
end

local function try_start(e, port, opts)
  local prefix = sh("mktemp -d /tmp/mpns-pushkit.XXXXXX"):gsub("%s+$", "")
  os.execute("mkdir -p " .. prefix .. "/logs")
  local f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write(config(port, prefix, e, opts))
  f:close()
  local k = setmetatable({ prefix = prefix, port = port, url = "http://127.0.0.1:" .. port,
    secret = opts.secret }, K)
  k.pid = tonumber(sh("PUSHKIT_ADMIN_SECRET='" .. (opts.secret or "") .. "' PATH=$PATH:/usr/sbin nginx -p "
    .. prefix .. " -c nginx.conf -e logs/error.log >" .. prefix .. "/logs/stdout 2>&1 & echo $!"))
  for _ = 1, 100 do
    if not proc.alive(k.pid) then break end
    if sh("curl -s -o /dev/null -w '%{http_code}' " .. k.url .. "/ping") == "204" then return k end
    os.execute("sleep 0.05")
  end
  local log = (proc.read_file(prefix .. "/logs/error.log") or "") .. (proc.read_file(prefix .. "/logs/stdout") or "")
  k:stop()
  return nil, log
end

--- Starts the service next to emulator `e`; opts: secret (the admin
-- secret), store ("sqlite" or "memory"), path (the SQLite file), lua_path (prepended). Returns it or nil, log.
function K.start(e, opts)
  opts = opts or {}
  local log
  for _ = 1, 10 do
    local k
    k, log = try_start(e, math.random(40001, 47000), opts)
    if k then return k end
    if not log:find("Address already in use", 1, true) then break end
  end
  return nil, "pushkit did not start: " .. tostring(log)
end

function K:error_log() return proc.read_file(self.prefix .. "/logs/error.log") or "" end

function K:stop()
  if self.pid then proc.stop(self.pid); self.pid = nil end
  if self.prefix and not os.getenv("EMU_KEEP_PREFIX") then os.execute("rm -rf " .. self.prefix) end
end

return K
