--- mpns.resty: sends mpns messages from OpenResty without blocking a worker.
-- One POST per send over an ngx.socket.tcp cosocket; connections are pooled
-- per host:port (and TLS settings) with setkeepalive. The answer becomes the
-- table mpns.parse_response gives, plus uri and attempts (always 1: a
-- handler that wants retries reschedules, e.g. with ngx.timer.at).
--   local sender = require("mpns.resty").new { timeout = 15 }
--   local res, err = sender:send(mpns.toast { text1 = "Hi" }, channel_uri)
-- Usable where cosockets are: rewrite, access, content, ngx.timer.
-- The far end may be anyone's server (channel URIs come from phones): every
-- read is bounded in size and the whole send in time.
local ngx = ngx
if type(ngx) ~= "table" or type(ngx.socket) ~= "table" then
  error("mpns.resty needs OpenResty (nginx with lua-nginx-module) and its cosockets; "
    .. "outside nginx use mpns.client (require('mpns').client)", 2)
end

local core = require "mpns.core"
local options = require "mpns.options"

local tcp = ngx.socket.tcp
local md5, now, update_time, log, WARN = ngx.md5, ngx.now, ngx.update_time, ngx.log, ngx.WARN
local parse_response = core.parse_response
local setmetatable, type, error, pairs, tostring, tonumber, pcall, require =
  setmetatable, type, error, pairs, tostring, tonumber, pcall, require
local find, match, lower, format, sub, byte = string.find, string.match, string.lower,
  string.format, string.sub, string.byte
local floor, max = math.floor, math.max
local open = io.open

local _M = { _VERSION = "mpns.resty 0.1.0" }
local mt = { __index = _M }

-- Bounds on what a server may send back. MPNS answers are a status line,
-- a few short headers and no body; over a bound is a protocol error.
local URI_MAX = 1024
local LINE_MAX = 8192      -- the status line, each header line, each chunk-size line
local HEADERS_MAX = 100    -- header lines per answer (interim 1xx answers count too)
local BODY_MAX = 65536     -- body bytes read (with Content-Length or chunked)
local READ_SIZE = 4096     -- bytes asked of each receiveany
local RETRY_AFTER = 1      -- what a one-attempt libcurl client reports (its base_delay)
local USER_AGENT = "lua-mpns/0.1 (resty)"

-- ---- errors ---------------------------------------------------------------

-- Same shape and tostring as the libcurl client's errors.
local err_mt = {
  __tostring = function(e)
    return format("%s: %s (%s)", tostring(e.kind), tostring(e.message), tostring(e.uri))
  end,
}

-- Transport failures worth retrying; TLS and bad URIs do not heal.
local RETRYABLE = { timeout = true, connect = true, dns = true, protocol = true }

local function fail(kind, message, uri, attempts)
  return nil, setmetatable({ kind = kind, message = message, uri = uri,
    attempts = attempts or 1, retry_after = RETRYABLE[kind] and RETRY_AFTER or nil }, err_mt)
end

-- A cosocket error while talking HTTP: only a timeout is more than "protocol".
local function io_kind(err)
  return err == "timeout" and "timeout" or "protocol"
end

local function connect_kind(err)
  if err == "timeout" then return "timeout" end
  -- "no resolver defined to resolve", "could not be resolved"
  if find(err, "resolve", 1, true) then return "dns" end
  return "connect"
end

-- ---- channel URIs ---------------------------------------------------------

-- host and port of the authority, or nil; IPv6 literals come in brackets.
local function split_authority(authority, default_port)
  local host, rest = match(authority, "^%[([%x:.]+)%](.*)$")
  local literal = host ~= nil
  if not host then host, rest = match(authority, "^([^:]+)(.*)$") end
  if not host then return nil end
  local port = rest == "" and default_port or tonumber(match(rest, "^:(%d+)$"))
  if not port or port < 1 or port > 65535 then return nil end
  literal = literal or match(host, "^%d+%.%d+%.%d+%.%d+$") ~= nil
  return host, port, literal
end

