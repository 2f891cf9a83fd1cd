--- mpns.store.redis: channels in Redis, shared by every nginx worker and
-- every mpns-worker. Each write is one Lua script in Redis (atomic, one round
-- trip: lua/mpns/store/redis/scripts.lua); scans page through sorted-set
-- indexes by insertion order, never KEYS. Inside nginx it talks through
-- cosockets, elsewhere through lua-redis (lua/mpns/store/redis/conn.lua).
--   local st = require("mpns.store.redis").new{ host = "127.0.0.1", port = 6379 }
local store = require "mpns.store"
local options = require "mpns.options"
local conn = require "mpns.store.redis.conn"
local S = require "mpns.store.redis.scripts"

local NULL, TYPE = store.NULL, store.TYPE
local fmt, tonumber, tostring, type = string.format, tonumber, tostring, type
local unpack = table.unpack or unpack

local function pack(...) return { n = select("#", ...), ... } end

local M = {}
local mt = { __index = M }

local OPTIONS = { host = "string", port = "number", db = "number", timeout = "number",
  prefix = "string" }

--- A store on a Redis server. opts: host ("127.0.0.1"), port (6379), db,
--- timeout (seconds, 5), prefix of every key ("mpns:"). Nothing is sent
--- until first use but a PING, so an unreachable server is nil, err here.
---@param opts table|nil
---@return table|nil store
---@return string|nil err
function M.new(opts)
  opts = options.check("mpns.store.redis", opts, OPTIONS)
  local self = setmetatable({ c = conn.new(opts), p = opts.prefix or "mpns:",
    open = setmetatable({}, { __mode = "k" }) }, mt)
  local ok, err = self.c:call("PING")
  if not ok then self.c:close(); return nil, err end
  return self
end

local function live(self)
  if not self.c then error("mpns.store.redis: store is closed", 3) end
end

-- A field's value as Redis text ("" = cleared).
local function encode(field, v)
  if field == "tags" and (v == nil or v == NULL) then return "{}" end  -- no tags is {}
  if v == nil or v == NULL then return "" end
  local t = TYPE[field]
  if t == "json" then return store.encode(v) end
  if t == "boolean" then return v and "1" or "0" end
  if t == "number" then return v % 1 == 0 and fmt("%d", v) or fmt("%.17g", v) end
  return v
end

-- HGETALL's flat list as a record (unknown and cleared fields left out).
local function decode(h)
  if h == nil or #h == 0 then return nil end
  local rec = {}
  for i = 1, #h, 2 do
    local f, v, t = h[i], h[i + 1], TYPE[h[i]]
    if t and v ~= "" then
      if t == "json" then v = store.decode(v)
      elseif t == "boolean" then v = v == "1"
      elseif t == "number" then v = tonumber(v) end
      rec[f] = v
    end
  end
  return rec
end

-- Arguments per script call: LuaJIT unpacks at most about 8,000 values.
local MAX_ARGS = 4000

-- Sends update argument lists in as few script calls as MAX_ARGS allows;
-- the last call's reply, or nil, err.
local function send_updates(self, list)
  local args, n, res, err = {}, 0, nil, nil
  local function send()
    res, err = self.c:eval(S.update, 0, self.p, unpack(args, 1, n))
    args, n = {}, 0
    return res
  end
  for _, u in ipairs(list) do
    if n > 0 and n + #u > MAX_ARGS and not send() then return nil, err end
    if n == 0 and u.first then  -- a script call's first update names its fields
      n, args[1] = 1, u[1]
      for j = 2, #u.first do n = n + 1; args[n] = u.first[j] end
    else
      for _, a in ipairs(u) do n = n + 1; args[n] = a end
    end
  end
  if n > 0 and not send() then return nil, err end
  return res or 0
end

-- The key of the running light thread (a coroutine; LuaJIT's main thread
-- is nil): a batch belongs to the thread that opened it, so two requests
-- of one nginx worker that share this store never mix their updates.
local MAIN = {}
local function thread() return coroutine.running() or MAIN end

-- Sends the updates the caller's batch deferred (one script call for all
-- of them, while they fit), so its reads see its writes.
local function drain(self)
  local co = thread()
  local b = self.open[co]
  if not b or #b == 0 then return true end
  self.open[co] = {}
  local res, err = send_updates(self, b)
  if not res then return nil, err end
  return true
end

--- The atomic upsert (doc/push-kit.md, "Store interface").
function M:subscribe(f, now)
  live(self)
  local ok, err = drain(self)
  if not ok then return nil, err end
  local res
  res, err = self.c:eval(S.subscribe, 0, self.p, f.uri, f.user or "", f.device or "",
    f.os or "", f.tags and store.encode(f.tags) or "", encode("created_at", now))
  if not res then return nil, err end
  return decode(res[1]), res[2] == 1, res[3] or nil
end

