-- Starts the example OpenResty handler (examples/openresty/nginx.conf) for
-- spec/resty_spec.lua: one worker (so concurrency must come from cosockets),
-- on a free port, in a temp prefix, with the test locations of
-- spec/resty_handler.lua beside the example's /push (/t sends; /fake/*
-- answers like MPNS with chunked, Connection: close or read-to-close bodies);
-- stops it by PID.
local N = {}
N.__index = N

local proc = require "proc"
local sh = proc.sh
local read, alive = proc.read_file, proc.alive

N.ROOT = sh("pwd"):gsub("%s+$", "")      -- spec/run runs from the repo root

-- Absolute form of a path the emulator helper gives relative to the root.
function N.abs(p) return p:sub(1, 1) == "/" and p or N.ROOT .. "/" .. p:gsub("^%./", "") end

-- Replaces `from` exactly once in s; the example changing shape fails loudly.
local function swap(s, from, to)
  local i, j = s:find(from, 1, true)
  assert(i and not s:find(from, j + 1, true), "example nginx.conf: no single " .. from)
  return s:sub(1, i - 1) .. to .. s:sub(j + 1)
end

-- The example's config with the test's port, CA and locations; a resolver
-- at 127.0.0.1:dns_port when given.
local function config(port, e, dns_port)
  local conf = assert(read(N.ROOT .. "/examples/openresty/nginx.conf"))
  conf = conf:gsub("@ROOT@", N.ROOT):gsub("@PORT@", port)
  if sh("id -u"):match("^0") then conf = "user root;\n" .. conf end
  conf = swap(conf, "worker_processes auto;", "worker_processes 1;")
  conf = swap(conf, "/etc/ssl/certs/ca-certificates.crt", N.abs(e.ca))
  conf = swap(conf, 'lua_package_path "', 'lua_package_path "' .. N.ROOT .. "/spec/?.lua;")
  if dns_port then
    conf = swap(conf, "# resolver 1.1.1.1 ipv6=off;", "resolver 127.0.0.1:" .. dns_port .. " ipv6=off;")
  end
  local fake = "content_by_lua_block { require('resty_handler').fake() } }\n"
  return swap(conf, "    location = /push {", table.concat {
    "    location = /t { content_by_lua_block { require('resty_handler').t() } }\n",
    "    location = /t-untrusted {\n      lua_ssl_trusted_certificate ", N.abs(e.wrong_cert), ";\n",
    "      content_by_lua_block { require('resty_handler').t() }\n    }\n",
    "    location /fake/chunked/ { ", fake,
    "    location /fake/close/ { keepalive_timeout 0; ", fake,
    "    location /fake/eof/ { chunked_transfer_encoding off; ", fake,
    "    location /fake/raw-close/ { content_by_lua_block { require('resty_handler').raw('close') } }\n",
    "    location /fake/raw-eof/ { content_by_lua_block { require('resty_handler').raw('eof') } }\n",
    "    location /fake/raw-extra/ { content_by_lua_block { require('resty_handler').raw('extra') } }\n",
    "    location = /push {" })
end

local function try_start(e, port, dns_port)
  local prefix = sh("mktemp -d /tmp/mpns-resty.XXXXXX"):gsub("%s+$", "")
  os.execute("mkdir -p " .. prefix .. "/logs")
  local f = assert(io.open(prefix .. "/nginx.conf", "w"))
  f:write(config(port, e, dns_port))
  f:close()
  local n = setmetatable({ prefix = prefix, port = port, url = "http://127.0.0.1:" .. port }, N)
  n.pid = tonumber(sh("PATH=$PATH:/usr/sbin nginx -p " .. prefix .. " -c nginx.conf -e logs/error.log >"
    .. prefix .. "/logs/stdout 2>&1 & echo $!"))
  for _ = 1, 100 do
    if not alive(n.pid) then break end
    if sh("curl -s -o /dev/null -w '%{http_code}' " .. n.url .. "/push") == "400" then return n end
    os.execute("sleep 0.05")
  end
  local log = (read(prefix .. "/logs/error.log") or "") .. (read(prefix .. "/logs/stdout") or "")
  n:stop()
  return nil, log
end

-- Starts nginx next to the emulator `e` (with a resolver on dns_port, if
-- given); returns it or nil, the error log.
function N.start(e, dns_port)
  return proc.on_free_port(33000, 40000, function(port) return try_start(e, port, dns_port) end, "nginx")
end

N.stop = proc.stop_server

return N
