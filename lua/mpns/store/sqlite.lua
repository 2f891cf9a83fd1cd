--- mpns.store.sqlite: channels in an SQLite database through LuaDBI.
-- Every value reaches SQL through a bound parameter of a prepared statement
-- (SQL text is only ever assembled from the constant fragments below). WAL
-- mode; every write is one statement (its own transaction) or runs inside
-- BEGIN IMMEDIATE ... COMMIT, and triggers keep the tag index in the same
-- statement as the row: a crash mid-write loses nothing committed and leaves
-- nothing half-written. Prepared statements are kept and reused.
-- The file is opened through mpns.sqlite_wal when it is built: a VFS that
-- hands SQLite's WAL writes of one commit to the kernel in one call
-- (csrc/lsqlite_wal.c; the commit is written before SQLite publishes it).
local DBI = require "DBI"
local store = require "mpns.store"
local options = require "mpns.options"
local NULL, FIELDS, TYPE = store.NULL, store.FIELDS, store.TYPE
local tointeger = math.tointeger or function(x) return x end  -- LuaJIT: numbers are doubles
local concat, unpack = table.concat, table.unpack or unpack

local M = {}
local mt = { __index = M }

M.SCHEMA_VERSION = 3

-- Version 2: triggers keep channel_tags equal to each row's tag list, so a
-- subscribe, update or delete is one statement (one transaction) however
-- many tags it touches. A repeated tag is skipped by ON CONFLICT (a store
-- caller may pass one; the registry never does): DISTINCT would build a
-- temporary b-tree per row, whose page-cache block glibc gives back to the
-- kernel on every free (a brk per subscribe; 4x slower in a batch).
local TRIGGERS = {
  [[CREATE TRIGGER channels_tags_insert AFTER INSERT ON channels BEGIN
    INSERT INTO channel_tags (tag, channel) SELECT value, NEW.id FROM json_each(NEW.tags)
      WHERE true ON CONFLICT DO NOTHING;
  END]],
  [[CREATE TRIGGER channels_tags_update AFTER UPDATE OF tags ON channels
    WHEN OLD.tags IS NOT NEW.tags BEGIN
    DELETE FROM channel_tags WHERE channel = OLD.id AND tag IN (SELECT value FROM json_each(OLD.tags));
    INSERT INTO channel_tags (tag, channel) SELECT value, NEW.id FROM json_each(NEW.tags)
      WHERE true ON CONFLICT DO NOTHING;
  END]],
  [[CREATE TRIGGER channels_tags_delete AFTER DELETE ON channels BEGIN
    DELETE FROM channel_tags WHERE channel = OLD.id AND tag IN (SELECT value FROM json_each(OLD.tags));
  END]],
}

-- Version 3: what a send's outcome sets lives in a narrow row of its own,
-- keyed by the channel's id and written only by outcomes (absent: all
-- NULL). A fan-out's outcomes then rewrite rows of ~60 bytes instead of the
-- channel's whole row (its tile, tags and URI), and a scan decodes fewer
-- columns. Reads join the two (a LEFT JOIN SQLite drops when no outcome
-- column is asked for).
local OUTCOME_COLS = { "last_outcome", "last_status", "last_at", "notification_status",
  "device_status", "subscription_status", "pinned", "app_running", "retry_at" }
local OUTCOME = {}
for _, name in ipairs(OUTCOME_COLS) do OUTCOME[name] = true end

local OUTCOMES_TABLE = [[CREATE TABLE channel_outcomes (channel INTEGER PRIMARY KEY,
  last_outcome TEXT, last_status INTEGER, last_at REAL, notification_status TEXT,
  device_status TEXT, subscription_status TEXT, pinned INTEGER, app_running INTEGER, retry_at REAL)]]
local OUTCOMES_TRIGGER = [[CREATE TRIGGER channels_outcomes_delete AFTER DELETE ON channels BEGIN
    DELETE FROM channel_outcomes WHERE channel = OLD.id;
  END]]

