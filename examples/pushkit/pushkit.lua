--- The phone-facing push service (OpenResty): the recipe's WCF service,
-- seed 000's REST service and seed 004's insert script as one nginx app.
--   POST /subscribe            JSON { user, uri, os, device, tags } -> the registry
--   GET  /tiles/<id>.png       the custom-image pattern's per-channel image
--   GET  /tiles/schedule.png   what ShellTileSchedule polls
--   POST /admin/<action>       trigger a pattern (loopback AND X-Admin-Secret)
-- Nothing here POSTs to a URI the registry's host check did not accept:
-- admin actions take filters (user, tag, os, device), never URIs.
local bit = require "bit"
local mpns = require "mpns"
local cjson = require "cjson.safe"
local resty = require "mpns.resty"

local ngx = ngx
local type, pairs, ipairs, pcall, tostring, error = type, pairs, ipairs, pcall, tostring, error

local M = {}
local cfg, transport, registry

local CONFIG = { store = "string", path = "string", allowed_hosts = "table", admin_secret = "string",
  public_url = "string", tile_file = "string", ask_tile = "table", on_subscribe = "string",
  transport = "table", concurrency = "number", counter_title = "string", busy_timeout = "number" }

-- SQLite waits this long (ms) for another writer's lock before answering
-- "database is locked": short, since the wait blocks the whole worker;
-- /subscribe then answers 503 and the phone retries.
local BUSY_TIMEOUT = 50

--- Called once from init_by_lua: the service's settings (see nginx.conf).
function M.configure(c)
  for k, v in pairs(c) do
    if CONFIG[k] ~= type(v) then error("pushkit.configure: bad or unknown option '" .. tostring(k) .. "'", 2) end
  end
  if c.on_subscribe and c.on_subscribe ~= "ask_to_pin" then
    error("pushkit.configure: on_subscribe can only be \"ask_to_pin\"", 2)
  end
  cfg = c
  transport = resty.new(c.transport or { timeout = 15 })   -- connection pools, shared per worker
end

-- The registry, opened once per worker (a SQLite handle must not cross fork),
-- or nil, err (tried again on the next request).
local function open_reg()
  if not registry then
    local store = cfg.store or "memory"
    local r, err = mpns.registry.open { store = store, path = cfg.path, allowed_hosts = cfg.allowed_hosts,
      busy_timeout = store == "sqlite" and (cfg.busy_timeout or BUSY_TIMEOUT) or nil }
    if not r then return nil, err end
    registry = r
  end
  return registry
end

-- The registry, or raises { unavailable = why } (answered 503).
local function reg()
  local r, err = open_reg()
  if not r then error({ unavailable = "registry unavailable: " .. tostring(err) }, 0) end
  return r
end

-- A sender per request or timer: its light threads belong to whoever spawned them.
local function sender()
  return mpns.sender.new("resty", transport, { concurrency = cfg.concurrency or 50 })
end

local function reply(status, body)
  ngx.status = status
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(body))
end

-- An error raised by the library, without the "file.lua:12: " prefix.
local function reason(err) return (tostring(err):gsub("^[^:]*%.lua:%d+: ", "")) end

local function json_body()
  ngx.req.read_body()
  local raw = ngx.req.get_body_data()
  if not raw then return nil, "expected a JSON object in the body (at most client_body_buffer_size)" end
  local t = cjson.decode(raw)
  if type(t) ~= "table" then return nil, "the body is not a JSON object" end
  return t
end

-- ---- patterns, per request -------------------------------------------------------

local function tiles_url(id) return (cfg.public_url or "") .. "/tiles/" .. id .. ".png" end

local PATTERNS = {
  one_time = function(s) return mpns.patterns.one_time.new { registry = reg(), sender = s } end,
  counter = function(s) return mpns.patterns.counter.new { registry = reg(), sender = s,
    title = cfg.counter_title } end,
  ask_to_pin = function(s) return mpns.patterns.ask_to_pin.new { registry = reg(), sender = s,
    tile = cfg.ask_tile or { title = "Push" } } end,
  custom_image = function(s) return mpns.patterns.custom_image.new { registry = reg(), sender = s,
    url = tiles_url("{id}"), file = cfg.tile_file } end,
  schedule = function(s) return mpns.patterns.schedule.new { registry = reg(), sender = s,
    url = tiles_url("schedule"), file = cfg.tile_file } end,
}

local function pattern(name) return PATTERNS[name](sender()) end

-- ---- POST /subscribe ---------------------------------------------------------------

-- After the answer: the recipe's on-subscribe pattern (ask to pin), in a timer.
local function after_subscribe(premature, uri)
  if premature then return end
  local ok, err = pcall(function() return pattern(cfg.on_subscribe):subscribed(uri) end)
  if not ok then ngx.log(ngx.ERR, "pushkit: on_subscribe: ", tostring(err)) end
end

