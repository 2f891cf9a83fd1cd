-- A DNS server for nginx's resolver in the tests, run by spec/hostile.lua:
--   lua5.4 spec/dns_server.lua PORTFILE
-- Answers every A query with 127.0.0.1 (anything else: no records), on a
-- free loopback UDP port written to PORTFILE; stopped by PID, or exits
-- after LIFETIME seconds should its test die first.
local socket = require "socket"

local LIFETIME = 120

-- The answer to one query, or nil when it is not one (RFC 1035, 4.1).
local function answer(q)
  if #q < 17 then return nil end
  local i = 13
  while q:byte(i) and q:byte(i) ~= 0 do i = i + q:byte(i) + 1 end  -- the name's labels
  if not q:byte(i + 4) then return nil end
  local question = q:sub(13, i + 4)
  local a = q:byte(i + 1) == 0 and q:byte(i + 2) == 1                   -- QTYPE A
  local head = q:sub(1, 2) .. "\129\128\0\1\0" .. (a and "\1" or "\0") .. "\0\0\0\0"
  if not a then return head .. question end
  return head .. question .. "\192\12\0\1\0\1\0\0\0\60\0\4\127\0\0\1"    -- 127.0.0.1, TTL 60
end

local udp = assert(socket.udp())
assert(udp:setsockname("127.0.0.1", 0))
local _, port = udp:getsockname()
local f = assert(io.open(arg[1] .. ".tmp", "w"))
f:write(port)
f:close()
assert(os.rename(arg[1] .. ".tmp", arg[1]))

udp:settimeout(1)
local stop_at = os.time() + LIFETIME
while os.time() < stop_at do
  local q, ip, from = udp:receivefrom()
  local reply = q and answer(q)
  if reply then udp:sendto(reply, ip, from) end
end