-- The parts of a channel URI, or nil and why (the libcurl client's checks).
local function parse_uri(uri)
  if #uri > URI_MAX then return nil, "channel URI longer than 1024 characters" end
  if find(uri, "[%z\1-\32\127]") then
    return nil, "channel URI contains a control character or space"
  end
  local scheme, authority, path = match(uri, "^(%a+)://([^/?#]*)(.*)$")
  scheme = scheme and lower(scheme)
  if (scheme ~= "http" and scheme ~= "https") or authority == "" then
    return nil, "channel URI must be http:// or https:// with a host"
  end
  if find(authority, "@", 1, true) then return nil, "channel URI must not carry credentials" end
  local https = scheme == "https"
  local host, port, literal = split_authority(authority, https and 443 or 80)
  if not host then return nil, "channel URI has a bad host or port" end
  path = match(path, "^[^#]*")
  if path == "" or find(path, "^%?") then path = "/" .. path end
  return { https = https, host = host, port = port, path = path, authority = authority,
           literal = literal, sni = not literal and host or nil }
end

-- ---- options --------------------------------------------------------------

local OPTIONS = { timeout = "number", keepalive_timeout = "number", pool_size = "number",
                  pool = "string", ssl_verify = "boolean", cert = "string", key = "string" }

local function check_options(opts)
  options.check("mpns.resty.new", opts, OPTIONS, 2)
  local function need(ok, why) if not ok then error("mpns.resty.new: " .. why, 4) end end
  need((opts.timeout or 1) > 0, "timeout must be > 0")
  need((opts.keepalive_timeout or 0) >= 0, "keepalive_timeout must be >= 0")
  local size = opts.pool_size or 1
  need(size >= 1 and size == floor(size), "pool_size must be an integer >= 1")
  need((opts.cert == nil) == (opts.key == nil), "cert and key go together")
end

-- A PEM string as given, or the contents of the file it names. Read once,
-- in new(): create senders at module level, not per request.
local function pem(v, what)
  if find(v, "-----BEGIN", 1, true) then return v end
  local f, err = open(v, "rb")
  if not f then error("mpns.resty.new: cannot read " .. what .. ": " .. tostring(err), 4) end
  local s = f:read("*a")
  f:close()
  return s
end

-- Parses the client certificate with lua-resty-core's ngx.ssl.
local function client_cert(self, cert, key)
  local ok, ssl = pcall(require, "ngx.ssl")
  if not ok or not ssl.parse_pem_cert or not ssl.parse_pem_priv_key then
    error("mpns.resty.new: client certificates are not supported by this OpenResty "
      .. "(needs ngx.ssl.parse_pem_cert from lua-resty-core)", 3)
  end
  local cert_pem = pem(cert, "cert")
  local chain, err = ssl.parse_pem_cert(cert_pem)
  if not chain then error("mpns.resty.new: bad cert: " .. tostring(err), 3) end
  local pkey, kerr = ssl.parse_pem_priv_key(pem(key, "key"))
  if not pkey then error("mpns.resty.new: bad key: " .. tostring(kerr), 3) end
  self.cert, self.key = chain, pkey
  self.cert_id = md5(cert_pem)
end

--- A sender. opts: timeout (seconds for the whole send: connect, TLS,
-- request and answer; 15),
-- keepalive_timeout (seconds idle in the pool, 60; 0 = no keep-alive),
-- pool_size (64), pool (names the connection pool: senders that must not
-- share connections, e.g. under another lua_ssl_trusted_certificate, use
-- different ones), ssl_verify (true; needs lua_ssl_trusted_certificate),
-- cert, key (client certificate: PEM text or a file path).
---@param opts table|nil
---@return table sender
function _M.new(opts)
  opts = opts or {}
  if type(opts) ~= "table" then error("mpns.resty.new: options must be a table", 2) end
  check_options(opts)
  local ka = opts.keepalive_timeout or 60
  local self = setmetatable({
    timeout = opts.timeout or 15,
    keepalive_ms = ka > 0 and floor(ka * 1000 + 0.5) or nil,
    pool_size = opts.pool_size or 64,
    ssl_verify = opts.ssl_verify ~= false,
    pool = opts.pool or "mpns",
  }, mt)
  if opts.cert then client_cert(self, opts.cert, opts.key) end
  if not self.ssl_verify then
    log(WARN, "mpns.resty: a sender with ssl_verify = false: https servers are not ",
      "authenticated (neither their certificate nor their name is checked)")
  end
  -- Connections made with other TLS settings must never be shared.
  self.tls_pool = ":" .. (self.ssl_verify and "v" or "n") .. ":" .. (self.cert_id or "")
  return self
end

-- ---- the server's certificate ----------------------------------------------

-- lua-nginx-module checks the certificate against server_name as a DNS name
-- only, and an IP address must not go in SNI; so for an IP-literal URI the
-- peer certificate's IP addresses are checked here, with OpenSSL's
-- X509_check_ip_asc through LuaJIT's FFI (nginx itself links OpenSSL).
local openssl -- { peer, check_ip } or false, found on first use

local function openssl_api()
  if openssl == nil then
    openssl = false
    local ok, ffi = pcall(require, "ffi")
    if not ok then return false end
    -- pcall: another module may have declared them already (any pointer types do)
    pcall(ffi.cdef, "const void *SSL_SESSION_get0_peer(const void *s);")
    pcall(ffi.cdef, "int X509_check_ip_asc(const void *x, const char *ip, unsigned int flags);")
    local found, peer, check = pcall(function()
      return ffi.C.SSL_SESSION_get0_peer, ffi.C.X509_check_ip_asc
    end)
    if found then openssl = { peer = peer, check_ip = check } end
  end
  return openssl
end

-- true when the session's server certificate names the IP address; or nil, why.
local function names_ip(session, ip)
  local api = openssl_api()
  if not api then
    return nil, "cannot check the certificate's IP address here (needs LuaJIT's FFI and "
      .. "OpenSSL 1.1 or later); use a host name or ssl_verify = false"
  end
  if type(session) ~= "cdata" then return nil, "no TLS session to check" end
  local cert = api.peer(session)
  if cert == nil then return nil, "the server sent no certificate" end
  if api.check_ip(cert, ip, 0) ~= 1 then return nil, "certificate does not name " .. ip end
  return true
end

-- ---- one exchange -----------------------------------------------------------

local function pool_name(self, u)
  if not u.https then return self.pool .. ":" .. u.host .. ":" .. u.port end
  return self.pool .. ":tls:" .. u.host .. ":" .. u.port .. self.tls_pool
end

-- Arms the socket with the time left before the send's deadline (a
-- cosocket timeout is per operation: a server dripping a byte at a time
-- would restart it forever); false when none is left.
local function arm(c)
  local left = c.deadline - now()
  if left <= 0 then return false end
  c.sock:settimeout(max(1, floor(left * 1000 + 0.5)))
  return true
