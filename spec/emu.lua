-- Test helper: starts the MPNS emulator (emulator/) on free ports in a temp
-- prefix, talks to its control API, and stops it by PID. Lua 5.4 and LuaJIT;
-- needs only the curl CLI, nginx and lua-cjson.
--   local e = assert(emu.start{ daily_limit = 500 })
--   e:set(id, { device = "TempDisconnected" }); e:get(id); e:stop()
local cjson = require "cjson"
local proc = require "proc"

local emu = {}
local Emulator = {}
Emulator.__index = Emulator

-- The repo root, from where this file lives (spec/emu.lua).
local ROOT = (debug.getinfo(1, "S").source:match("^@(.*)/spec/emu%.lua$")) or "."
local RUN = ROOT .. "/emulator/run"
local CERTS = ROOT .. "/emulator/state/certs"

local quote, sh, sleep = proc.quote, proc.run, proc.sleep
local read_file, alive = proc.read_file, proc.alive

local seeded = false
local function random_port()
  if not seeded then
    local f = io.open("/dev/urandom", "rb")
    local bytes = f and f:read(4) or ""
    if f then f:close() end
    local seed = os.time()
    for i = 1, #bytes do seed = seed * 256 + bytes:byte(i) end
    math.randomseed(seed % 2147483647)
    seeded = true
  end
  return math.random(20000, 32000)
end

-- Start options and emulator/run's flag for each.
local OPTIONS = {
  daily_limit = "--daily-limit", max_payload = "--max-payload",
  max_headers = "--max-headers", queue_limit = "--queue-limit", keep = "--keep", memo = "--memo",
  notes_size = "--notes-size", state_size = "--state-size", log_level = "--log-level",
  image_max_bytes = "--image-max-bytes", image_timeout = "--image-timeout",
  fetchers = "--fetchers", clock_speed = "--clock-speed",
}

