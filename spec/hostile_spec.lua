-- Both senders against a hostile server (spec/hostile_server.lua): endless
-- header line, endless headers, huge bodies, a one-byte-a-second drip, a
-- certificate for another name, a connection closed after the request,
-- garbage and an out-of-range status. Every send must end with exactly one
-- outcome, within its timeout (plus slack for a loaded machine), with
-- bounded memory, and never as `received`. mpns.client runs in this
-- process; mpns.resty in the nginx of spec/resty_nginx.lua, driven by curl.
local lu = require "luaunit"
local cjson = require "cjson"
local socket = require "socket"
local mpns = require "mpns"
local emu = require "emu"
local nginx = require "resty_nginx"
local hostile = require "hostile"

local e = assert(emu.start {})
local dns = hostile.dns()                  -- nginx resolves "localhost" through it
local ngx_, why = dns and nginx.start(e, dns.port)
if not ngx_ then e:stop(); if dns then dns:stop() end; error(why or "no DNS server") end
local worker = assert(hostile.children(ngx_.pid)[1], "no nginx worker")

local TIMEOUT = 2          -- each sender's timeout, seconds
local SLACK = 8            -- a loaded machine; < 10 s still proves the deadline: the
                           -- drip's 70-byte answer would take over a minute at a byte a second
local MEMORY_KB = 32 * 1024 -- peak growth allowed for one send

local mktemp = assert(io.popen("mktemp -d /tmp/mpns-hostile-certs.XXXXXX"))
local certs = mktemp:read("*l")
mktemp:close()
local ca_dir = nginx.abs(e.ca):match("^(.*)/")
local made, WRONG, RIGHT, LOCALHOST = pcall(function()
  return { hostile.cert(certs, ca_dir, "wrong-name", "DNS:other.example") },
    { hostile.cert(certs, ca_dir, "right-ip", "IP:127.0.0.1") },
    { hostile.cert(certs, ca_dir, "right-name", "DNS:localhost") }
end)
if not made then
  ngx_:stop(); e:stop(); dns:stop(); os.execute("rm -rf '" .. certs .. "'"); error(WRONG)
end

-- One send with the libcurl client: the outcomes, seconds, peak memory growth (KB).
local function via_client(uri)
  local client = mpns.client { timeout = TIMEOUT, retry = { max_attempts = 1 },
    ca = nginx.abs(e.ca) }
  local got, peak, t0 = {}, hostile.peak_kb(), socket.gettime()
  client:send_async(mpns.raw("ping"), uri, function(res) got[#got + 1] = { res = res } end,
    function(err) got[#got + 1] = { err = err } end)
  client:run()
  local took = socket.gettime() - t0
  client:close()
  return got, took, hostile.peak_kb() - peak
end

local pools = 0

-- One send with mpns.resty in nginx (a pool of its own): the same.
local function via_resty(uri)
  pools = pools + 1
  local peak = hostile.peak_kb(worker)
  local q = "uri=" .. uri:gsub("[^%w]", function(c) return ("%%%02X"):format(c:byte()) end)
    .. "&kind=raw&timeout=" .. TIMEOUT .. "&pool=hostile" .. pools
  local r = emu.request { url = ngx_.url .. "/t?" .. q, timeout = 30 }
  lu.assertEquals(r.status, 200, r.body)
  local s = cjson.decode(r.body).sends
  local got = {}
  for i, one in ipairs(s) do got[i] = { res = one.res, err = one.err } end
  return got, r.time, hostile.peak_kb(worker) - peak
end

local SENDERS = { client = via_client, resty = via_resty }

-- Plays `mode` to `sender`; asserts the common contract and returns the
-- one outcome ({ res } or { err }).
local function play(sender, mode, tls, host)
  local h = assert(hostile.start(mode, tls, host))
  local ok, got, took, grew = pcall(SENDERS[sender], h.uri)
  h:stop()
  if not ok then error(got, 0) end
  local what = sender .. " / " .. mode .. ": "
  lu.assertEquals(#got, 1, what .. "outcomes")
  lu.assertTrue(took < TIMEOUT + SLACK, what .. "took " .. took .. " s")
  lu.assertTrue(grew < MEMORY_KB, what .. "peak memory grew " .. grew .. " KB")
  return got[1], what
end

-- Asserts a failure of `kind` (any kind when nil), never a result.
local function fails(sender, mode, kind, tls, host)
  local one, what = play(sender, mode, tls, host)
  lu.assertNil(one.res, what .. "answered " .. cjson.encode(one.res or {}))
  if kind then lu.assertEquals(one.err.kind, kind, what .. cjson.encode(one.err)) end
  return one.err
end

local function each(fn) return function() for s in pairs(SENDERS) do fn(s) end end end

TestBothSenders = {}

-- The control: the server answers properly when told to, over TLS too.
TestBothSenders.test_good_answer_received = each(function(s)
  lu.assertEquals(play(s, "ok").res.outcome, "received", s)
  lu.assertEquals(play(s, "ok", RIGHT).res.outcome, "received", s)
  lu.assertEquals(play(s, "ok", LOCALHOST, "localhost").res.outcome, "received", s)
end)

TestBothSenders.test_endless_header_line = each(function(s) fails(s, "endless_header", "protocol") end)
TestBothSenders.test_endless_headers = each(function(s) fails(s, "many_headers", "protocol") end)
TestBothSenders.test_huge_body = each(function(s) fails(s, "huge_body") end)
TestBothSenders.test_huge_chunked_body = each(function(s) fails(s, "huge_chunked") end)
TestBothSenders.test_slow_drip = each(function(s) fails(s, "drip", "timeout") end)
TestBothSenders.test_wrong_certificate_name = each(function(s)
  fails(s, "ok", "tls", WRONG)                   -- https://127.0.0.1:...
  fails(s, "ok", "tls", WRONG, "localhost")      -- https://localhost:...
  fails(s, "ok", "tls", LOCALHOST)               -- a name, but not the IP
end)
TestBothSenders.test_closed_after_request = each(function(s) fails(s, "close", "protocol") end)
TestBothSenders.test_garbage_answer = each(function(s) fails(s, "garbage", "protocol") end)
TestBothSenders.test_status_out_of_range = each(function(s) fails(s, "bad_status", "protocol") end)

-- mpns.resty says what is over which bound.
TestResty = {}

function TestResty:test_bounds_named()
  lu.assertStrContains(fails("resty", "endless_header", "protocol").message, "over 8192 bytes")
  lu.assertStrContains(fails("resty", "many_headers", "protocol").message, "more than 100")
  lu.assertStrContains(fails("resty", "huge_body", "protocol").message, "over 65536 bytes")
  lu.assertStrContains(fails("resty", "huge_chunked", "protocol").message, "over 65536 bytes")
  lu.assertStrContains(fails("resty", "ok", "tls", WRONG).message, "does not name 127.0.0.1")
end

function teardownSuite()
  ngx_:stop()
  e:stop()
  dns:stop()
  os.execute("rm -rf '" .. certs .. "'")
end

os.exit(lu.LuaUnit.run() == 0)
