--- mpns.registry: where the channels live.
-- Subscriptions (de-duplicated by URI, replaced by device), lookups that page
-- through the store, a send's outcome turned into channel state, and the host
-- check that keeps a registration endpoint from becoming an open relay.
-- Errors: misuse (wrong types, unknown keys) raises; what a phone may send
-- wrong (a refused URI, a bad os) and a failing backend return nil, reason.
local store = require "mpns.store"
local setmetatable = setmetatable
local options = require "mpns.options"
local NULL = store.NULL

local M = {}
local Registry = {}
Registry.__index = Registry

local PREFIX = "mpns.registry: "
local DEFAULT_HOSTS = { "*.notify.live.net" }
local OS = { ["7.0"] = true, ["7.1"] = true, ["8.0"] = true }
local TILE_KINDS = { tile = true, flip_tile = true, iconic_tile = true, cycle_tile = true }
local LIMITS = { uri = 1024, text = 256, tag = 64, tags = 32 }

-- Options the registry keeps; any other key goes to the store's new().
local OPTIONS = { store = "string|table", allowed_hosts = "table", clock = "function",
  on_expired = "function", flush_every = "number", flush_interval = "number",
  page_size = "number" }

local function raise(msg, level) error(PREFIX .. msg, (level or 2) + 1) end

--- The channel record's metatable: `tostring(channel)` reads well in the REPL.
local Channel = {}
M.Channel = Channel

local function date(t) return os.date("!%Y-%m-%d %H:%M:%SZ", math.floor(t)) end