-- Version 2 to 3: the outcome columns move to channel_outcomes (rows that
-- have any), then leave channels.
local TO_V3 = { OUTCOMES_TABLE,
  "INSERT INTO channel_outcomes (channel, " .. concat(OUTCOME_COLS, ", ") .. ") SELECT id, "
    .. concat(OUTCOME_COLS, ", ") .. " FROM channels WHERE coalesce(" .. concat(OUTCOME_COLS, ", ")
    .. ") IS NOT NULL" }
for _, name in ipairs(OUTCOME_COLS) do TO_V3[#TO_V3 + 1] = "ALTER TABLE channels DROP COLUMN " .. name end
TO_V3[#TO_V3 + 1] = OUTCOMES_TRIGGER

local SCHEMA = {
  [[CREATE TABLE channels (
    id INTEGER PRIMARY KEY, uri TEXT NOT NULL UNIQUE, user TEXT, device TEXT,
    os TEXT NOT NULL, tags TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL,
    counter INTEGER NOT NULL DEFAULT 0, tile TEXT, callback TEXT)]],
  OUTCOMES_TABLE,
  -- Partial indexes: a channel without user or device costs no index page.
  "CREATE INDEX channels_user ON channels (user) WHERE user IS NOT NULL",
  "CREATE UNIQUE INDEX channels_device ON channels (device) WHERE device IS NOT NULL",
  -- Rows are removed by (tag, channel) from the record's own tag list, so
  -- this one index serves both the tag filter and the writes.
  [[CREATE TABLE channel_tags (tag TEXT NOT NULL, channel INTEGER NOT NULL,
    PRIMARY KEY (tag, channel)) WITHOUT ROWID]],
}
for _, sql in ipairs(TRIGGERS) do SCHEMA[#SCHEMA + 1] = sql end
SCHEMA[#SCHEMA + 1] = OUTCOMES_TRIGGER

-- What brings a schema from its version to the next.
local MIGRATE = { [1] = TRIGGERS, [2] = TO_V3 }

-- `get` fetches a row as an array (cheaper than named columns): `id`, then
-- FIELDS in order; COL maps a name to its position and CONV turns a column
-- back into the record's Lua value. A scan fetches by name (see fixer).
local COLS, COL, CONV = {}, { id = 1 }, {}
local function to_bool(v) return v ~= 0 end
local function to_number(v) return tointeger(v) or v end  -- 5.4: 3.0 read back is 3
for i, f in ipairs(FIELDS) do
  COLS[i], COL[f[1]] = f[1], i + 1
  CONV[i] = (f[2] == "json" and store.decode) or (f[2] == "boolean" and to_bool)
    or (f[2] == "number" and math.tointeger and to_number) or false
end
-- Every read goes through this join (column names are unique across the two).
local FROM = " FROM channels LEFT JOIN channel_outcomes ON channel = id "
local SELECT = "SELECT id, " .. concat(COLS, ", ") .. FROM

-- Filter keys in a fixed order, each with its WHERE fragment.
local WHERE = {
  { "user", "user = ?" }, { "os", "os = ?" }, { "device", "device = ?" },
  { "tag", "id IN (SELECT channel FROM channel_tags WHERE tag = ?)" },
  { "due", "(retry_at IS NULL OR retry_at <= ?)" },
}

local OPTIONS = { path = "string", synchronous = "string", busy_timeout = "number",
  gather_wal = "boolean", page_bytes = "number", mmap_bytes = "number" }
local SYNC = { OFF = true, NORMAL = true, FULL = true, EXTRA = true }
local PAGE_BYTES = { [512] = true, [1024] = true, [2048] = true, [4096] = true,
  [8192] = true, [16384] = true, [32768] = true, [65536] = true }

-- SQLite's own ceiling on PRAGMA mmap_size (SQLITE_MAX_MMAP_SIZE, Debian's
-- build: 0x7fff0000); a larger size is cut to it without a word.
local MMAP_MAX = 0x7fff0000

local function check_options(opts)
  options.check("mpns.store.sqlite", opts, OPTIONS, 2)
  if not opts.path then error("mpns.store.sqlite: option 'path' is required", 4) end
  if opts.synchronous and not SYNC[opts.synchronous] then
    error("mpns.store.sqlite: option 'synchronous' expected OFF, NORMAL, FULL or EXTRA", 4)
  end
  local mmap = opts.mmap_bytes
  if mmap and (mmap < 0 or mmap % 1 ~= 0 or mmap > MMAP_MAX) then
    error("mpns.store.sqlite: option 'mmap_bytes' expected a whole number of bytes from 0 to "
      .. string.format("%d", MMAP_MAX) .. ", got " .. tostring(mmap), 4)
  end
  if opts.page_bytes and not PAGE_BYTES[opts.page_bytes] then
    error("mpns.store.sqlite: option 'page_bytes' expected a power of two from 512 to 65536, got "
      .. tostring(opts.page_bytes), 4)
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

-- The first row of `sql` (an array), false for none, or nil, err. The
-- statement is run to its end: an autocommit write (RETURNING) commits
-- there, and a read ends its snapshot so COMMIT may run. LuaDBI raises when
-- that last step fails (a commit that could not be written): caught here.
local function one(self, sql, ...)
  local st, err = run(self, sql, ...)
  if not st then return nil, err end
  local ok, row = pcall(st.fetch, st, false)
  while ok and row and st:fetch(false) do end  -- RETURNING gives one row; SELECTs here too
  if not ok then
    st:close()
    self.st[sql] = nil
    return nil, row
  end
  return row or false
end

-- ---- ids of the rows scans read ----------------------------------------------
-- A fan-out writes the outcomes of rows it has just scanned. Found by id, a
-- row costs about a third of what its URI costs through the uri index (a
-- long key whose first ~50 bytes every channel shares), so scans remember
-- uri -> id for the committed rows they read outside a transaction (two
-- generations of IDS_KEPT), and update_many inside a transaction (the
-- registry's flush) uses the ids when it has all of them. They are trusted
-- only while no other connection has committed (PRAGMA data_version,
-- checked before each scan and, under the write lock, each update_many)
-- and are dropped for a URI this connection deletes or moves: no id can
-- have changed hands. Otherwise the URIs, as before.
local IDS_KEPT = 4096

local function forget_ids(self) self.ids, self.old_ids, self.n_ids = {}, {}, 0 end

local function forget_id(self, uri) self.ids[uri], self.old_ids[uri] = nil, nil end

-- Forgets every id when another connection has committed since they were read.
local function check_ids(self)
  local row = one(self, "PRAGMA data_version")
  local v = row and row[1]
  if v ~= self.version or not v then forget_ids(self) end
  self.version = v
end

-- The table a scan remembers its rows' uri -> id in: only for rows read
-- outside a transaction (committed: no rollback can hand their ids to
-- other rows), and only records that carry their URI; nil for none.
local function id_table(self, has_uri)
  return self.depth == 0 and has_uri and self.ids or nil
end

-- Counts `n` ids remembered; every IDS_KEPT a new generation starts.
local function remembered(self, n)
  self.n_ids = self.n_ids + n
  if self.n_ids > IDS_KEPT then self.old_ids, self.ids, self.n_ids = self.ids, {}, 0 end
end

-- The ids of `uris` as a JSON array, or nil unless every one is known.
local function ids_of(self, uris)
  check_ids(self)
  local out, ids, old = {}, self.ids, self.old_ids
  for i = 1, #uris do
    local id = ids[uris[i]] or old[uris[i]]
    if not id then return nil end
    out[i] = id
  end
  return "[" .. concat(out, ",") .. "]"
end

-- A reader of rows whose columns are `id`, then the fields `names` (in
-- order): it returns each row as a channel record (nil for no row). The
-- reader is one table constructor made for `names` (schema names only), so
-- a record is allocated once at its size instead of grown field by field.
local function reader(names)
  local conv, parts = {}, {}
  for i, name in ipairs(names) do
    conv[i] = CONV[COL[name] - 1]
    parts[i] = conv[i] and string.format("%s = row[%d] and conv[%d](row[%d])", name, i + 1, i, i + 1)
      or string.format("%s = row[%d]", name, i + 1)
  end
  local src = "local conv = ...\nreturn function(row)\n  if not row then return nil end\n  return { "
    .. concat(parts, ", ") .. " }\nend"
  return assert(load(src, "=mpns.store.sqlite reader"))(conv)
end

-- A full row as a channel record (the same table any store returns).
local to_record = reader(COLS)

-- A scan fetches rows by column name: LuaDBI's row table, keyed by the
-- field names, is then the record itself (no second table a row). `fix`
-- turns its columns back into the record's Lua values in place; false when
-- none of `names` needs it (a fan-out's uri and os).
local function fixer(names)
  local fix = {}
  for _, name in ipairs(names) do
    local conv = CONV[COL[name] - 1]
    if conv then fix[#fix + 1] = { name, conv } end
  end
  if #fix == 0 then return false end
  return function(rec)
    for i = 1, #fix do
      local name, conv = fix[i][1], fix[i][2]
      local v = rec[name]
      if v ~= nil then rec[name] = conv(v) end
    end
  end
end

-- The scan's SELECT of `fields` (a list of record fields, `uri` first;
-- nil: all), its fixer and whether it reads `uri`, made once per list.
-- Names are checked against the schema's: only those reach the SQL text.
local function select_of(self, fields)
  if fields and #fields == 0 then error("mpns.store.sqlite: scan's field list is empty", 3) end
  local key = fields and concat(fields, ",") or "*"
  local hit = self.selects[key]
  if hit then return hit[1], hit[2], hit[3] end
  for _, name in ipairs(fields or {}) do
    if not COL[name] or name == "id" then error("mpns.store.sqlite: scan of an unknown field '" .. tostring(name) .. "'", 3) end
  end
  local names = fields or COLS
  hit = { "SELECT id, " .. concat(names, ", ") .. FROM, fixer(names), names[1] == "uri" }
  self.selects[key] = hit
  return hit[1], hit[2], hit[3]
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
---@param opts {path: string, synchronous?: string, busy_timeout?: number, gather_wal?: boolean, page_bytes?: number, mmap_bytes?: number}
---@return table|nil store
---@return string|nil err
-- nil, reason when the file's directory does not exist: said plainly, and
-- before LuaDBI, whose failed connect leaks SQLite's handle.
local function missing_dir(path)
  local dir = path:match("^(.*)/[^/]*$")
  if not dir or dir == "" then return nil end
  local f = io.open(dir, "r")  -- opens a directory too (Linux); nil when absent
  if f then f:close(); return nil end
  return "no directory " .. dir .. " for " .. path
end

-- mpns.sqlite_wal's VFS name when it is built, else nil (SQLite's own VFS).
-- LuaDBI takes no VFS argument: a URI filename names it.
local ok_wal, wal = pcall(require, "mpns.sqlite_wal")
M.VFS = ok_wal and wal.register() or nil

-- `path` as a URI filename that opens it through `vfs` (%, ? and # escaped).
local function uri_of(path, vfs)
  local p = path:gsub("[%%?#]", function(c) return string.format("%%%02X", c:byte()) end)
  return (p:sub(1, 1) == "/" and "file://" or "file:") .. p .. "?vfs=" .. vfs
end

function M.new(opts)
  check_options(opts)
  local why = missing_dir(opts.path)
  if why then return nil, "mpns.store.sqlite: " .. why end
  local vfs = opts.gather_wal ~= false and M.VFS
  local db, err = DBI.Connect("SQLite3", vfs and uri_of(opts.path, vfs) or opts.path)
  if not db then return nil, "mpns.store.sqlite: " .. tostring(err) end
  db:autocommit(true)  -- LuaDBI would otherwise hold one transaction open forever
  local self = setmetatable({ db = db, st = {}, depth = 0, updates = {}, selects = {} }, mt)
  forget_ids(self)
  local ok
  ok, err = self:_setup(opts)
  if not ok then self:close(); return nil, "mpns.store.sqlite: " .. tostring(err) end
  return self
end

-- The page size of a new file. A commit writes each page it changed whole
-- into the WAL, and a new channel changes a leaf of four b-trees (the row,
-- the uri, user and tag indexes) and now and then a parent or page 1:
-- 1,024-byte pages make that 7.2 KB instead of 19.8 at SQLite's 4,096,
-- so less to checksum, write and fsync per subscribe. SQLite fixes the page
-- size when it creates the file: a file made before keeps its own. The
-- price: a scan reads 1 KB a call where it read 4 (`page_bytes = 4096`
-- for a file that is mostly read in bulk).
M.PAGE_SIZE = 1024

-- How much of the file SQLite reads through a memory map (PRAGMA
-- mmap_size) instead of a read call a page: a fan-out's scan reads every
-- page once, and with 1 KB pages that was a pread per ~5 channels; mapped,
-- the CPU a channel of bench/fanout_cost.lua 100000 registry fell by 0.8
-- to 1.3 us on Lua 5.4 (bench/README.md). The price: the pages a process has
-- read count in its RSS (up to this much; 23 MB for 100,000 channels), and
-- a disk error while reading mapped pages is a SIGBUS, not an error
-- return (SQLite's documented caveat). `mmap_bytes = 0` turns it off.
M.MMAP_BYTES = 64 * 1024 * 1024

-- WAL bytes between automatic checkpoints. Each ends in fsyncs the
-- subscribe that crosses the mark waits for; 40 MB (SQLite's default is
-- 1,000 pages) keeps them off the per-subscribe cost. Set in pages of the
-- file's own size.
local WAL_BYTES = 40 * 1024 * 1024

-- The connection's pragmas; the checkpoint interval in the file's own pages.
local function pragmas(self, opts)
  for _, sql in ipairs({
    "PRAGMA busy_timeout = " .. math.floor(opts.busy_timeout or 5000),
    "PRAGMA page_size = " .. (opts.page_bytes or M.PAGE_SIZE),  -- before WAL mode writes a new file's header
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = " .. (opts.synchronous or "NORMAL"),
    "PRAGMA mmap_size = " .. string.format("%d", opts.mmap_bytes or M.MMAP_BYTES),
  }) do
    local ok, err = one(self, sql)
    if ok == nil then return nil, err end
  end
  local page, err = one(self, "PRAGMA page_size")
  if not page then return nil, err or "no page size" end
  return one(self, "PRAGMA wal_autocheckpoint = " .. math.floor(WAL_BYTES / page[1]))
end

-- Pragmas, then the schema when the file is new (user_version 0).
function M:_setup(opts)
  local ok, err = pragmas(self, opts)
  if ok == nil then return nil, err end
  ok, err = begin(self)
  if not ok then return nil, err end
  local row = one(self, "PRAGMA user_version")
  local version = row and tointeger(row[1])
  if version ~= 0 and version ~= M.SCHEMA_VERSION and not MIGRATE[version] then
    return finish(self, false, nil, "database schema version " .. tostring(version)
      .. " is not this library's (" .. M.SCHEMA_VERSION .. ")")
  end
  if version == M.SCHEMA_VERSION then return finish(self, true, true) end
  ok, err = self:_upgrade(version)
  if not ok then return finish(self, false, nil, err) end
  return finish(self, true, true)
end

local function apply(self, list)
  for _, sql in ipairs(list) do
    local ok, err = one(self, sql)
    if ok == nil then return nil, err end
  end
  return true
end

-- The schema for a new file (version 0), else each step from `version` up.
function M:_upgrade(version)
  local ok, err = true, nil
  if version == 0 then ok, err = apply(self, SCHEMA) end
  for v = version == 0 and M.SCHEMA_VERSION or version, M.SCHEMA_VERSION - 1 do
    if ok then ok, err = apply(self, MIGRATE[v]) end
  end
  if ok then ok, err = one(self, "PRAGMA user_version = " .. M.SCHEMA_VERSION) end
  if ok == nil then return nil, err end
  return true
end

local INSERT = "INSERT INTO channels (uri, user, device, os, tags, created_at, updated_at) "
  .. "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uri) DO NOTHING"

-- A new record, or false if `uri` is taken (nothing written), or nil, err.
-- One statement: outside a batch it is the whole transaction, and the
-- insert trigger writes the tag rows inside it. New or not is the count of
-- rows it changed (triggers' rows are not counted): RETURNING would cost a
-- temporary table per call (see TRIGGERS on why that hurts).
local function insert(self, f, now)
  local tags, os = f.tags or {}, f.os or "8.0"
  local st, err = run(self, INSERT, f.uri, f.user, f.device, os, store.encode(tags), now, now)
  if not st then return nil, err end
  if st:affected() == 0 then return false end
  return { uri = f.uri, user = f.user, device = f.device, os = os,
    tags = store.copy(tags), created_at = now, updated_at = now, counter = 0 }
end

local RENEW = "UPDATE channels SET uri = ?, user = coalesce(?, user), device = coalesce(?, device), "
  .. "os = coalesce(?, os), tags = coalesce(?, tags), updated_at = ? WHERE id = ? AND uri = ?"

-- Writes the subscribe fields (and a new uri, for a move) over row `row`:
-- the record, false if the row is gone, or nil, err. A phone that says
-- the same again writes nothing.
local function renew(self, row, f, now)
  local tags = f.tags and store.encode(f.tags)
  if row[COL.uri] == f.uri and (tags or row[COL.tags]) == row[COL.tags] and (f.user or row[COL.user]) == row[COL.user]
    and (f.device or row[COL.device]) == row[COL.device] and (f.os or row[COL.os]) == row[COL.os] then
    return to_record(row)
  end
  forget_id(self, row[COL.uri])  -- a move: that URI no longer names this id
  local ok, err = begin(self)  -- the write and the record read back, as one
  if not ok then return nil, err end
  local st
  st, err = run(self, RENEW, f.uri, f.user, f.device, f.os, tags, now, row[COL.id], row[COL.uri])
  if not st then return finish(self, false, nil, err) end
  if st:affected() == 0 then return finish(self, true, false) end  -- gone, or its id reused
  local new
  new, err = one(self, SELECT .. "WHERE id = ?", row[COL.id])  -- the record with its outcome
  if not new then return finish(self, new ~= nil, new, err) end
  return finish(self, true, to_record(new))
end

-- Subscribe without a device: an INSERT that does nothing when the URI is
-- taken (a new channel: that one statement), else read the row and write
-- only what changed. Each statement is atomic on its own; should another
-- connection delete the row between them, the subscribe starts again.
local function upsert_uri(self, f, now)
  for _ = 1, 3 do
    local rec, err = insert(self, f, now)
    if rec ~= false then return rec, err or true end
    local row
    row, err = one(self, SELECT .. "WHERE uri = ?", f.uri)
    if row == nil then return nil, err end
    if row then
      rec, err = renew(self, row, f, now)
      if rec ~= false then return rec, err or false end
    end
  end
  return nil, "channel " .. f.uri .. " was deleted by another writer three times during subscribe"
end

-- Subscribe with a device, inside one transaction: the device rule of
-- doc/push-kit.md ("Store interface") needs the device's holder first.
local function upsert_device(self, f, now)
  local row, err = one(self, SELECT .. "WHERE uri = ?", f.uri)
  if row == nil then return nil, err end
  local other
  if not row or row[COL.device] ~= f.device then
    other, err = one(self, SELECT .. "WHERE device = ?", f.device)
    if other == nil then return nil, err end
  end
  if other and (f.user or (row and row[COL.user]) or nil) ~= other[COL.user] then
    f, other = store.copy(f), nil  -- another user's device: no takeover; stored without it
    f.device = nil
  end
  local old = other and other[COL.uri] or nil
  if row then  -- the same channel again; a device it takes over leaves its old channel
    if other then
      forget_id(self, other[COL.uri])
      local ok, e = run(self, "DELETE FROM channels WHERE id = ?", other[COL.id])
      if not ok then return nil, e end
    end
    local rec, e = renew(self, row, f, now)
    return rec, e or false, old
  end
  if other then  -- the device's new channel: its record moves to the new URI
    local rec, e = renew(self, other, f, now)
    return rec, e or false, old
  end
  local rec, e = insert(self, f, now)
  return rec, e or true
end

--- The atomic upsert (doc/push-kit.md, "Store interface").
function M:subscribe(f, now)
  if not f.device then return upsert_uri(self, f, now) end
  local ok, err = begin(self)
  if not ok then return nil, err end
  local rec, a, b = upsert_device(self, f, now)
  return finish(self, rec and true, rec, a, b)
end

function M:get(uri)
  local row, err = one(self, SELECT .. "WHERE uri = ?", uri)
  if row == nil then return nil, err end
  return to_record(row or nil)
end

-- One statement: the delete trigger drops the tag rows with it.
function M:delete(uri)
  forget_id(self, uri)
  local st, err = run(self, "DELETE FROM channels WHERE uri = ?", uri)
  if not st then return nil, err end
  return st:affected() > 0
end

-- The writes for the fields in `changes`: an UPDATE of channels for its
-- columns and an upsert of channel_outcomes for the outcome's, each as
-- { sql, params..., n = count } with the row's key (`where`'s parameter)
-- still to add; SQL text from schema names only, cached by which fields
-- are present. `where` is ONE, MANY or BY_ID: the rows an UPDATE changes
-- and the rows an upsert reads (a join from json_each, so the key list is
-- read once in its order; `IN (SELECT ...)` would first copy it into a
-- temporary b-tree: 0.8-1.0k instructions a row more, callgrind). Raises on
-- an unknown key. No pairs/sort per call: record() flushes run through here.
local BIT = {}
for i = 1, #COLS do BIT[i] = 2 ^ i end

local function write_sql(self, changes, where, key)
  local cache = self.updates[where]
  if not cache then cache = {}; self.updates[where] = cache end
  local hit = cache[key]
  if hit then return hit[1], hit[2] end
  local sets, cols, marks, upd = {}, {}, {}, {}
  for i = 2, #COLS do
    local name = COLS[i]
    if changes[name] ~= nil and not OUTCOME[name] then sets[#sets + 1] = name .. " = ?" end
    if changes[name] ~= nil and OUTCOME[name] then
      cols[#cols + 1], marks[#marks + 1], upd[#upd + 1] = name, "?", name .. " = excluded." .. name
    end
  end
  hit = { #sets > 0 and "UPDATE channels SET " .. concat(sets, ", ") .. " WHERE " .. where.rows,
    #cols > 0 and "INSERT INTO channel_outcomes (channel, " .. concat(cols, ", ") .. ") SELECT channels.id, "
      .. concat(marks, ", ") .. " FROM " .. where.from
      .. " ON CONFLICT (channel) DO UPDATE SET " .. concat(upd, ", ") }
  cache[key] = hit
  return hit[1], hit[2]
end

local function write_parts(self, changes, tags, where)
  local main, out, key = { n = 0 }, { n = 0 }, 0
  for i = 2, #COLS do  -- COLS[1] is uri, the key
    local name = COLS[i]
    local v = changes[name]
    if v ~= nil then
      key = key + BIT[i]
      if name == "tags" then v = to_param(name, tags)
      elseif v == NULL then v = nil
      elseif type(v) ~= "string" then v = to_param(name, v) end
      local part = OUTCOME[name] and out or main
      part.n = part.n + 1
      part[part.n] = v
    end
  end
  local keys = 0
  for _ in pairs(changes) do keys = keys + 1 end
  if keys ~= main.n + out.n or changes.device ~= nil then store.check_changes(changes, "mpns.store.sqlite") end
  main.sql, out.sql = write_sql(self, changes, where, key)
  return main, out
end

-- Runs the parts that have SQL with `param` as the key, in one
-- transaction when both do; the rows changed, or nil, err.
local function run_parts(self, main, out, param)
  local both = main.sql and out.sql
  if both then
    local ok, err = begin(self)
    if not ok then return nil, err end
  end
  local changed = 0
  for _, part in ipairs { main, out } do
    if part.sql then
      part[part.n + 1] = param
      local st, err = run(self, part.sql, unpack(part, 1, part.n + 1))
      if not st then
        if both then return finish(self, false, nil, err) end
        return nil, err
      end
      changed = math.max(changed, st:affected())
    end
  end
  if both then return finish(self, true, changed) end
  return changed
end

local ONE = { rows = "uri = ?", from = "channels WHERE uri = ?" }

function M:update(uri, changes)
  local tags = changes.tags
  if tags == NULL then tags = {} end  -- the column is never NULL
  local main, out = write_parts(self, changes, tags, ONE)
  if not (main.sql or out.sql) then return self:get(uri) ~= nil end
  local changed, err = run_parts(self, main, out, uri)
  if not changed then return nil, err end
  return changed > 0
end

-- The URIs travel as one JSON array: one prepared statement whatever
-- their number, each found through the uri index.
local MANY = { rows = "uri IN (SELECT value FROM json_each(?))",
  from = "json_each(?) CROSS JOIN channels ON channels.uri = value WHERE true" }

-- A list of strings as a JSON array. The registry's URIs never hold a
-- quote or a backslash, so joining them is the JSON; any other list goes
-- through cjson (a control byte makes json_each fail: an error, never a
-- different list).
local function json_strings(list)
  local all = concat(list)
  if all:find('"', 1, true) or all:find("\\", 1, true) then return store.encode(list) end
  return '["' .. concat(list, '","') .. '"]'
end

local BY_ID = { rows = "id IN (SELECT value FROM json_each(?))",
  from = "json_each(?) CROSS JOIN channels ON channels.id = value WHERE true" }

--- One write for the same changes on many records (doc/push-kit.md): an
--- UPDATE, an upsert of their outcome rows, or both in one transaction;
--- rows found by id when scans read them all (see above), else by URI.
function M:update_many(uris, changes)
  local tags = changes.tags
  if tags == NULL then tags = {} end
  if #uris == 0 then return true end
  -- ids only inside a transaction (the registry's flush): its write lock
  -- keeps other writers out between the data_version check and the write
  local ids = self.depth > 0 and ids_of(self, uris) or nil
  local main, out = write_parts(self, changes, tags, ids and BY_ID or MANY)
  if not (main.sql or out.sql) then return true end
  local changed, err = run_parts(self, main, out, ids or json_strings(uris))
  if not changed then return nil, err end
  return true
end

function M:incr(uri, field, n)
  if TYPE[field] ~= "number" then
    error("mpns.store.sqlite: incr needs a number field, got '" .. tostring(field) .. "'", 2)
  end
  local sql = "UPDATE channels SET " .. field .. " = coalesce(" .. field .. ", 0) + ? WHERE uri = ?"
  if OUTCOME[field] then  -- the outcome row may not exist yet
    sql = "INSERT INTO channel_outcomes (channel, " .. field .. ") SELECT id, ? FROM channels WHERE uri = ?"
      .. " ON CONFLICT (channel) DO UPDATE SET " .. field .. " = coalesce(channel_outcomes." .. field
      .. ", 0) + excluded." .. field
  end
  local row, err = one(self, sql .. " RETURNING " .. field .. " AS v", n, uri)
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

function M:scan(filter, cursor, limit, fields)
  filter = store.check_filter(filter, "mpns.store.sqlite")
  local sql, fix, has_uri = select_of(self, fields)
  local clause, args = where(filter, cursor or 0)
  args[#args + 1] = limit
  -- before the read: a commit after it makes update_many drop these (inside
  -- a transaction nothing is remembered, and update_many checks anyway)
  if self.depth == 0 then check_ids(self) end
  local st, err = run(self, sql .. clause .. " ORDER BY id LIMIT ?", unpack(args, 1, #args))
  if not st then return nil, err end
  local out, n, id, ids = {}, 0, nil, id_table(self, has_uri)
  for rec in st:rows(true) do
    id, rec.id = rec.id, nil
    if fix then fix(rec) end
    n = n + 1
    out[n] = rec
    if ids then ids[rec.uri] = id end
  end
  if ids then remembered(self, n) end
  return out, (n == limit) and id or nil
end

function M:count(filter)
  filter = store.check_filter(filter, "mpns.store.sqlite")
  local clause, args = where(filter, nil)
  local row, err = one(self, "SELECT count(*) AS n" .. FROM .. clause, unpack(args, 1, #args))
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