local function flags(opts)
  local out = {}
  for k, v in pairs(opts or {}) do
    local flag = OPTIONS[k]
    if not flag then error("emu.start: unknown option " .. tostring(k), 3) end
    out[#out + 1] = flag .. " " .. quote(v)
  end
  return table.concat(out, " ")
end

-- Waits until our nginx answers; returns true, or nil and why it died.
local function wait_ready(e)
  local want = '"prefix":' .. cjson.encode(e.prefix)
  for _ = 1, 200 do
    if not alive(e.pid) then
      return nil, read_file(e.prefix .. "/logs/error.log") or "nginx exited"
    end
    local out = sh("curl -s --max-time 1 " .. quote(e.control .. "config"))
    if out:find(want, 1, true) then return true end
    sleep(0.05)
  end
  return nil, "emulator did not answer within 10 s"
end

-- The URIs and test certificates of an emulator on e.port and e.tls_port.
local function addresses(e)
  e.http_prefix = "http://127.0.0.1:" .. e.port .. "/throttledthirdparty/01.00/"
  e.https_prefix = "https://127.0.0.1:" .. e.tls_port .. "/unthrottledthirdparty/01.00/"
  e.control = "http://127.0.0.1:" .. e.port .. "/control/"
  e.phones = "http://127.0.0.1:" .. e.port .. "/phones/"
  e.ca, e.client_cert, e.client_key = CERTS .. "/ca.pem", CERTS .. "/client.pem", CERTS .. "/client.key"
  e.wrong_cert, e.wrong_key = CERTS .. "/wrong.pem", CERTS .. "/wrong.key"
  e.noeku_cert, e.noeku_key = CERTS .. "/noeku.pem", CERTS .. "/noeku.key"
  return e
end

-- One attempt on the given ports; nil, log, "busy" when a port was taken.
local function try_start(opts, port, tls_port)
  local prefix = proc.tmpdir("emu")
  local _, rc = sh(RUN .. " --prepare --prefix " .. quote(prefix) .. " --certs " .. quote(CERTS)
    .. " " .. flags(opts) .. " " .. port .. " " .. tls_port .. " >/dev/null")
  if rc ~= 0 then
    os.execute("rm -rf " .. quote(prefix))
    return nil, "emulator/run --prepare failed (" .. tostring(rc) .. ")"
  end
  local e = addresses(setmetatable({ port = port, tls_port = tls_port, prefix = prefix }, Emulator))
  e.access_log, e.error_log = prefix .. "/logs/access.log", prefix .. "/logs/error.log"
  local conf = prefix .. "/conf/nginx.conf"
  local out = sh("PATH=$PATH:/usr/sbin nginx -p " .. quote(prefix) .. " -c " .. quote(conf)
    .. " -e " .. quote(e.error_log) .. " >" .. quote(prefix .. "/logs/stdout") .. " 2>&1 & echo $!")
  e.pid = tonumber(out:match("(%d+)"))
  local ok, why = wait_ready(e)
  if ok then return e end
  e:stop()
  return nil, why, why:find("Address already in use", 1, true) and "busy"
end

-- Starts an emulator; opts: daily_limit, max_payload, max_headers,
-- queue_limit, keep, memo, notes_size, log_level. Returns it or nil, error.
function emu.start(opts)
  local flagstr = flags(opts) -- raises on an unknown option before any work
  assert(flagstr)
  local err
  for _ = 1, 20 do
    local port = random_port()
    local e, why, busy = try_start(opts, port, port + 1)
    if e then return e end
    err = why
    if not busy then break end
  end
  return nil, "emulator did not start: " .. tostring(err)
end

-- An emulator someone else runs (make emulator) on 127.0.0.1: port and
-- tls_port (8443). stop() leaves it running. Returns it or nil, error.
function emu.attach(port, tls_port)
  local e = addresses(setmetatable({ port = tonumber(port), tls_port = tonumber(tls_port) or 8443 }, Emulator))
  local _, err = e:config()
  if err then return nil, "no emulator answers on port " .. tostring(port) .. ": " .. err end
  return e
end

-- Stops nginx by PID and removes the prefix; safe to call twice.
function Emulator:stop()
  if self.pid then
    proc.stop(self.pid)
    self.pid = nil
  end
  if self.prefix and not os.getenv("EMU_KEEP_PREFIX") then
    os.execute("rm -rf " .. quote(self.prefix))
  end
  return true
end

-- One HTTP request with the curl CLI. opts: url, method, headers (name ->
-- value, or a list of "Name: value" lines), body, cert, key, cacert, timeout.
-- Returns { status, headers (lower-case names), body, time (seconds), exit
-- (curl's exit code: 52 empty reply, 28 timeout, 7 refused) }.
function emu.request(opts)
  local hfile, bfile, dfile = os.tmpname(), os.tmpname(), nil
  local cmd = { "curl -s -o", quote(bfile), "-D", quote(hfile), "-w '%{http_code} %{time_total}'",
                "--max-time", opts.timeout or 10 }
  if opts.method then cmd[#cmd + 1] = "-X " .. quote(opts.method) end
  for k, v in pairs(opts.headers or {}) do
    cmd[#cmd + 1] = "-H " .. quote(type(k) == "number" and v or (k .. ": " .. v))
  end
  if opts.body then
    dfile = os.tmpname()
    local f = assert(io.open(dfile, "wb"))
    f:write(opts.body)
    f:close()
    cmd[#cmd + 1] = "--data-binary @" .. quote(dfile)
  end
  for _, o in ipairs { "cert", "key", "cacert" } do
    if opts[o] then cmd[#cmd + 1] = "--" .. o .. " " .. quote(opts[o]) end
  end
  cmd[#cmd + 1] = quote(opts.url)
  local out, rc = sh(table.concat(cmd, " "))
  local code, secs = out:match("(%d%d%d) ([%d.]+)$")
  local res = { status = tonumber(code), time = tonumber(secs), exit = rc, headers = {},
                body = read_file(bfile) or "" }
  if res.status == 0 then res.status = nil end
  for name, value in (read_file(hfile) or ""):gmatch("([%w%-]+):%s*([^\r\n]*)") do
    res.headers[name:lower()] = value
  end
  os.remove(hfile); os.remove(bfile)
  if dfile then os.remove(dfile) end
  return res
end

-- POSTs to channel `id`. opts as emu.request plus: tls = "good" (default on
-- https), "none", "wrong" or "noeku" picks the client certificate; https =
-- true uses the authenticated URI; path is appended (e.g. "/callback").
function Emulator:push(id, opts)
  opts = opts or {}
  local req = { method = opts.method or "POST", headers = opts.headers, body = opts.body,
                timeout = opts.timeout }
  local https = opts.https or opts.tls
  req.url = (https and self.https_prefix or self.http_prefix) .. id .. (opts.path or "")
  if https then
    req.cacert = self.ca
    local which = opts.tls or "good"
    local certs = { good = "client", wrong = "wrong", noeku = "noeku" }
    if certs[which] then
      req.cert, req.key = self[certs[which] .. "_cert"], self[certs[which] .. "_key"]
    end
  end
  return emu.request(req)
end

-- A control API call; returns the decoded answer, or nil and "STATUS error".
function Emulator:call(method, path, body)
  local res = emu.request { url = self.control .. path, method = method,
    headers = body and { ["Content-Type"] = "application/json" },
    body = body and (type(body) == "string" and body or cjson.encode(body)) }
  local ok, decoded = pcall(cjson.decode, res.body)
  if res.status == 200 and ok then return decoded end
  return nil, tostring(res.status) .. " " .. (ok and type(decoded) == "table"
    and tostring(decoded.error) or res.body), res.status
end

-- Sets channel fields (PUT); returns the channel's new state.
function Emulator:set(id, fields)
  if next(fields) == nil then return self:call("PUT", "channels/" .. id, "{}") end
  return self:call("PUT", "channels/" .. id, fields)
end
function Emulator:get(id) return self:call("GET", "channels/" .. id) end
function Emulator:delete(id) return self:call("DELETE", "channels/" .. id) end
function Emulator:reset() return self:call("POST", "reset") end
function Emulator:stats() return self:call("GET", "stats") end
function Emulator:config() return self:call("GET", "config") end
function Emulator:channels() return self:call("GET", "channels") end

-- A callback listener inside the emulator: its URL, and what it received.
function Emulator:sink_url(name) return self.control .. "sinks/" .. name end
function Emulator:sink(name) return self:call("GET", "sinks/" .. name) end

-- Payload builders for tests. Text is used verbatim: escape it yourself.
-- emu.xml("Toast", { {"Text1", "Hi"}, {"Sound", "", {Silent = "true"}} },
--         { Template = "FlipTile" } (body attributes), { Version = "2.0" })
local function attrs(t)
  local names, out = {}, {}
  for k in pairs(t or {}) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do out[#out + 1] = " " .. k .. '="' .. t[k] .. '"' end
  return table.concat(out)
end

function emu.xml(body, children, body_attrs, notification_attrs)
  local parts = { '<?xml version="1.0" encoding="utf-8"?>',
    '<wp:Notification xmlns:wp="WPNotification"', attrs(notification_attrs), ">",
    "<wp:", body, attrs(body_attrs), ">" }
  for _, c in ipairs(children or {}) do
    parts[#parts + 1] = ("<wp:%s%s>%s</wp:%s>"):format(c[1], attrs(c[3]), c[2], c[1])
  end
  parts[#parts + 1] = "</wp:" .. body .. "></wp:Notification>"
  return table.concat(parts)
end

-- Request headers for each kind (immediate class).
emu.HEADERS = {
  toast = { ["X-WindowsPhone-Target"] = "toast", ["X-NotificationClass"] = "2",
            ["Content-Type"] = "text/xml" },
  tile = { ["X-WindowsPhone-Target"] = "token", ["X-NotificationClass"] = "1",
           ["Content-Type"] = "text/xml" },
  raw = { ["X-NotificationClass"] = "3", ["Content-Type"] = "application/octet-stream" },
}

-- A copy of emu.HEADERS[kind] with `extra` merged in (false removes a header).
function emu.headers(kind, extra)
  local h = {}
  for k, v in pairs(emu.HEADERS[kind]) do h[k] = v end
  for k, v in pairs(extra or {}) do h[k] = v or nil end
  return h
end

return emu