end

local function handshake(self, c, u)
  local sock = c.sock
  if self.cert then
    if not sock.setclientcert then
      return nil, "tls", "client certificates are not supported by this OpenResty"
    end
    local ok, err = sock:setclientcert(self.cert, self.key)
    if not ok then return nil, "tls", "client certificate: " .. tostring(err) end
  end
  if not arm(c) then return nil, "timeout", "TLS handshake: timeout" end
  local ip = self.ssl_verify and u.literal and u.host
  -- Asks for the session (reused = nil) only when its certificate is
  -- checked here. pcall: then lua-resty-core asserts where the bug below
  -- loses the error.
  local reused = false
  if ip then reused = nil end
  local ok, session, err = pcall(sock.sslhandshake, sock, reused, u.sni, self.ssl_verify)
  if not ok then return nil, "tls", "TLS handshake: server certificate verification failed" end
  if not session then
    return nil, err == "timeout" and "timeout" or "tls", "TLS handshake: " .. tostring(err)
  end
  -- lua-nginx-module before #2506 reports success when a handshake that
  -- finished at once failed verification, but has closed the socket.
  if not sock:getreusedtimes() then
    return nil, "tls", "TLS handshake: server certificate verification failed"
  end
  if ip then
    local named, why = names_ip(session, ip)
    if not named then return nil, "tls", "TLS handshake: " .. why end
  end
  return true