function Channel.__tostring(c)
  local p = { "mpns channel " .. c.uri, "os=" .. tostring(c.os) }
  if c.user then p[#p + 1] = string.format("user=%q", c.user) end
  if c.device then p[#p + 1] = string.format("device=%q", c.device) end
  if c.tags and #c.tags > 0 then p[#p + 1] = "tags=" .. table.concat(c.tags, ",") end
  p[#p + 1] = "counter=" .. tostring(c.counter or 0)
  if c.last_outcome then
    p[#p + 1] = "last=" .. c.last_outcome .. (c.last_status and "/" .. c.last_status or "")
      .. " at " .. date(c.last_at)
  end
  if c.pinned ~= nil then p[#p + 1] = "pinned=" .. tostring(c.pinned) end
  if c.app_running ~= nil then p[#p + 1] = "app_running=" .. tostring(c.app_running) end
  if c.retry_at then p[#p + 1] = "retry_at=" .. date(c.retry_at) end
  if c.tile then p[#p + 1] = "tile=" .. tostring(c.tile.kind) end
  if c.callback then p[#p + 1] = "callback=" .. tostring(c.callback.uri) end
  return table.concat(p, " ")
end

local function channel(rec) return rec and setmetatable(rec, Channel) end

------------------------------------------------------------------ host check

-- allowed_hosts entries: "host", "host:port", "host:*", each host a name,
-- an IPv4 address, "[IPv6]" or "*.suffix". Without a port an entry allows
-- only the scheme's own (80, 443): a phone must not aim the sender at
-- another service on an allowed host (Redis on 127.0.0.1:6379, say).
local DEFAULT_PORT = { http = 80, https = 443 }

local function bad_entry(h, why)
  raise("allowed_hosts: expected host, host:port, host:* or *.suffix[:port] entries, got "
    .. tostring(h) .. (why and " (" .. why .. ")" or ""), 5)
end

-- A DNS name or IPv4 address (letters, digits, '-', non-empty dot-separated labels).
local function is_name(h)
  return h:match("^[%w.-]+$") ~= nil and not h:find("..", 1, true)
    and h:sub(1, 1) ~= "." and h:sub(-1) ~= "."
end

-- "host[:port]" as the host (an "[IPv6]" literal keeps its brackets) and
-- the rest ("" or ":port"): one split for URIs and allowed_hosts entries.
local function split_host(authority)
  local host, rest = authority:match("^(%[[%x:.]+%])(.*)$")
  if host then return host, rest end
  return authority:match("^([^:]*)(.*)$")
end

-- ":port" as its number if it is one in 1..65535.
local function port_number(rest)
  local n = tonumber(rest:match("^:(%d%d?%d?%d?%d?)$"))
  return n and n >= 1 and n <= 65535 and n or nil
end

-- One entry as { host =, suffix =, port = number | "*" | nil } (lower case).
local function parse_entry(h)
  if type(h) ~= "string" then bad_entry(h) end
  local e = h:lower()
  local host, port = split_host(e)
  if port ~= "" then
    port = port == ":*" and "*" or port_number(port)
    if not port then bad_entry(h, "bad port") end
  else port = nil end
  local suffix = host:match("^%*(%..+)$")
  if host:find("*", 1, true) and not suffix then raise("allowed_hosts: '*' only as '*.suffix', got " .. h, 4) end
  local name = suffix and suffix:sub(2) or host
  if not is_name(name) and not (not suffix and host:match("^%[[%x:.]+%]$")) then
    bad_entry(h, "can never match a channel URI's host")
  end
  return { host = not suffix and host or nil, suffix = suffix, port = port, shown = e }
end

-- MPNS's hosts and the `allowed_hosts` entries, parsed.
local function compile_hosts(extra)
  local rules, shown = {}, {}
  for _, list in ipairs { DEFAULT_HOSTS, extra or {} } do
    for _, h in ipairs(list) do
      rules[#rules + 1] = parse_entry(h)
      shown[#shown + 1] = rules[#rules].shown
    end
  end
  return { rules = rules, shown = table.concat(shown, ", ") }
end

local function host_allowed(hosts, host, port, scheme)
  local default = DEFAULT_PORT[scheme]
  for _, r in ipairs(hosts.rules) do
    local name_ok = r.host == host or (r.suffix and #host > #r.suffix and host:sub(-#r.suffix) == r.suffix)
    local port_ok = r.port == "*" or port == (r.port or default)
    if name_ok and port_ok then return true end
  end
  return false
end

-- The host of a channel URI if it may be sent to, else nil, reason.
local function check_uri(hosts, uri)
  if uri == nil then return nil, "field 'uri' is required" end
  if type(uri) ~= "string" then return nil, "field 'uri' expected a string, got " .. type(uri) end
  if #uri > LIMITS.uri then return nil, "channel URI is over 1,024 bytes (" .. #uri .. ")" end
  if uri:find("[^\33-\126]") then
    return nil, "channel URI has a space, control or non-ASCII byte (at " .. uri:find("[^\33-\126]") .. ")"
  end
  local scheme, authority = uri:match("^(%a[%w+.-]*)://([^/?#]*)")
  scheme = scheme and scheme:lower()
  if scheme ~= "http" and scheme ~= "https" then
    return nil, "channel URI must start with http:// or https://"
  end
  if authority:find("@", 1, true) then return nil, "channel URI must not carry a user name or password" end
  local host, port = split_host(authority)
  local number = port_number(port)
  if port ~= "" and not number then return nil, "channel URI has a bad port '" .. port:sub(2) .. "'" end
  host = host:lower()
  if host == "" then return nil, "channel URI has no host" end
  if not is_name(host) and not host:match("^%[[%x:.]+%]$") then
    return nil, "channel URI host '" .. host .. "' is not a host name"
  end
  if not host_allowed(hosts, host, number or DEFAULT_PORT[scheme], scheme) then
    return nil, "channel URI host '" .. host .. (number and ":" .. number or "")
      .. "' is not allowed (allowed: " .. hosts.shown .. ")"
  end
  return host
end

--- nil, reason unless `uri` may be subscribed (scheme, host, length).
---@param uri string
---@return string|nil host
---@return string|nil reason
function Registry:check_uri(uri)
  local host, err = check_uri(self.hosts, uri)
  if not host then return nil, PREFIX .. err end
  return host
end

--- The same check without a registry, for a service that sends to a URI
--- it does not keep (examples/openresty/push.lua): a function uri -> host,
--- or nil, reason. `allowed_hosts` as `open`'s option.
---@param allowed_hosts table|nil
---@return fun(uri: string): string|nil, string|nil
function M.host_check(allowed_hosts)
  if allowed_hosts ~= nil and type(allowed_hosts) ~= "table" then
    raise("host_check expects a list of allowed_hosts entries")
  end
  local hosts = compile_hosts(allowed_hosts)
  return function(uri) return Registry.check_uri({ hosts = hosts }, uri) end
end

------------------------------------------------------------------ open / close

local recorder  -- with the outcomes, below

-- The registry's own options (types through mpns.options; counts are
-- positive integers); the rest are the store's.
local function split_options(opts)
  local mine, store_opts = {}, {}
  for k, v in pairs(opts) do
    if OPTIONS[k] then mine[k] = v else store_opts[k] = v end
  end
  options.check("mpns.registry", mine, OPTIONS, 2)
  for k, v in pairs(mine) do
    if OPTIONS[k] == "number" and (v < 1 or v % 1 ~= 0) and k ~= "flush_interval" then
      raise("option '" .. k .. "' expected a positive integer, got " .. v, 3)
    end
  end
  return store_opts
end

--- Opens a registry on a store: `store = "sqlite"` (the default, with
--- `path`), `"memory"`, another store's name, or a store object. Options
--- the registry does not know go to the named store's `new`.
---@param opts table
---@return table|nil registry
---@return string|nil err when the store cannot be opened
function M.open(opts)
  if type(opts) ~= "table" then raise("open expects a table of options") end
  local store_opts = split_options(opts)
  if type(opts.store) == "table" and next(store_opts) then
    raise("unknown option '" .. tostring(next(store_opts)) .. "' (store options go to a named store)")
  end
  local hosts = compile_hosts(opts.allowed_hosts)
  local st, err = store.open(opts.store or "sqlite", store_opts)
  if not st then return nil, err end
  local reg = setmetatable({
    store = st, owns_store = type(opts.store) ~= "table", hosts = hosts,
    clock = opts.clock or os.time, on_expired = opts.on_expired,
    flush_every = opts.flush_every or 500, flush_interval = opts.flush_interval or 1,
    page_size = opts.page_size or 500, pending = { n = 0, uris = {}, changes = {} },
  }, Registry)
  reg.record_sent = recorder(reg)
  return reg
end

--- Writes what `record` buffered, then closes the store if the registry
--- opened it (a store object passed to `open` stays the caller's). Idempotent.
--- When that write fails it returns nil, err and stays open (call it again).
function Registry:close()
  if not self.store then return true end
  local ok, err = self:flush()
  if not ok then return nil, err end
  if self.owns_store then self.store:close() end
  self.store = nil
  return true
end

local function live(self)
  if not self.store then raise("registry is closed", 3) end
  return self.store
end

------------------------------------------------------------------ subscribe

local SUBSCRIBE = { uri = true, user = true, device = true, os = true, tags = true }

-- nil, reason unless `v` is nil or text of 1..max bytes without control bytes.
local function check_text(name, v, max)
  if v == nil then return true end
  if type(v) ~= "string" then return nil, "field '" .. name .. "' expected a string, got " .. type(v) end
  if #v == 0 or #v > max then
    return nil, "field '" .. name .. "' expected 1 to " .. max .. " bytes, got " .. #v
  end
  if v:find("[%z\1-\31\127]") then return nil, "field '" .. name .. "' has a control character" end
  return true
end

-- The tag list, de-duplicated and sorted, or nil, reason.
local function check_tags(tags)
  if tags == nil then return nil end
  if type(tags) ~= "table" then return nil, "field 'tags' expected a list of strings, got " .. type(tags) end
  local set, out, n = {}, {}, 0
  for k in pairs(tags) do
    n = n + 1
    if type(k) ~= "number" or k < 1 or k % 1 ~= 0 or k > #tags then
      return nil, "field 'tags' expected a list of strings (key " .. tostring(k) .. ")"
    end
  end
  if n > LIMITS.tags then return nil, "field 'tags' has " .. n .. " tags, at most " .. LIMITS.tags end
  for i = 1, n do
    local ok, err = check_text("tags[" .. i .. "]", tags[i], LIMITS.tag)
    if not ok then return nil, err end
    if not set[tags[i]] then set[tags[i]] = true; out[#out + 1] = tags[i] end
  end
  table.sort(out)
  return out
end

-- The fields for store:subscribe, or nil, reason. Unknown keys raise.
local function subscribe_fields(self, f, level)
  if type(f) ~= "table" then raise("subscribe expects a table of fields", level) end
  for k in pairs(f) do
    if not SUBSCRIBE[k] then raise("subscribe: unknown field '" .. tostring(k) .. "'", level) end
  end
  local ok, err = check_uri(self.hosts, f.uri)
  if ok and f.os ~= nil and not OS[f.os] then
    ok, err = nil, string.format("field 'os' expected \"7.0\", \"7.1\" or \"8.0\", got %s",
      type(f.os) == "string" and string.format("%q", f.os) or tostring(f.os))
  end
  if ok then ok, err = check_text("user", f.user, LIMITS.text) end
  if ok then ok, err = check_text("device", f.device, LIMITS.text) end
  local tags
  if ok then tags, err = check_tags(f.tags); ok = tags or not err end
  if not ok then return nil, PREFIX .. err end
  return { uri = f.uri, user = f.user, device = f.device, os = f.os, tags = tags }
end

--- Subscribes a channel: an idempotent upsert keyed by `uri`. A new `uri`
--- with a known `device` replaces that device's old channel (keeping its state).
---@param fields {uri: string, user?: string, device?: string, os?: string, tags?: string[]}
--- On failure: nil, reason, and "refused" when the input was (a phone's
--- fault: a service answers 400) rather than the backend (503).
---@return table|nil channel the record (nil, reason: refused input or backend failure)
---@return boolean|string is_new true for a new channel; else false (or the reason)
---@return string|nil replaced the URI this device had before, when it changed ("refused" on failure)
function Registry:subscribe(fields)
  local st = live(self)
  local f, err = subscribe_fields(self, fields, 2)
  if not f then return nil, err, "refused" end
  local ok, ferr = self:flush()  -- no write runs ahead of outcomes that failed to store
  if not ok then return nil, ferr end
  local rec, is_new, old = st:subscribe(f, self.clock())
  if not rec then return nil, is_new end
  return channel(rec), is_new, old
end

--- Subscribes many channels in one store batch (one transaction in SQLite).
--- Refused entries are skipped and listed; the others are stored.
---@param list table[] subscribe field tables
---@return integer|nil added how many were new (nil, err: backend failure, nothing stored)
---@return table refused `{ index =, reason = }` for each refused entry
function Registry:subscribe_many(list)
  local st = live(self)
  if type(list) ~= "table" then raise("subscribe_many expects a list of field tables") end
  local todo, refused = {}, {}
  for i = 1, #list do
    local f, err = subscribe_fields(self, list[i], 2)
    if f then todo[#todo + 1] = f else refused[#refused + 1] = { index = i, reason = err } end
  end
  local flushed, ferr = self:flush()
  if not flushed then return nil, ferr end
  local now, added = self.clock(), 0
  local ok, err = pcall(st.batch, st, function()
    for i = 1, #todo do
      local rec, is_new = st:subscribe(todo[i], now)
      if not rec then error(is_new, 0) end
      if is_new then added = added + 1 end
    end
  end)
  if not ok then return nil, PREFIX .. tostring(err) end
  return added, refused
end

--- Forgets a channel. True if it was there.
function Registry:unsubscribe(uri)
  local st = live(self)
  if type(uri) ~= "string" then raise("unsubscribe expects a channel URI string") end
  local ok, err = self:flush()
  if not ok then return nil, err end
  return st:delete(uri)
end

------------------------------------------------------------------ lookups

--- The channel record for `uri`, or nil.
function Registry:get(uri)
  local st = live(self)
  if type(uri) ~= "string" then raise("get expects a channel URI string") end
  local ok, err = self:flush()
  if not ok then return nil, err end
  local rec
  rec, err = st:get(uri)
  if rec == nil and err then return nil, err end
  return channel(rec)
end

-- `fields` of a filter as the list a store's scan takes: `uri` first, names checked.
local function field_list(v, level)
  if type(v) ~= "table" then raise("filter 'fields' expected a list of record fields", level + 1) end
  local out = { "uri" }
  for _, name in ipairs(v) do
    if not store.TYPE[name] then raise("filter 'fields' has an unknown field '" .. tostring(name) .. "'", level + 1) end
    if name ~= "uri" then out[#out + 1] = name end
  end
  return out
end

-- A registry filter as a store filter: due now unless `all`; `page` and
-- `fields` apart.
local function store_filter(self, filter, level)
  if filter ~= nil and type(filter) ~= "table" then raise("filter must be a table", level) end
  local f, page, all, fields = {}, self.page_size, false, nil
  for k, v in pairs(filter or {}) do
    if k == "all" then all = v
    elseif k == "page" then
      if type(v) ~= "number" or v < 1 or v % 1 ~= 0 then raise("filter 'page' expected a positive integer", level) end
      page = v
    elseif k == "fields" then fields = field_list(v, level)
    else f[k] = v end
  end
  if not all and f.due == nil then f.due = self.clock() end
  store.check_filter(f, PREFIX:sub(1, -3))
  return f, page, fields
end

--- Iterates over the channels matching `filter` (`user`, `tag`, `os`,
--- `device`), a page at a time. Channels whose `retry_at` is still ahead are
--- left out unless `all = true` (or `due = time` sets the time). `page` sets
--- how many records are read at once (default 500); `fields = { "os" }`
--- reads only those fields (and `uri`): a fan-out that needs no more skips
--- reading and decoding the rest (a store may still give every field). A
--- backend failure raises.
---@param filter table|nil
---@return function iterator yielding channel records
function Registry:channels(filter)
  local st = live(self)
  local f, page, fields = store_filter(self, filter, 3)
  local buf, i, cursor, more = {}, 1, nil, true
  -- Reads pages until one has a record (a store may give an empty page
  -- before the end); false at the end. Apart from the iterator, whose
  -- every call would otherwise start a loop LuaJIT tries to trace.
  local function fill()
    while buf[i] == nil do
      if not more then return false end
      local ok, err = self:flush()
      if not ok then raise(tostring(err), 3) end
      local nxt
      buf, nxt = st:scan(f, cursor, page, fields)  -- nxt: the next cursor, or the error
      if not buf then raise(tostring(nxt), 3) end
      i, cursor, more = 1, nxt, nxt ~= nil
    end
    return true
  end
  return function()
    if buf[i] == nil and not fill() then return nil end
    i = i + 1
    return setmetatable(buf[i - 1], Channel)
  end
end

--- How many channels `channels(filter)` would give.
function Registry:count(filter)
  local st = live(self)
  local f = store_filter(self, filter, 3)
  local ok, err = self:flush()
  if not ok then return nil, err end
  return st:count(f)
end

------------------------------------------------------------------ outcomes

--- The recipe's test (seed 003): the app is running / the tile is pinned
-- only when the answer is Connected + Active + Received.
---@param res table|nil
function M.delivered(res)
  return res ~= nil and res.device_connection_status == "Connected"
    and res.subscription_status == "Active" and res.notification_status == "Received"
end

-- What an answer says of what the message needed: the tile pinned (tile
-- kinds) or the app running (raw). Delivered is yes, Suppressed is no;
-- anything else tells nothing.
local function shown(res)
  if M.delivered(res) then return true end
  if res.notification_status == "Suppressed" then return false end
  return nil
end

-- The fields a send's result (or error) sets on its channel.
local function new_changes(res, kind, tile, now)
  local retry = res.retry_after and now + res.retry_after or NULL
  if res.outcome == nil then  -- no answer: the three statuses stay the last answer's
    return { last_at = now, retry_at = retry, last_outcome = res.kind, last_status = NULL }
  end
  -- one constructor: the table is sized once
  local c = { last_at = now, retry_at = retry, last_outcome = res.outcome, last_status = res.status or NULL,
    notification_status = res.notification_status or NULL,
    device_status = res.device_connection_status or NULL,
    subscription_status = res.subscription_status or NULL, tile = tile }
  local field = TILE_KINDS[kind] and "pinned" or kind == "raw" and "app_running"
  if field then
    local v = shown(res)
    if v ~= nil then c[field] = v end
  end
  return c
end

-- Raises unless `tile` is a tile kind and that constructor's fields
-- (checked by building it: a table may change between two calls).
local function check_tile(tile, fn)
  if type(tile) ~= "table" or not TILE_KINDS[tile.kind] then
    raise(fn .. " expects a tile: { kind = \"tile\" | \"flip_tile\" | \"iconic_tile\" | \"cycle_tile\", ...fields }", 3)
  end
  local fields = store.copy(tile)
  fields.kind = nil
  require("mpns")[tile.kind](fields)  -- raises, naming the field, on a bad tile
end

-- Forgets a channel MPNS said is gone, and tells on_expired; nil, err when
-- the store fails (on_expired only once the record is really gone).
local function expire(self, uri)
  local ok, err = self:flush()
  if not ok then return nil, err end
  local rec
  rec, err = self.store:get(uri)
  if rec == nil and err ~= nil then return nil, PREFIX .. tostring(err) end
  if not rec then return false end
  ok, err = self.store:delete(uri)
  if ok == nil then return nil, PREFIX .. tostring(err) end
  rec = channel(rec)
  if self.on_expired then self.on_expired(rec) end
  return rec
end

-- A delete_channel answer: forgets the channel (see expire).
local function record_expiry(self, uri)
  local rec, err = expire(self, uri)
  if rec == nil then return nil, err end
  return {}, rec or nil
end

-- Appends one outcome to a pending buffer.
local function append(p, uri, c, now)
  local n = p.n + 1
  if n == 1 then p.since = now end
  p.n, p.uris[n], p.changes[n] = n, uri, c
end

-- Makes the registry's `reg:record_sent(uri, res_or_err, kind, tile)`:
-- record for the push patterns, without record's checks (`uri` a string,
-- `res_or_err` a sender's done(res, err) argument, `kind` a message kind
-- string or nil, `tile` checked fields); on a fan-out those checks cost
-- about 1,200 instructions a channel on Lua 5.4. It raises only when the
-- registry is closed (or a store or on_expired raises). An outcome whose
-- inputs equal the last one's (a fan-out's usual answer) gets the last
-- one's changes table: a send then builds nothing, and flush finds the run
-- of equal changes by identity (the tables are never changed once made).
-- The last inputs are upvalues, cheaper to read than a table's fields. A
-- channel recorded twice is listed twice in the buffer: flush writes in
-- order, so the later fields win, as a merge would.
function recorder(self)
  local l_now, l_outcome, l_status, l_notification, l_device, l_subscription
  local l_kind, l_tile, l_failure, l_retry_after, l_changes
  return function(_, uri, res, kind, tile)
    if not self.store then raise("registry is closed", 2) end
    if res.delete_channel then return record_expiry(self, uri) end
    local now, outcome = self.clock(), res.outcome
    if tile and outcome == nil then tile = nil end  -- kept only once MPNS answered
    if not (l_changes and now == l_now and outcome == l_outcome and kind == l_kind and tile == l_tile
      and res.status == l_status and res.notification_status == l_notification
      and res.device_connection_status == l_device and res.subscription_status == l_subscription
      and res.kind == l_failure and res.retry_after == l_retry_after) then
      l_now, l_outcome, l_status, l_notification = now, outcome, res.status, res.notification_status
      l_device, l_subscription, l_kind, l_tile = res.device_connection_status, res.subscription_status, kind, tile
      l_failure, l_retry_after = res.kind, res.retry_after
      l_changes = new_changes(res, kind, tile, now)
    end
    local p = self.pending
    append(p, uri, l_changes, now)
    if p.n >= self.flush_every or now - p.since >= self.flush_interval then
      local ok, err = self:flush()
      if not ok then return nil, err end
    end
    return l_changes
  end
end

--- Applies a send's outcome to its channel. `res_or_err` is a send's result
--- (`outcome`, `status`, the three statuses, `retry_after`, `delete_channel`)
--- or its error (`kind`, `retry_after`); `msg` (a message or its kind) tells
--- whether the answer speaks of the tile being pinned or the app running.
--- `delete_channel` forgets the channel at once and calls `on_expired`;
--- every other outcome is buffered and written `flush_every` at a time.
--- `tile` (optional): the tile fields `msg` was built from, kept as the
--- channel's last tile (as `set_tile` does) when MPNS answered; buffered
--- with the outcome, so a tile fan-out costs no write of its own per channel.
---@param uri string
---@param res_or_err table
---@param msg any|nil a message (its `kind` is read) or a kind string
---@param tile table|nil { kind = "tile", ...fields }
---@return table|nil changes the fields set, shared with equal outcomes: read it, never change it (nil, err: a flush failed)
---@return table|nil expired the forgotten channel, for `delete_channel`
function Registry:record(uri, res_or_err, msg, tile)
  live(self)
  if type(uri) ~= "string" then raise("record expects a channel URI string") end
  if type(res_or_err) ~= "table" or (res_or_err.outcome == nil and res_or_err.kind == nil) then
    raise("record expects a send's result or error table")
  end
  if tile ~= nil then check_tile(tile, "record") end
  return self:record_sent(uri, res_or_err, type(msg) == "string" and msg or msg ~= nil and msg.kind or nil, tile)
end

local function slice(t, i, j)
  local out = {}
  for k = i, j do out[k - i + 1] = t[k] end
  return out
end

-- Every field record may buffer (a tile compares by identity: a pattern
-- that sends one tile to all passes one table, and its writes group).
local OUTCOME_FIELDS = { "last_at", "retry_at", "last_outcome", "last_status", "notification_status",
  "device_status", "subscription_status", "pinned", "app_running", "tile" }

-- True if two outcomes' changes set the same fields to the same values.
local function same_changes(a, b)
  for i = 1, #OUTCOME_FIELDS do
    local k = OUTCOME_FIELDS[i]
    if a[k] ~= b[k] then return false end
  end
  return true
end

--- Writes the outcomes `record` buffered, in one store batch. Every lookup
--- and write of the registry flushes first, so reads see every outcome.
---@return boolean|nil ok
---@return string|nil err the backend's error (the outcomes stay buffered for the next flush)
function Registry:flush()
  local p = self.pending
  if p.n == 0 then return true end
  -- A fresh buffer first: the batch may yield (cosockets), and what other
  -- light threads record meanwhile must be neither lost nor written twice.
  self.pending = { n = 0, uris = {}, changes = {} }
  local st = self.store
  local ok, err = pcall(st.batch, st, function()
    local i, uris, changes = 1, p.uris, p.changes
    while i <= p.n do  -- a run of equal changes (a fan-out's usual answer) is one update_many
      local c, j = changes[i], i
      while j < p.n do
        local d = changes[j + 1]
        if d ~= c and not same_changes(c, d) then break end
        j = j + 1
      end
      local done, e
      if j == i then done, e = st:update(uris[i], c)
      else  -- the whole buffer one run (a fan-out's usual flush): its own list, no copy
        done, e = st:update_many((i == 1 and j == p.n) and uris or slice(uris, i, j), c)
      end
      if done == nil then error(e, 0) end
      i = j + 1
    end
  end)
  if ok then return true end
  local later = self.pending     -- kept for the next flush, newer changes on top
  self.pending = p
  for i = 1, later.n do append(p, later.uris[i], later.changes[i], later.since) end
  return nil, PREFIX .. tostring(err)
end

------------------------------------------------------------------ pattern state

local function check_uri_arg(uri, fn)
  if type(uri) ~= "string" then raise(fn .. " expects a channel URI string", 3) end
end

--- Adds `n` (default 1) to the channel's counter, atomically.
---@return integer|nil counter the new value (nil: no such channel)
function Registry:bump_counter(uri, n)
  local st = live(self)
  check_uri_arg(uri, "bump_counter")
  if n ~= nil and (type(n) ~= "number" or n % 1 ~= 0) then raise("bump_counter: n must be an integer") end
  -- No flush first: the buffer never holds the counter, so the two writes
  -- commute (a counter fan-out would otherwise write twice per channel).
  return st:incr(uri, "counter", n or 1)
end

--- Sets the channel's counter back to 0. True if the channel exists.
function Registry:reset_counter(uri)
  local st = live(self)
  check_uri_arg(uri, "reset_counter")
  local ok, err = self:flush()
  if not ok then return nil, err end
  return st:update(uri, { counter = 0 })
end

--- Keeps the last tile sent: `{ kind = "tile", title = ..., count = ... }`,
--- a tile kind and that constructor's fields (checked by building it).
---@return boolean|nil stored true if the channel exists
function Registry:set_tile(uri, tile)
  local st = live(self)
  check_uri_arg(uri, "set_tile")
  check_tile(tile, "set_tile")
  local ok, err = self:flush()
  if not ok then return nil, err end
  return st:update(uri, { tile = tile })
end

--- The last tile kept for the channel, or nil.
function Registry:get_tile(uri)
  local rec = self:get(uri)
  return rec and rec.tile
end

--- Records an MPNS callback registration (`callback = { uri, at }`);
--- nil `callback_uri` clears it. True if the channel exists.
function Registry:set_callback(uri, callback_uri)
  local st = live(self)
  check_uri_arg(uri, "set_callback")
  local bad = callback_uri ~= nil and require("mpns.sender").callback_uri_error(callback_uri)
  if bad then raise("set_callback: " .. bad) end
  local ok, err = self:flush()
  if not ok then return nil, err end
  return st:update(uri, { callback = callback_uri and { uri = callback_uri, at = self.clock() } or NULL })
end

return M