function M:get(uri)
  live(self)
  local ok, err = drain(self)
  if not ok then return nil, err end
  local h
  h, err = self.c:call("HGETALL", self.p .. "ch:" .. uri)
  if not h then return nil, err end
  return decode(h)
end

function M:delete(uri)
  live(self)
  local ok, err = drain(self)
  if not ok then return nil, err end
  local res
  res, err = self.c:eval(S.delete, 0, self.p, uri)
  if not res then return nil, err end
  return res == 1
end

-- uri, n, field, value, ... for the update script.
local function update_args(uri, changes)
  local a, n = { uri, 0 }, 0
  for k, v in pairs(changes) do
    a[#a + 1], a[#a + 2], n = k, encode(k, v), n + 1
  end
  a[2] = tostring(n)
  return a
end

--- Inside a batch the write waits for the batch's end (one round trip for
--- all) and this returns true at once, whether or not the channel exists.
function M:update(uri, changes)
  live(self)
  store.check_changes(changes, "mpns.store.redis")
  local b = self.open[thread()]
  if b then b[#b + 1] = update_args(uri, changes); return true end
  local res, err = send_updates(self, { update_args(uri, changes) })
  if not res then return nil, err end
  return res == 1
end

function M:incr(uri, field, n)
  live(self)
  if TYPE[field] ~= "number" then
    error("mpns.store.redis: incr needs a number field, got '" .. tostring(field) .. "'", 2)
  end
  local ok, err = drain(self)
  if not ok then return nil, err end
  local res
  res, err = self.c:eval(S.incr, 0, self.p, uri, field, encode(field, n))
  if err then return nil, err end
  return tonumber(res)
end

-- The index set that narrows `filter` most cheaply.
local function index_key(self, f)
  if f.tag then return self.p .. "t:" .. f.tag end
  if f.user then return self.p .. "u:" .. f.user end
  if f.os then return self.p .. "o:" .. f.os end
  return self.p .. "all"
end

-- A device filter is one lookup in the device map.
local function scan_device(self, f)
  local uri, err = self.c:call("HGET", self.p .. "dev", f.device)
  if err then return nil, err end
  local rec = uri and self:get(uri)
  return { rec and store.matches(rec, f) and rec or nil }, nil
end

--- Records matching `filter` after `cursor` (an insertion-order score).
--- The same changes on every listed record that exists: one round trip
--- (the updates wait for the batch's end).
--- The changes are encoded once: every update after the first is its URI
--- and "=" (send_updates spells the fields out again for a script call
--- that starts there).
function M:update_many(uris, changes)
  live(self)
  store.check_changes(changes, "mpns.store.redis")
  if #uris == 0 then return true end
  local ok, err = pcall(self.batch, self, function()
    local b, first = self.open[thread()], update_args(uris[1], changes)
    b[#b + 1] = first
    for i = 2, #uris do b[#b + 1] = { uris[i], "=", first = first } end
  end)
  if not ok then return nil, err end
  return true
end

function M:scan(filter, cursor, limit)
  live(self)
  local f = store.check_filter(filter, "mpns.store.redis")
  local ok, err = drain(self)
  if not ok then return nil, err end
  if f.device then return scan_device(self, f) end
  local res
  res, err = self.c:eval(S.scan, 0, self.p, index_key(self, f),
    cursor and "(" .. cursor or "-inf", limit)
  if not res then return nil, err end
  local out = {}
  for _, h in ipairs(res[1]) do
    local rec = decode(h)
    if rec and store.matches(rec, f) then out[#out + 1] = rec end
  end
  return out, res[3] >= limit and tonumber(res[2]) or nil
end

--- How many match: one ZCARD for one index, else a scan.
function M:count(filter)
  live(self)
  local f = store.check_filter(filter, "mpns.store.redis")
  local ok, err = drain(self)
  if not ok then return nil, err end
  local n = 0
  for _ in pairs(f) do n = n + 1 end
  if n <= 1 and not f.due and not f.device then return self.c:call("ZCARD", index_key(self, f)) end
  local cursor, total = nil, 0
  repeat
    local page
    page, cursor = self:scan(f, cursor, 1000)
    if not page then return nil, cursor end
    total = total + #page
  until cursor == nil
  return total
end

--- Runs fn with updates deferred to its end (one round trip); fn raising
--- drops the deferred updates and re-raises (writes already made stay).
--- The batch is the calling thread's (coroutine's): a nested call joins
--- it, another light thread's writes are not part of it.
function M:batch(fn)
  live(self)
  local co = thread()
  if self.open[co] then return fn() end
  self.open[co] = {}
  local res = pack(pcall(fn))
  if not res[1] then self.open[co] = nil; error(res[2], 0) end
  local ok, err = drain(self)
  self.open[co] = nil
  if not ok then error(err, 0) end
  return unpack(res, 2, res.n)
end

--- The connection this store uses (the queue and worker share it).
function M:connection() return self.c end

function M:close()
  if self.c then self.c:close(); self.c = nil end
  return true
end

return M
