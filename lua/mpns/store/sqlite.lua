--- mpns.store.sqlite: channels in an SQLite database through LuaDBI.
-- Every value reaches SQL through a bound parameter of a prepared statement
-- (SQL text is only ever assembled from the constant fragments below). WAL
-- mode and explicit transactions: a crash mid-write loses nothing committed
-- and leaves nothing half-written. Prepared statements are kept and reused.
local DBI = require "DBI"
local store = require "mpns.store"
local NULL, FIELDS, TYPE = store.NULL, store.FIELDS, store.TYPE
local tointeger = math.tointeger or function(x) return x end  -- LuaJIT: numbers are doubles
local concat, unpack = table.concat, table.unpack or unpack

local M = {}
local mt = { __index = M }

M.SCHEMA_VERSION = 1

local SCHEMA = {
  [[CREATE TABLE channels (
    id INTEGER PRIMARY KEY, uri TEXT NOT NULL UNIQUE, user TEXT, device TEXT,
    os TEXT NOT NULL, tags TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    last_outcome TEXT, last_status INTEGER, last_at REAL, notification_status TEXT,
    device_status TEXT, subscription_status TEXT, pinned INTEGER, app_running INTEGER,
    retry_at REAL, counter INTEGER NOT NULL DEFAULT 0, tile TEXT, callback TEXT)]],
  -- Partial indexes: a channel without user or device costs no index page.
  "CREATE INDEX channels_user ON channels (user) WHERE user IS NOT NULL",
  "CREATE UNIQUE INDEX channels_device ON channels (device) WHERE device IS NOT NULL",
  -- Rows are removed by (tag, channel) from the record's own tag list, so
  -- this one index serves both the tag filter and the writes.
  [[CREATE TABLE channel_tags (tag TEXT NOT NULL, channel INTEGER NOT NULL,
    PRIMARY KEY (tag, channel)) WITHOUT ROWID]],
  "PRAGMA user_version = " .. M.SCHEMA_VERSION,
}

-- Rows are fetched as arrays (cheaper than named columns): `id`, then FIELDS
-- in order; COL maps a name to its position and CONV turns a column back
-- into the record's Lua value.
local COLS, COL, CONV = {}, { id = 1 }, {}
local function to_bool(v) return v ~= 0 end
local function to_number(v) return tointeger(v) or v end  -- 5.4: 3.0 read back is 3
for i, f in ipairs(FIELDS) do
  COLS[i], COL[f[1]] = f[1], i + 1
  CONV[i] = (f[2] == "json" and store.decode) or (f[2] == "boolean" and to_bool)
    or (f[2] == "number" and math.tointeger and to_number) or false
end
local SELECT = "SELECT id, " .. concat(COLS, ", ") .. " FROM channels "

-- Filter keys in a fixed order, each with its WHERE fragment.
local WHERE = {
  { "user", "user = ?" }, { "os", "os = ?" }, { "device", "device = ?" },
  { "tag", "id IN (SELECT channel FROM channel_tags WHERE tag = ?)" },
  { "due", "(retry_at IS NULL OR retry_at <= ?)" },
}

local OPTIONS = { path = "string", synchronous = "string", busy_timeout = "number" }
local SYNC = { OFF = true, NORMAL = true, FULL = true, EXTRA = true }

local function check_options(opts)
  store.check_options(opts, OPTIONS, "mpns.store.sqlite", 3)
  if not opts.path then error("mpns.store.sqlite: option 'path' is required", 4) end
  if opts.synchronous and not SYNC[opts.synchronous] then
    error("mpns.store.sqlite: option 'synchronous' expected OFF, NORMAL, FULL or EXTRA", 4)
  end
end

-- The prepared statement for `sql`, made once per connection.
local function stmt(self, sql)
  local st = self.st[sql]
  if st then return st end
  if not self.db then error("mpns.store.sqlite: store is closed", 4) end
  local err
  st, err = self.db:prepare(sql)
  if not st then return nil, err end
  self.st[sql] = st
  return st
end

-- Runs `sql` with its parameters; returns the statement (to fetch from) or nil, err.
-- A statement that failed is dropped: LuaDBI resets it before the next
-- execute, and that reset would report the old error once more.
local function run(self, sql, ...)
  local st, err = stmt(self, sql)
  if not st then return nil, err end
  local ok
  ok, err = st:execute(...)
  if not ok then
    st:close()
    self.st[sql] = nil
    return nil, err
  end
  return st
end

