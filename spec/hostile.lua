-- Test helper: starts spec/hostile_server.lua (a server that answers
-- badly on purpose) and spec/dns_server.lua (every name is 127.0.0.1, for
-- nginx's resolver) on free loopback ports and stops them by PID; makes
-- server certificates signed by the emulator's test CA into a temp dir.
-- Lua 5.4 and LuaJIT; the servers run under lua5.4 (luasocket, luasec).
--   local h = assert(hostile.start("drip"))       -- or ("ok", { cert, key })
--   h.uri  -- a channel URI on it;  h:stop()
local proc = require "proc"

local H = {}
H.__index = H

local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/hostile%.lua$")) or "."

local quote, sh = proc.quote, proc.sh

-- Runs spec/<script> under lua5.4 with a port file and `args` (quoted);
-- returns the handle once the port is written, or nil and the log.
local function spawn(script, args)
  local dir = proc.tmpdir("hostile")
  local cmd = { "exec lua5.4", quote(ROOT .. "/spec/" .. script), quote(dir .. "/port") }
  for _, a in ipairs(args) do cmd[#cmd + 1] = quote(a) end
  local pid = tonumber(sh("(" .. table.concat(cmd, " ") .. ") >" .. quote(dir .. "/log")
    .. " 2>&1 & echo $!"))
  local h = setmetatable({ pid = pid, dir = dir }, H)
  for _ = 1, 200 do
    h.port = tonumber(proc.read_file(dir .. "/port") or "")
    if h.port then return h end
    if not proc.alive(pid) then break end
    os.execute("sleep 0.05")
  end
  local log = proc.read_file(dir .. "/log") or ""
  h:stop()
  return nil, script .. " did not start: " .. log
end

--- Starts a server playing `mode` (see MODES in spec/hostile_server.lua);
-- tls = { cert, key } serves https; host names it in h.uri (127.0.0.1).
-- Returns it, or nil and its log.
function H.start(mode, tls, host)
  local h, err = spawn("hostile_server.lua", { mode, tls and tls[1], tls and tls[2] })
  if not h then return nil, err end
  h.uri = (tls and "https" or "http") .. "://" .. (host or "127.0.0.1") .. ":" .. h.port
    .. "/throttledthirdparty/01.00/hostile"
  return h
end

--- Starts spec/dns_server.lua (every name is 127.0.0.1): h.port, h:stop().
function H.dns() return spawn("dns_server.lua", {}) end

function H:stop()
  if self.pid then proc.stop(self.pid); self.pid = nil end
  if self.dir then os.execute("rm -rf " .. quote(self.dir)); self.dir = nil end
end

--- A server certificate signed by the CA in ca_dir (ca.pem, ca.key: the
-- emulator's test PKI) with subjectAltName `san` (e.g. "DNS:other.example"),
-- written into dir. Returns the certificate and key paths.
function H.cert(dir, ca_dir, name, san)
  local base = dir .. "/" .. name
  local ext = base .. ".ext"
  local f = assert(io.open(ext, "w"))
  f:write("subjectAltName=", san, "\nextendedKeyUsage=serverAuth\n")
  f:close()
  local q = quote
  os.execute(table.concat({
    "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:prime256v1 -out", q(base .. ".key"),
    "2>/dev/null && openssl req -new -key", q(base .. ".key"), "-subj", q("/CN=" .. name),
    "-out", q(base .. ".csr"), "&& openssl x509 -req -in", q(base .. ".csr"),
    "-CA", q(ca_dir .. "/ca.pem"), "-CAkey", q(ca_dir .. "/ca.key"), "-CAcreateserial",
    "-CAserial", q(base .. ".srl"), "-days 2 -extfile", q(ext), "-out", q(base .. ".pem"),
    "2>/dev/null" }, " "))
  assert(proc.read_file(base .. ".pem"), "openssl could not make " .. base .. ".pem")
  return base .. ".pem", base .. ".key"
end

--- The PIDs of a process's children (an nginx master's workers).
function H.children(pid)
  local out = {}
  for child in sh("ls /proc"):gmatch("%d+") do
    local stat = proc.read_file("/proc/" .. child .. "/stat")
    if stat and tonumber(stat:match("^%d+ %b() %a (%d+)")) == pid then out[#out + 1] = tonumber(child) end
  end
  return out
end

--- Peak resident memory (VmHWM) of a process in KB ("self" by default).
function H.peak_kb(pid)
  local status = proc.read_file("/proc/" .. (pid or "self") .. "/status") or ""
  return tonumber(status:match("VmHWM:%s*(%d+)"))
end

return H