function M.subscribe()
  if ngx.req.get_method() ~= "POST" then return reply(405, { error = "POST only" }) end
  local t, why = json_body()
  if why then return reply(400, { error = why }) end
  local r, oerr = open_reg()
  if not r then return reply(503, { error = "registry unavailable: " .. tostring(oerr) }) end
  -- The registry checks every field: an unknown one raises, a bad value is
  -- "refused"; any other failure is the backend's.
  local ok, rec, new, refused = pcall(r.subscribe, r, t)
  if not ok then return reply(400, { error = reason(rec) }) end
  if not rec then return reply(refused == "refused" and 400 or 503, { error = tostring(new) }) end
  if cfg.on_subscribe then ngx.timer.at(0, after_subscribe, rec.uri) end
  return reply(200, { new = new, uri = rec.uri, user = rec.user, os = rec.os })
end

-- ---- GET /tiles/<id>.png ---------------------------------------------------------------

function M.tile()
  local id = ngx.var.uri:match("^/tiles/([%w%-%._~%%]+)%.png$")
  if not id then return reply(404, { error = "no such tile" }) end
  local ok, p = pcall(pattern, id == "schedule" and "schedule" or "custom_image")
  if not ok then   -- the patterns need the registry: it could not be opened
    if type(p) == "table" and p.unavailable then return reply(503, { error = p.unavailable }) end
    return reply(500, { error = reason(p) })
  end
  local png, err = p:image(id)
  if not png then return reply(500, { error = tostring(err) }) end
  ngx.header.content_type = "image/png"
  ngx.header.cache_control = "no-cache"
  ngx.print(png)
end

-- ---- POST /admin/<action> ------------------------------------------------------------

local KINDS = { toast = true, tile = true, flip_tile = true, iconic_tile = true, cycle_tile = true,
  raw = true }

-- { { kind = "toast", text1 = ... }, { kind = "raw", data = "..." } } -> messages.
local function messages(list)
  if type(list) ~= "table" or #list == 0 then return nil, "field 'messages' must be a non-empty list" end
  local out = {}
  for i, m in ipairs(list) do
    local kind = type(m) == "table" and m.kind
    if not KINDS[kind] then return nil, "messages[" .. i .. "]: unknown kind " .. tostring(kind) end
    local fields = {}
    for k, v in pairs(m) do if k ~= "kind" then fields[k] = v end end
    local ok, msg = pcall(mpns[kind], fields)
    if not ok then return nil, "messages[" .. i .. "]: " .. reason(msg) end
    out[i] = msg
  end
  return out
end

local ADMIN = {
  one_time = function(b)
    local list, why = messages(b.messages)
    if not list then return nil, why end
    return pattern("one_time"):send(list, b.filter)
  end,
  counter_bump = function(b) return pattern("counter"):bump(b.filter) end,
  counter_logon = function(b) return pattern("counter"):logon(b.user) end,
  ask_to_pin = function(b) return pattern("ask_to_pin"):update(b.fields or {}, b.filter) end,
  custom_image = function(b) return pattern("custom_image"):send(b.fields, b.filter) end,
  schedule_test = function(b) return pattern("schedule"):test_now(b.filter) end,
  callback = function(b)
    local res, err = mpns.patterns.register_callback(reg(), sender(), b.uri, b.callback_uri, b.data)
    return { outcome = res and res.outcome or err.kind, status = res and res.status,
      message = err and err.message }
  end,
}

-- a == b in time independent of where they differ (and of b's length):
-- both are HMACed with a per-worker key, then every byte is compared.
local KEY = ngx.sha1_bin(tostring(ngx.now()) .. tostring({}) .. tostring(math.random()))
local function same_secret(a, b)
  if type(a) ~= "string" or type(b) ~= "string" then return false end
  local x, y = ngx.hmac_sha1(KEY, a), ngx.hmac_sha1(KEY, b)
  local diff = 0
  for i = 1, #x do diff = bit.bor(diff, bit.bxor(x:byte(i), y:byte(i))) end
  return diff == 0
end

-- Loopback (nginx allows only 127.0.0.1 too) and the shared secret. The
-- loopback check means nothing behind a reverse proxy on the same host.
local function admin_refusal()
  local addr = ngx.var.remote_addr
  if addr ~= "127.0.0.1" and addr ~= "::1" then return "admin is loopback only" end
  if not cfg.admin_secret or cfg.admin_secret == "" then return "admin is off: no admin_secret configured" end
  if not same_secret(ngx.var.http_x_admin_secret, cfg.admin_secret) then return "wrong or missing X-Admin-Secret" end
end

function M.admin()
  local refused = admin_refusal()
  if refused then return reply(403, { error = refused }) end
  local action = ngx.var.uri:match("^/admin/([%w_]+)$")
  local run = ADMIN[action]
  if not run or ngx.req.get_method() ~= "POST" then return reply(404, { error = "no such admin action" }) end
  local b, why = json_body()
  if not b then return reply(400, { error = why }) end
  local ok, s, err = pcall(run, b)
  if not ok and type(s) == "table" and s.unavailable then return reply(503, { error = s.unavailable }) end
  if not ok then return reply(400, { error = reason(s) }) end
  if not s then return reply(400, { error = err }) end
  if getmetatable(s) == mpns.patterns.summary_mt then
    return reply(200, { summary = tostring(s), counts = s.counts, sent = s.sent, skipped = s.skipped,
      channels = s.channels })
  end
  return reply(200, s)
end

return M