-- The first row of `sql` (an array), false for none, or nil, err.
local function one(self, sql, ...)
  local st, err = run(self, sql, ...)
  if not st then return nil, err end
  local row = st:fetch(false)
  while row and st:fetch(false) do end  -- finish the statement so COMMIT may run
  return row or false
end

-- Every row of `sql` as a list.
local function all(self, sql, ...)
  local st, err = run(self, sql, ...)
  if not st then return nil, err end
  local rows = {}
  for row in st:rows(false) do rows[#rows + 1] = row end
  return rows
end

-- A row as a channel record (the same table any store returns).
local function to_record(row)
  if not row then return nil end
  local rec = {}
  for i = 1, #COLS do
    local v = row[i + 1]
    if v ~= nil then
      if CONV[i] then v = CONV[i](v) end
      rec[COLS[i]] = v
    end
  end
  return rec
end

-- A Lua value as the parameter its column takes.
local function to_param(name, v)
  if v == nil or v == NULL then return nil end
  local ty = TYPE[name]
  if ty == "json" then return store.encode(v) end
  if ty == "boolean" then return v and 1 or 0 end
  return v
end

-- Transactions nest: only the outermost BEGIN IMMEDIATE / COMMIT reach SQLite.
local function begin(self)
  self.depth = self.depth + 1
  if self.depth > 1 then return true end
  local ok, err = run(self, "BEGIN IMMEDIATE")
  if not ok then self.depth = 0 end
  return ok, err
end

-- Ends a transaction level: COMMIT when `commit` (ROLLBACK if that fails),
-- else ROLLBACK; returns the values after `commit`, or nil, err.
local function finish(self, commit, ...)
  self.depth = self.depth - 1
  if self.depth > 0 then return ... end
  if commit then
    local done, err = run(self, "COMMIT")
    if done then return ... end
    run(self, "ROLLBACK")
    return nil, err
  end
  run(self, "ROLLBACK")
  return ...
end

local function pack(...) return { n = select("#", ...), ... } end

--- Opens (and creates) the database at `opts.path`.
---@param opts {path: string, synchronous?: string, busy_timeout?: number}
---@return table|nil store
---@return string|nil err
function M.new(opts)
  check_options(opts)
  local db, err = DBI.Connect("SQLite3", opts.path)
  if not db then return nil, "mpns.store.sqlite: " .. tostring(err) end
  db:autocommit(true)  -- LuaDBI would otherwise hold one transaction open forever
  local self = setmetatable({ db = db, st = {}, depth = 0, updates = {} }, mt)
  local ok
  ok, err = self:_setup(opts)
  if not ok then self:close(); return nil, "mpns.store.sqlite: " .. tostring(err) end
  return self
end

-- Pragmas, then the schema when the file is new (user_version 0).
function M:_setup(opts)
  for _, sql in ipairs({
    "PRAGMA busy_timeout = " .. math.floor(opts.busy_timeout or 5000),
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = " .. (opts.synchronous or "NORMAL"),
    -- a checkpoint ends in fsyncs: one per 10,000 pages (the WAL grows to ~40 MB)
    -- rather than SQLite's 1,000 keeps them off the per-subscribe cost
    "PRAGMA wal_autocheckpoint = 10000",
  }) do
    local ok, err = one(self, sql)
    if ok == nil then return nil, err end
  end
  local ok, err = begin(self)
  if not ok then return nil, err end
  local row = one(self, "PRAGMA user_version")
  local version = row and tointeger(row[1])
  if version == 0 then
    for _, sql in ipairs(SCHEMA) do
      ok, err = one(self, sql)
      if ok == nil then return finish(self, false, nil, err) end
    end
  elseif version ~= M.SCHEMA_VERSION then
    return finish(self, false, nil, "database schema version " .. tostring(version)
      .. " is not this library's (" .. M.SCHEMA_VERSION .. ")")
  end
  return finish(self, true, true)
end

-- Replaces the tag rows of channel `id` (old ones from its JSON) if they changed.
local function set_tags(self, id, tags, old_json, json)
  if (json or store.encode(tags)) == old_json then return true end
  local ok, err = true, nil
  for _, tag in ipairs(old_json and store.decode(old_json) or {}) do
    ok, err = run(self, "DELETE FROM channel_tags WHERE tag = ? AND channel = ?", tag, id)
    if not ok then return nil, err end
  end
  for _, tag in ipairs(tags) do
    ok, err = run(self, "INSERT INTO channel_tags (tag, channel) VALUES (?, ?)", tag, id)
    if not ok then return nil, err end
  end
  return true
end

local function delete_row(self, row)
  local ok, err = set_tags(self, row[COL.id], {}, row[COL.tags])
  if ok then ok, err = run(self, "DELETE FROM channels WHERE id = ?", row[COL.id]) end
  return ok, err
end

-- Writes the subscribe fields (and a new uri, for a move) over row `row`.
local function renew(self, row, f, now)
  local tags = f.tags and store.encode(f.tags)
  if row[COL.uri] == f.uri and (tags or row[COL.tags]) == row[COL.tags] and (f.user or row[COL.user]) == row[COL.user]
    and (f.device or row[COL.device]) == row[COL.device] and (f.os or row[COL.os]) == row[COL.os] then
    return to_record(row)  -- the phone said it again: nothing to write
  end
  local ok, err = run(self, "UPDATE channels SET uri = ?, user = coalesce(?, user), "
    .. "device = coalesce(?, device), os = coalesce(?, os), tags = coalesce(?, tags), "
    .. "updated_at = ? WHERE id = ?", f.uri, f.user, f.device, f.os, tags, now, row[COL.id])
  if ok and f.tags then ok, err = set_tags(self, row[COL.id], f.tags, row[COL.tags]) end
  if not ok then return nil, err end
  local rec = to_record(row)
  rec.uri, rec.updated_at = f.uri, now
  for _, k in ipairs({ "user", "device", "os", "tags" }) do
    if f[k] ~= nil then rec[k] = store.copy(f[k]) end
  end
  return rec
end

-- A new record, or false if `uri` is taken (nothing written), or nil, err.
local function insert(self, f, now)
  local tags = f.tags or {}
  local json = store.encode(tags)
  local st, err = run(self, "INSERT INTO channels (uri, user, device, os, tags, created_at, "
    .. "updated_at, counter) VALUES (?, ?, ?, ?, ?, ?, ?, 0) ON CONFLICT (uri) DO NOTHING",
    f.uri, f.user, f.device, f.os or "8.0", json, now, now)
  if not st then return nil, err end
  if st:affected() == 0 then return false end
  local ok
  ok, err = set_tags(self, self.db:last_id(), tags, nil, json)
  if not ok then return nil, err end
  return { uri = f.uri, user = f.user, device = f.device, os = f.os or "8.0",
    tags = store.copy(tags), created_at = now, updated_at = now, counter = 0 }
end

-- The body of subscribe, inside its transaction. Without a device, a new
-- URI is one INSERT (the common case: no SELECT first).
local function upsert(self, f, now)
  if not f.device then
    local rec, err = insert(self, f, now)
    if rec ~= false then return rec, err or true end
  end
  local row, err = one(self, SELECT .. "WHERE uri = ?", f.uri)
  if row == nil then return nil, err end
  local other
  if f.device and (not row or row[COL.device] ~= f.device) then
    other, err = one(self, SELECT .. "WHERE device = ?", f.device)
    if other == nil then return nil, err end
  end
  if other and (f.user or (row and row[COL.user]) or nil) ~= other[COL.user] then
    -- another user's device: no takeover (doc/push-kit.md); stored without it
    f, other = store.copy(f), nil
    f.device = nil
    if not row then
      local rec, e = insert(self, f, now)
      return rec, e or true
    end
  end
  if row then  -- the same channel again; a device it takes over leaves its old channel
    if other then
      local ok, e = delete_row(self, other)
      if not ok then return nil, e end
    end
    local rec, e = renew(self, row, f, now)
    return rec, e or false, other and other[COL.uri] or nil
  end
  if other then  -- the device's new channel: its record moves to the new URI
    local rec, e = renew(self, other, f, now)
    return rec, e or false, other[COL.uri]
  end
  local rec, e = insert(self, f, now)
  return rec, e or true
end

--- The atomic upsert (doc/push-kit.md, "Store interface").
function M:subscribe(f, now)
  local ok, err = begin(self)
  if not ok then return nil, err end
  local rec, a, b = upsert(self, f, now)
  return finish(self, rec ~= nil, rec, a, b)
end

function M:get(uri)
  local row, err = one(self, SELECT .. "WHERE uri = ?", uri)
  if row == nil then return nil, err end
  return to_record(row or nil)
end

function M:delete(uri)
  local ok, err = begin(self)
  if not ok then return nil, err end
  local row
  row, err = one(self, SELECT .. "WHERE uri = ?", uri)
  if row then ok, err = delete_row(self, row) end
  if row == nil or not ok then return finish(self, false, nil, err) end
  return finish(self, true, row and true or false)
end

-- The UPDATE statement for the fields in `changes` (names from COLS only,
-- cached by which are present), its parameters and their count; raises on
-- an unknown key. No pairs/sort per call: record() flushes run through here.
local BIT = {}
for i = 1, #COLS do BIT[i] = 2 ^ i end

local function update_statement(self, uri, changes, tags)
  local args, n, key = {}, 0, 0
  for i = 2, #COLS do  -- COLS[1] is uri, the key
    local name = COLS[i]
    local v = changes[name]
    if v ~= nil then
      n, key = n + 1, key + BIT[i]
      if name == "tags" then v = to_param(name, tags)
      elseif v == NULL then v = nil
      elseif type(v) ~= "string" then v = to_param(name, v) end
      args[n] = v
    end
  end
  local keys = 0
  for _ in pairs(changes) do keys = keys + 1 end
  if keys ~= n or changes.device ~= nil then store.check_changes(changes, "mpns.store.sqlite") end
  local sql = self.updates[key]
  if not sql then
    local sets = {}
    for i = 2, #COLS do
      if changes[COLS[i]] ~= nil then sets[#sets + 1] = COLS[i] .. " = ?" end
    end
    sql = "UPDATE channels SET " .. concat(sets, ", ") .. " WHERE uri = ?"
    self.updates[key] = sql
  end
  args[n + 1] = uri
  return sql, args, n + 1
end

function M:update(uri, changes)
  local tags = changes.tags
  if tags == NULL then tags = {} end  -- the column is never NULL
  local sql, args, nargs = update_statement(self, uri, changes, tags)
  if nargs == 1 then return self:get(uri) ~= nil end
  if tags then return self:batch(function()
    local row = one(self, SELECT .. "WHERE uri = ?", uri)
    if not row then return row end
    local ok, err = run(self, sql, unpack(args, 1, nargs))
    if ok then ok, err = set_tags(self, row[COL.id], tags, row[COL.tags]) end
    return ok and true, err
  end) end
  local st, err = run(self, sql, unpack(args, 1, nargs))
  if not st then return nil, err end
  return st:affected() > 0
end

function M:incr(uri, field, n)
  if TYPE[field] ~= "number" then
    error("mpns.store.sqlite: incr needs a number field, got '" .. tostring(field) .. "'", 2)
  end
  local row, err = one(self, "UPDATE channels SET " .. field .. " = coalesce(" .. field
    .. ", 0) + ? WHERE uri = ? RETURNING " .. field .. " AS v", n, uri)
  if row == nil then return nil, err end
  return row and to_number(row[1]) or nil
end

-- The WHERE clause and parameters of a filter (plus the cursor, for scans).
local function where(filter, cursor)
  local parts, args = {}, {}
  if cursor then parts[1], args[1] = "id > ?", cursor end
  for _, w in ipairs(WHERE) do
    local v = filter[w[1]]
    if v ~= nil then parts[#parts + 1], args[#args + 1] = w[2], v end
  end
  return (#parts > 0 and "WHERE " .. concat(parts, " AND ") or ""), args
end

function M:scan(filter, cursor, limit)
  filter = store.check_filter(filter, "mpns.store.sqlite")
  local clause, args = where(filter, cursor or 0)
  args[#args + 1] = limit
  local rows, err = all(self, SELECT .. clause .. " ORDER BY id LIMIT ?", unpack(args, 1, #args))
  if not rows then return nil, err end
  local out = {}
  for i, row in ipairs(rows) do out[i] = to_record(row) end
  return out, (#rows == limit) and rows[#rows][1] or nil
end

function M:count(filter)
  filter = store.check_filter(filter, "mpns.store.sqlite")
  local clause, args = where(filter, nil)
  local row, err = one(self, "SELECT count(*) AS n FROM channels " .. clause, unpack(args, 1, #args))
  if row == nil then return nil, err end
  return to_number(row[1])
end

--- Runs fn() inside one transaction; an error in fn rolls it back and
--- re-raises. A BEGIN or COMMIT that fails (a lock held too long) raises
--- too: callers pcall batch, and `nil, err` would read as fn's own values.
function M:batch(fn)
  local ok, err = begin(self)
  if not ok then error(err, 0) end
  local res = pack(pcall(fn))
  if not res[1] then
    finish(self, false)
    error(res[2], 0)
  end
  if self.depth > 1 then return finish(self, true, unpack(res, 2, res.n)) end
  self.depth = self.depth - 1
  local done, e = run(self, "COMMIT")
  if not done then
    run(self, "ROLLBACK")
    error(e, 0)
  end
  return unpack(res, 2, res.n)
end

function M:close()
  if not self.db then return true end
  for _, st in pairs(self.st) do st:close() end
  self.st = {}
  self.db:close()
  self.db = nil
  return true
end

return M