end

-- A connection (from the pool when one is idle) with the send's deadline,
-- or nil, kind, message.
local function connect(self, u, deadline)
  local c = { sock = tcp(), deadline = deadline, buf = "", pos = 1, nlines = 0 }
  arm(c)
  local ok, err = c.sock:connect(u.host, u.port,
    { pool = pool_name(self, u), pool_size = self.pool_size })
  if not ok then return nil, connect_kind(err), err end
  if u.https and c.sock:getreusedtimes() == 0 then
    local kind, msg
    ok, kind, msg = handshake(self, c, u)
    if not ok then c.sock:close(); return nil, kind, msg end
  end
  return c
end

-- The request as a table of pieces (cosockets send tables without a concat).
local function request(self, msg, u)
  local body = msg:body()
  local req = { "POST ", u.path, " HTTP/1.1\r\nHost: ", u.authority, "\r\nUser-Agent: ",
                USER_AGENT, "\r\nContent-Length: ", #body, "\r\n" }
  for name, value in pairs(msg:headers()) do
    req[#req + 1] = name; req[#req + 1] = ": "; req[#req + 1] = value; req[#req + 1] = "\r\n"
  end
  if not self.keepalive_ms then req[#req + 1] = "Connection: close\r\n" end
  req[#req + 1] = "\r\n"
  req[#req + 1] = body
  return req
end

-- The answer is read through c.buf from c.pos with receiveany, one call per
-- arrival: each call is armed with the time left, so the deadline holds
-- however slowly the bytes come (a bigger read restarts its timer on each).

-- Appends what arrives next to c.buf; or nil, kind, message.
local function fill(c, what)
  if not arm(c) then return nil, "timeout", what .. ": timeout" end
  local data, err = c.sock:receiveany(READ_SIZE)
  if not data then return nil, io_kind(err), what .. ": " .. err end
  c.buf = c.pos > #c.buf and data or sub(c.buf, c.pos) .. data
  c.pos = 1
  return true
end

-- One line without its line end, or nil, kind, message, over (true when
-- the line broke LINE_MAX rather than the connection failing).
local function read_line(c, what)
  while true do
    local nl = find(c.buf, "\n", c.pos, true)
    local len = (nl or #c.buf + 1) - c.pos
    if len > LINE_MAX then
      return nil, "protocol", format("%s: a line over %d bytes", what, LINE_MAX), true
    end
    if nl then
      local line = sub(c.buf, c.pos, nl - 1)
      c.pos = nl + 1
      if byte(line, -1) == 13 then line = sub(line, 1, -2) end
      return line
    end
    local ok, kind, msg = fill(c, what)
    if not ok then return nil, kind, msg end
  end
end

-- Drops the next n bytes; false when the connection failed first.
local function skip(c, n)
  local have = #c.buf - c.pos + 1
  while have < n do
    n, c.buf, c.pos = n - have, "", 1
    if not fill(c, "reading the body") then return false end
    have = #c.buf
  end
  c.pos = c.pos + n
  return true
end

-- Counts a line of the answer's head against HEADERS_MAX.
local function count_line(c)
  c.nlines = c.nlines + 1
  return c.nlines <= HEADERS_MAX + 1      -- + the status line
end

local TOO_MANY = "more than " .. HEADERS_MAX .. " response header lines"

-- Status line and headers (lower-case names, first value wins), or nil,
-- kind, message.
local function read_head(c)
  local line, kind, msg = read_line(c, "reading the status line")
  if not line then return nil, kind, msg end
  if not count_line(c) then return nil, "protocol", TOO_MANY end
  local version, status, after = match(line, "^HTTP/(%d%.%d) ([1-5]%d%d)(.?)")
  if not status or (after ~= "" and after ~= " ") then
    return nil, "protocol", "bad status line: " .. sub(line, 1, 80)
  end
  local headers = {}
  while true do
    line, kind, msg = read_line(c, "reading headers")
    if not line then return nil, kind, msg end
    if line == "" then return tonumber(status), headers, version end
    if not count_line(c) then return nil, "protocol", TOO_MANY end
    local name, value = match(line, "^([^:%s]+)%s*:%s*(.-)%s*$")
    if name then
      name = lower(name)
      if headers[name] == nil then headers[name] = value end
    end
  end
end

local OVER_BODY = "an answer body over " .. BODY_MAX .. " bytes"

-- Trailers after the last chunk, up to the blank line: true, false
-- (connection failed), or nil, kind, message over a bound.
local function skip_trailers(c)
  while true do
    local line, kind, msg, over = read_line(c, "reading trailers")
    if over then return nil, kind, msg end
    if not line then return false end
    if line == "" then return true end
    if not count_line(c) then return nil, "protocol", TOO_MANY end
  end
end

-- Reads and drops a chunked body: true when it ended cleanly, false when
-- the framing broke (costs the connection only), nil, kind, message over
-- a bound.
local function discard_chunks(c)
  local total = 0
  while true do
    local line, kind, msg, over = read_line(c, "reading the body")
    if over then return nil, kind, msg end
    local size = line and tonumber(match(line, "^%s*(%x+)"), 16)
    if not size then return false end
    if size == 0 then return skip_trailers(c) end
    total = total + size
    if total > BODY_MAX then return nil, "protocol", OVER_BODY end
    if not skip(c, size + 2) then return false end  -- data + CRLF
  end
end

-- Reads and drops the body: true when the connection may be reused, false
-- when not (the answer is in the status and headers, so a body problem
-- only costs the connection), nil, kind, message over a bound.
local function discard_body(c, status, headers)
  if status == 204 or status == 304 then return true end
  local te = headers["transfer-encoding"]
  if te then
    if not find(lower(te), "chunked", 1, true) then return false end
    return discard_chunks(c)
  end
  local len = tonumber(match(headers["content-length"] or "", "^%d+$"))
  if not len then return false end        -- no length: the body ends at close, unread
  if len > BODY_MAX then return nil, "protocol", OVER_BODY end
  return skip(c, len)
end

local function reusable(version, headers)
  local conn = lower(headers.connection or "")
  if version == "1.1" then return not find(conn, "close", 1, true) end
  return find(conn, "keep-alive", 1, true) ~= nil
end

-- Sends and reads the answer: status, headers, reusable; or nil, kind, message.
local function exchange(self, c, msg, u)
  if not arm(c) then return nil, "timeout", "sending: timeout" end
  local ok, err = c.sock:send(request(self, msg, u))
  if not ok then return nil, io_kind(err), "sending: " .. err end
  local status, headers, version
  repeat                                    -- skip 1xx interim answers
    status, headers, version = read_head(c)
    if not status then return nil, headers, version end
  until status >= 200
  local keep, kind, why = discard_body(c, status, headers)
  if keep == nil then return nil, kind, why end
  -- bytes past the answer: the server is out of step, never reuse it
  return status, headers, keep and c.pos > #c.buf and reusable(version, headers)
end

-- Back to the pool, or closed when it cannot be reused.
local function release(self, sock, keep)
  if keep and self.keepalive_ms and sock:setkeepalive(self.keepalive_ms, self.pool_size) then
    return
  end
  sock:close()
end

--- sender:send(msg, uri) -> result, or nil and an error table
-- { kind, message, uri, attempts[, retry_after] }.
---@param msg userdata an mpns message
---@param uri string the channel URI
---@return table|nil result
---@return table|nil err
function _M.send(self, msg, uri)
  if type(msg) ~= "userdata" then error("mpns.resty: send expects an mpns message", 2) end
  if type(uri) ~= "string" then error("mpns.resty: channel URI must be a string", 2) end
  local u, why = parse_uri(uri)
  if not u then return fail("invalid_uri", why, uri, 0) end
  update_time()                             -- the deadline counts from now, not the loop's start
  local c, kind, err = connect(self, u, now() + self.timeout)
  if not c then return fail(kind, err, uri) end
  local status, headers, keep = exchange(self, c, msg, u)
  if not status then c.sock:close(); return fail(headers, keep, uri) end
  release(self, c.sock, keep)
  local res = parse_response(status, headers)
  res.uri, res.attempts = uri, 1
  return res
end

return _M
