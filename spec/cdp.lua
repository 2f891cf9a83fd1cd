-- spec/cdp.lua: just enough of the Chrome DevTools Protocol to drive a page
-- in headless Chromium from a spec: start it on a URL, evaluate JavaScript
-- in the page (a click, say), stop it by PID. A WebSocket client over
-- LuaSocket (text frames only). Lua 5.4 and LuaJIT.
--   local b = assert(cdp.open(url, tmpdir)); b:eval("document.title"); b:close()
local socket = require "socket"
local cjson = require "cjson"
local proc = require "proc"

local C = {}
C.__index = C

local bxor
if jit then bxor = require("bit").bxor
else bxor = load("return function(a, b) return a ~ b end")() end

-- One client frame: FIN + text, masked (as RFC 6455 requires of clients).
local function frame(text)
  local n, head = #text, nil
  if n < 126 then head = string.char(0x81, 0x80 + n)
  else head = string.char(0x81, 0x80 + 126, math.floor(n / 256), n % 256) end
  local mask = { 0x12, 0x34, 0x56, 0x78 }
  local out = {}
  for i = 1, n do out[i] = string.char(bxor(text:byte(i), mask[(i - 1) % 4 + 1])) end
  return head .. string.char(mask[1], mask[2], mask[3], mask[4]) .. table.concat(out)
end

-- One server frame's payload (unmasked; text or continuation).
local function read_frame(sock)
  local h = assert(sock:receive(2))
  local n = h:byte(2) % 128
  if n == 126 then
    local b = assert(sock:receive(2)); n = b:byte(1) * 256 + b:byte(2)
  elseif n == 127 then
    local b = assert(sock:receive(8)); n = 0
    for i = 1, 8 do n = n * 256 + b:byte(i) end
  end
  return n > 0 and assert(sock:receive(n)) or ""
end

-- A GET to the DevTools HTTP server, which keeps the connection open: the
-- body is read by its Content-Length, within 2 s.
local function http_get(port, path)
  local s = socket.connect("127.0.0.1", port)
  if not s then return nil end
  s:settimeout(2)
  s:send("GET " .. path .. " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
  local len
  repeat
    local line = s:receive("*l")
    len = len or tonumber((line or ""):lower():match("^content%-length:%s*(%d+)"))
  until not line or line == ""
  local body = len and s:receive(len)
  s:close()
  return body
end

--- Starts headless Chromium on url; returns the page or nil, why.
function C.open(url, dir)
  local bin = proc.sh("command -v chromium || command -v chromium-browser"):gsub("%s+$", "")
  if bin == "" then return nil, "Chromium is not installed (Debian package chromium)" end
  local pid = tonumber(proc.sh(("HOME=%s %s --headless --no-sandbox --disable-gpu --no-first-run "
    .. "--user-data-dir=%s/cdp-profile --remote-debugging-port=0 '%s' >%s/cdp.log 2>&1 & echo $!")
    :format(dir, bin, dir, url, dir)))
  local b = setmetatable({ pid = pid }, C)
  local deadline = socket.gettime() + 30
  while socket.gettime() < deadline do -- Chromium writes its port here once it listens
    local port = (proc.read_file(dir .. "/cdp-profile/DevToolsActivePort") or ""):match("^(%d+)")
    local pages = port and http_get(port, "/json/list")
    local ws = pages and pages:match('"webSocketDebuggerUrl":%s*"ws://[^/]+(/devtools/page/[^"]+)"')
    if ws then
      b.sock = assert(socket.connect("127.0.0.1", tonumber(port)))
      b.sock:settimeout(10)
      b.sock:send("GET " .. ws .. " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        .. "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
      local status = b.sock:receive("*l")
      repeat local line = b.sock:receive("*l") until not line or line == ""
      if status and status:find(" 101 ", 1, true) then return b end
      b:close()
      return nil, "Chromium refused the DevTools WebSocket: " .. tostring(status)
    end
    if not proc.alive(pid) then break end
    socket.sleep(0.05)
  end
  b:close()
  return nil, "Chromium did not start: " .. (proc.read_file(dir .. "/cdp.log") or ""):sub(-600)
end

--- Evaluates a JavaScript expression in the page; returns its value.
function C:eval(js)
  self.n = (self.n or 0) + 1
  assert(self.sock:send(frame(cjson.encode { id = self.n, method = "Runtime.evaluate",
    params = { expression = js, returnByValue = true, awaitPromise = true } })))
  while true do
    local msg = cjson.decode(read_frame(self.sock))
    if msg.id == self.n then
      local r = msg.result and msg.result.result
      if msg.error or (msg.result and msg.result.exceptionDetails) then
        error("page script failed: " .. cjson.encode(msg.error or msg.result.exceptionDetails), 2)
      end
      return r and r.value
    end
  end
end

function C:close()
  if self.sock then self.sock:close(); self.sock = nil end
  if self.pid then proc.stop(self.pid); self.pid = nil end
end

return C
