-- A hostile HTTP server for the senders' tests, run by spec/hostile.lua:
--   lua5.4 spec/hostile_server.lua PORTFILE MODE [CERT KEY]
-- Listens on a free loopback port (written to PORTFILE once it listens),
-- serves one connection at a time until the test stops it by PID (or
-- LIFETIME passes, should the test die first): reads the request, then
-- plays MODE. With CERT and KEY it speaks TLS (luasec).
local socket = require "socket"

local portfile, mode, cert, key = arg[1], arg[2], arg[3], arg[4]

local RECEIVED = "HTTP/1.1 200 OK\r\nX-NotificationStatus: Received\r\n"
  .. "X-DeviceConnectionStatus: Connected\r\nX-SubscriptionStatus: Active\r\n"
local LIFETIME = 120                 -- seconds
local FLOOD_MAX = 128 * 1024 * 1024  -- bytes per connection: a sender that reads
                                     -- it all shows, without exhausting the machine

-- Sends `piece` over and over until the peer goes away or FLOOD_MAX is sent.
local function flood(c, piece)
  for _ = 1, FLOOD_MAX // #piece do
    if not c:send(piece) then return end
  end
end

-- What each mode answers once the request is read.
local MODES = {
  ok = function(c) c:send(RECEIVED .. "Content-Length: 0\r\nConnection: close\r\n\r\n") end,
  endless_header = function(c)
    c:send("HTTP/1.1 200 OK\r\nX-Long: ")
    flood(c, ("a"):rep(65536))
  end,
  many_headers = function(c)
    c:send(RECEIVED)
    flood(c, ("X-Filler: 1\r\n"):rep(1000))
  end,
  huge_body = function(c)
    c:send(RECEIVED .. "Content-Length: 1073741824\r\n\r\n")
    flood(c, ("\0"):rep(65536))
  end,
  huge_chunked = function(c)
    c:send(RECEIVED .. "Transfer-Encoding: chunked\r\n\r\n")
    flood(c, "10000\r\n" .. ("x"):rep(65536) .. "\r\n")
  end,
  drip = function(c)                    -- a good answer, one byte a second
    local answer = RECEIVED .. "Content-Length: 0\r\n\r\n"
    for i = 1, #answer do
      if not c:send(answer:sub(i, i)) then return end
      socket.sleep(1)
    end
  end,
  close = function() end,               -- closed right after the request
  garbage = function(c)
    c:send("\0\1\2 SSH-2.0-OpenSSH_9.2\r\n\r\n")
    socket.sleep(3)
  end,
  bad_status = function(c)              -- 4294967496 is 200 in 32 bits
    c:send("HTTP/1.1 4294967496 OK\r\nX-NotificationStatus: Received\r\n"
      .. "X-DeviceConnectionStatus: Connected\r\nX-SubscriptionStatus: Active\r\n"
      .. "Content-Length: 0\r\nConnection: close\r\n\r\n")
  end,
}

-- Reads the request head and its Content-Length body; nil when it broke.
local function read_request(c)
  local len = 0
  repeat
    local line = c:receive("*l")
    if not line then return nil end
    len = tonumber(line:lower():match("^content%-length:%s*(%d+)")) or len
  until line == ""
  return len == 0 or c:receive(len) ~= nil
end

local tls
if cert then
  local ssl = require "ssl"
  tls = assert(ssl.newcontext { mode = "server", protocol = "any", key = key,
    certificate = cert, options = "all" })
end

-- The connection ready for HTTP (TLS done), or nil.
local function accept(server)
  local c = server:accept()
  if not c then return nil end
  c:settimeout(5)                       -- a peer that stops reading is given up
  if not tls then return c end
  local s = require("ssl").wrap(c, tls)
  if not s then c:close(); return nil end
  s:settimeout(5)
  if not s:dohandshake() then s:close(); return nil end
  return s
end

local play = assert(MODES[mode], "unknown mode " .. tostring(mode))
local server = assert(socket.bind("127.0.0.1", 0))
local _, port = server:getsockname()
local f = assert(io.open(portfile .. ".tmp", "w"))
f:write(port)
f:close()
assert(os.rename(portfile .. ".tmp", portfile))

server:settimeout(1)
local stop_at = os.time() + LIFETIME
while os.time() < stop_at do
  local c = accept(server)
  if c then
    if read_request(c) then play(c) end
    c:close()
  end
end
