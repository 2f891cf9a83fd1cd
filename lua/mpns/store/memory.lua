--- mpns.store.memory: channels in a Lua table, for tests and the REPL.
-- Records live in `recs` by URI; `order[seq]` keeps insertion order so a scan
-- pages stably while records come and go (the cursor is the last seq seen).
local store = require "mpns.store"
local options = require "mpns.options"
local NULL, copy = store.NULL, store.copy

local M = {}
local mt = { __index = M }

--- A new, empty memory store. It takes no options.
---@param opts table|nil
function M.new(opts)
  options.check("mpns.store.memory", opts, {})
  return setmetatable({ recs = {}, seq = {}, order = {}, last = 0, bydev = {} }, mt)
end

local function live(self)
  if not self.recs then error("mpns.store.memory: store is closed", 3) end
end

local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end

-- The subscribe fields given, over what the record had; updated_at moves
-- only when something changed (a phone repeating itself writes nothing).
local function apply(rec, f, now, changed)
  for _, k in ipairs({ "user", "os", "tags" }) do
    if f[k] ~= nil and not same(f[k], rec[k]) then rec[k], changed = copy(f[k]), true end
  end
  if changed then rec.updated_at = now end
end

-- Moves the record at `old` to `uri`, keeping its place in the scan order.
local function move(self, old, uri)
  local rec, n = self.recs[old], self.seq[old]
  self.recs[old], self.seq[old] = nil, nil
  self.recs[uri], self.seq[uri], self.order[n] = rec, n, uri
  rec.uri = uri
  if rec.device then self.bydev[rec.device] = uri end
  return rec
end

-- Gives `device` to the record at `uri`; another record holding it is dropped.
local function claim(self, rec, device)
  local other = self.bydev[device]
  if other == rec.uri then return nil end
  if other then self:delete(other) end
  if rec.device then self.bydev[rec.device] = nil end
  rec.device, self.bydev[device] = device, rec.uri
  return other
end

-- A device changes hands only between subscribes of the same user (both
-- absent counts): an unauthenticated caller naming someone's device must
-- not take over their record. Otherwise the subscribe keeps no device.
local function may_take(self, f, rec)
  local holder = self.recs[self.bydev[f.device]]
  local user = f.user
  if user == nil and rec then user = rec.user end
  return holder == nil or holder == rec or holder.user == user
end

--- The atomic upsert (doc/push-kit.md, "Store interface").
function M:subscribe(f, now)
  live(self)
  local rec, old = self.recs[f.uri], nil
  if f.device and not may_take(self, f, rec) then
    f = copy(f)
    f.device = nil
  end
  if rec then
    local changed = f.device ~= nil and f.device ~= rec.device
    if changed then old = claim(self, rec, f.device) end
    apply(rec, f, now, changed)
    return copy(rec), false, old
  end
  if f.device and self.bydev[f.device] then
    old = self.bydev[f.device]
    rec = move(self, old, f.uri)
    apply(rec, f, now, true)
    return copy(rec), false, old
  end
  rec = { uri = f.uri, device = f.device, os = "8.0", tags = {}, counter = 0, created_at = now }
  apply(rec, f, now, true)
  self.last = self.last + 1
  self.recs[f.uri], self.seq[f.uri], self.order[self.last] = rec, self.last, f.uri
  if f.device then self.bydev[f.device] = f.uri end
  return copy(rec), true
end

function M:get(uri)
  live(self)
  return copy(self.recs[uri])
end

function M:delete(uri)
  live(self)
  local rec = self.recs[uri]
  if not rec then return false end
  self.order[self.seq[uri]] = nil
  self.recs[uri], self.seq[uri] = nil, nil
  if rec.device then self.bydev[rec.device] = nil end
  return true
end

function M:update(uri, changes)
  live(self)
  store.check_changes(changes, "mpns.store.memory")
  local rec = self.recs[uri]
  if not rec then return false end
  for k, v in pairs(changes) do
    if v == NULL then rec[k] = nil else rec[k] = copy(v) end
  end
  rec.tags = rec.tags or {}  -- a record always has a tag list
  return true
end

--- The same changes on every listed record that exists.
function M:update_many(uris, changes)
  live(self)
  store.check_changes(changes, "mpns.store.memory")
  for _, uri in ipairs(uris) do self:update(uri, changes) end
  return true
end

function M:incr(uri, field, n)
  live(self)
  if store.TYPE[field] ~= "number" then
    error("mpns.store.memory: incr needs a number field, got '" .. tostring(field) .. "'", 2)
  end
  local rec = self.recs[uri]
  if not rec then return nil end
  rec[field] = (rec[field] or 0) + n
  return rec[field]
end

function M:scan(filter, cursor, limit)
  live(self)
  filter = store.check_filter(filter, "mpns.store.memory")
  local out, i = {}, (cursor or 0)
  while #out < limit and i < self.last do
    i = i + 1
    local uri = self.order[i]
    if uri and store.matches(self.recs[uri], filter) then out[#out + 1] = copy(self.recs[uri]) end
  end
  return out, (i < self.last) and i or nil
end

function M:count(filter)
  live(self)
  filter = store.check_filter(filter, "mpns.store.memory")
  local n = 0
  for _, rec in pairs(self.recs) do
    if store.matches(rec, filter) then n = n + 1 end
  end
  return n
end

-- Writes are immediate in memory: a batch is just the call.
function M:batch(fn)
  live(self)
  return fn()
end

function M:close()
  self.recs = nil
  return true
end

return M
