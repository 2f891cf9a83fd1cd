-- The phone's downloads: a minimal HTTP/1.1 GET over cosockets, loopback
-- only, bounded in bytes and in time. get() always ends in one outcome:
-- "shown" (with the bytes), "too_big", "timeout", "not_an_image",
-- "http_<status>" or "unreachable" (no connection, or a broken answer).
local ngx = ngx
local tonumber, max, floor = tonumber, math.max, math.floor

local _M = {}

local HEADER_BYTES = 16384 -- an answer's status line and headers, at most
local PNG, JPEG = "\137PNG\r\n\26\n", "\255\216\255"

-- The address to connect to for a loopback host (127.0.0.0/8, ::1,
-- localhost), or nil: the emulator never calls out of the machine.
function _M.loopback(host)
  host = host:lower()
  if host == "localhost" then return "127.0.0.1" end
  if host == "::1" or host == "[::1]" then return "::1" end
  local a, b, c = host:match("^127%.(%d+)%.(%d+)%.(%d+)$")
  if a and tonumber(a) < 256 and tonumber(b) < 256 and tonumber(c) < 256 then return host end
  return nil
end

---Splits an http(s) URL.
---@param url string
---@return table|nil u { scheme, host (lower case, no brackets), port, path,
---  addr (nil when not loopback) }
---@return string|nil err
function _M.parse(url)
  local scheme, authority, path = url:match("^([hH][tT][tT][pP][sS]?)://([^/?#]*)([^#]*)")
  if not scheme then return nil, "not an http(s) URL: " .. url end
  local host, port = authority:match("^(%[[^%]]+%]):?(%d*)$")
  if not host then host, port = authority:match("^([^:@%[%]]+):?(%d*)$") end
  if not host then return nil, "no host in " .. url end
  scheme, host = scheme:lower(), host:lower():gsub("^%[(.*)%]$", "%1")
  if path == "" or path:sub(1, 1) == "?" then path = "/" .. path end
  return { scheme = scheme, host = host, port = tonumber(port) or (scheme == "https" and 443 or 80),
           path = path, addr = _M.loopback(host) }
end

-- The image's type from its first bytes, or nil.
function _M.image_type(body)
  if body:sub(1, 8) == PNG then return "png" end
  if body:sub(1, 3) == JPEG then return "jpeg" end
  return nil
end

-- Gives the socket's next operation what is left of the deadline; false
-- when nothing is.
local function remaining(sock, deadline)
  local ms = floor((deadline - ngx.now()) * 1000)
  if ms <= 0 then return false end
  sock:settimeout(ms)
  return true
end

-- A read or connect error as an outcome.
local function failed(err) return err == "timeout" and "timeout" or "unreachable", nil, err end

-- Reads the status line and headers; returns status, headers or nil, err.
local function head(sock, deadline)
  if not remaining(sock, deadline) then return nil, "timeout" end
  local line, err = sock:receive("*l")
  if not line then return nil, err end
  local status = tonumber(line:match("^HTTP/1%.[01] (%d%d%d)"))
  if not status then return nil, "bad status line" end
  local h, bytes = {}, #line
  while true do
    line, err = sock:receive("*l")
    if not line then return nil, err end
    if line == "" then return status, h end
    bytes = bytes + #line
    if bytes > HEADER_BYTES then return nil, "headers over " .. HEADER_BYTES .. " bytes" end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then h[name:lower()] = value end
  end
end

-- Reads n bytes in pieces, so the deadline holds even against a server that
-- trickles (a cosocket's timeout is per read, not per request).
local function read_n(sock, n, deadline, out)
  while n > 0 do
    if not remaining(sock, deadline) then return nil, "timeout" end
    local data, err = sock:receiveany(n < 65536 and n or 65536)
    if not data then return nil, err end
    out[#out + 1] = data
    n = n - #data
  end
  return true
end

-- A chunked body, refused once it passes `limit`.
local function chunked(sock, limit, deadline, out)
  local total = 0
  while true do
    local line, err = sock:receive("*l")
    if not line then return nil, err end
    local size = tonumber(line:match("^%x+"), 16)
    if not size then return nil, "bad chunk size" end
    if size == 0 then
      repeat line, err = sock:receive("*l") until not line or line == ""
      return line and true, err
    end
    total = total + size
    if total > limit then return nil, "too_big" end
    local ok, rerr = read_n(sock, size, deadline, out)
    if not ok then return nil, rerr end
    if sock:receive(2) ~= "\r\n" then return nil, "bad chunk end" end
  end
end

-- A body with no length: until the server closes, at most limit + 1 bytes.
local function to_close(sock, limit, deadline, out)
  local total = 0
  while true do
    if not remaining(sock, deadline) then return nil, "timeout" end
    local data, err = sock:receiveany(65536)
    if not data then return err == "closed" or nil, err end
    out[#out + 1] = data
    total = total + #data
    if total > limit then return nil, "too_big" end
  end
end

-- Sends the GET and reads the answer; returns the outcome, the body when
-- "shown", and a detail.
local function exchange(sock, u, limit, deadline)
  local host = u.host:find(":", 1, true) and "[" .. u.host .. "]" or u.host
  if u.port ~= (u.scheme == "https" and 443 or 80) then host = host .. ":" .. u.port end
  local ok, err = sock:send("GET " .. u.path .. " HTTP/1.1\r\nHost: " .. host
    .. "\r\nUser-Agent: mpns-emulator-phone\r\nAccept: image/png, image/jpeg\r\n\r\n")
  if not ok then return failed(err) end
  local status, h = head(sock, deadline)
  if not status then return failed(h) end
  if status ~= 200 then return "http_" .. status end
  local len, out = tonumber(h["content-length"]), {}
  if len and len > limit then return "too_big", nil, len .. " bytes" end
  if len then
    ok, err = read_n(sock, len, deadline, out)
  elseif (h["transfer-encoding"] or ""):lower():find("chunked", 1, true) then
    ok, err = chunked(sock, limit, deadline, out)
  else
    ok, err = to_close(sock, limit, deadline, out)
  end
  if err == "too_big" then return "too_big" end
  if not ok then return failed(err) end
  local body = table.concat(out)
  if not _M.image_type(body) then return "not_an_image", nil, #body .. " bytes" end
  local reuse = len or h["transfer-encoding"]
  if reuse and (h["connection"] or ""):lower() ~= "close" then sock:setkeepalive(60000, 64) end
  return "shown", body
end

---Downloads u (parse's table; u.addr must be set) in a cosocket context.
---@param u table
---@param limit integer largest body accepted
---@param seconds number time allowed for the whole download
---@return string outcome
---@return string|nil body the image when outcome is "shown"
---@return string|nil detail
function _M.get(u, limit, seconds)
  local deadline = ngx.now() + seconds
  local sock = ngx.socket.tcp()
  sock:settimeout(max(1, floor(seconds * 1000)))
  local ok, err = sock:connect(u.addr, u.port)
  -- A kept-alive TLS connection has had its handshake.
  if ok and u.scheme == "https" and sock:getreusedtimes() == 0 then
    ok, err = sock:sslhandshake(nil, u.host, false)
  end
  if not ok then
    sock:close()
    return failed(err)
  end
  local outcome, body, detail = exchange(sock, u, limit, deadline)
  if outcome ~= "shown" then sock:close() end
  return outcome, body, detail
end

return _M
