--- mpns.patterns: the Windows Phone push recipe's five server-side patterns
-- (seed 003), each a small object over a registry and a sender:
--   local p = mpns.patterns.one_time.new{ registry = reg, sender = s }
--   print(p:send({ mpns.toast{ text1 = "Hi" } }, { user = "alice" }))
-- This file holds what they share: option checks, the per-call run (send,
-- record, count, on_result), per-OS message caches and the summary.
local mpns = require "mpns"
local options = require "mpns.options"

local type, error, pairs, ipairs, tostring, setmetatable, require, pcall =
  type, error, pairs, ipairs, tostring, setmetatable, require, pcall
local format, concat, sort = string.format, table.concat, table.sort

local P = {}

local NAMES = { one_time = true, counter = true, ask_to_pin = true, custom_image = true,
  schedule = true }

-- patterns.counter etc. load on first use.
setmetatable(P, { __index = function(t, k)
  if NAMES[k] then
    local mod = require("mpns.patterns." .. k)
    rawset(t, k, mod)
    return mod
  end
end })

P.BATCH = 1000   -- channels queued before the sender is drained (bounds memory)

-- ---- options ------------------------------------------------------------------

local COMMON = { registry = "table", sender = "table", on_result = "function", batch = "number" }

--- Checks a pattern's options (the common ones plus `known`, name -> type);
-- raises naming an unknown key, a wrong type or a missing registry/sender.
---@param who string e.g. "mpns.patterns.counter.new"
---@param opts table
---@param known table|nil
---@return table opts
function P.check_options(who, opts, known)
  if type(opts) ~= "table" then error(who .. ": options must be a table", 3) end
  options.check(who, opts, P.merge(COMMON, known), 2)
  if not opts.registry then error(who .. ": option 'registry' is required", 3) end
  if not opts.sender then error(who .. ": option 'sender' is required", 3) end
  local b = opts.batch
  if b and (b < 1 or b % 1 ~= 0) then error(who .. ": option 'batch' must be an integer >= 1", 3) end
  return opts
end

--- The pattern object every pattern's new() returns: its options as fields.
function P.object(mt, opts)
  local self = {}
  for k, v in pairs(opts) do self[k] = v end
  self.batch = self.batch or P.BATCH
  return setmetatable(self, mt)
end

-- ---- results ------------------------------------------------------------------

--- The recipe's test: Connected + Active + Received (the registry's rule).
P.delivered = require("mpns.registry").delivered

--- An HTTP answer saying the notification was not shown, where a
-- follow-up may help: not for a gone channel (404) or one the protocol says
-- to leave alone for now (retry_after: throttled, inactive, queue full, 503).
---@param res table|nil
function P.not_shown(res)
  return res ~= nil and not res.delete_channel and not res.retry_after and not P.delivered(res)
end

--- A message of `spec.kind` ("tile" unless given) from stored tile fields.
---@param spec table { kind =, title =, count =, ... }
function P.tile_message(spec)
  local fields, kind = {}, spec.kind or "tile"
  for k, v in pairs(spec) do if k ~= "kind" then fields[k] = v end end
  local make = mpns[kind]
  if not (type(kind) == "string" and kind:find("tile$") and make) then
    error("mpns.patterns: stored tile has an unknown kind '" .. tostring(kind) .. "'", 2)
  end
  return make(fields)
end

--- The fields of `base` overlaid with `changes` (a fresh table).
function P.merge(base, changes)
  local t = {}
  for k, v in pairs(base or {}) do t[k] = v end
  for k, v in pairs(changes or {}) do t[k] = v end
  return t
end

-- ---- images the phone fetches (custom image, schedule) ------------------------

--- The channel's key in image URLs: the last segment of its URI (MPNS
-- channel ids are URL-safe), percent-encoded to be sure.
---@param uri string
function P.channel_key(uri)
  local last = uri:match("([^/]+)/*$") or uri
  return (last:gsub("[^%w%-%._~]", function(c) return format("%%%02X", c:byte()) end))
end

--- `template` with {id}, {user} and {device} filled in for the channel.
function P.fill_url(template, ch)
  return (template:gsub("{(%a+)}", function(k)
    if k == "id" then return P.channel_key(ch.uri) end
    if k == "user" or k == "device" then return P.channel_key(ch[k] or "") end
  end))
end

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

--- PNG bytes for an image URL the phone fetches: the pattern's render(key)
-- if given, else mpns.image.tile(self.tile or { title = self.title }) when
-- the renderer is built, else the file self.file. Returns bytes, or nil and
-- why. (The option is `tile`, not `image`: `image` is the patterns' method.)
function P.image_bytes(self, key)
  if self.render then return self.render(key) end
  local ok, image = pcall(require, "mpns.image")
  if ok and type(image) == "table" and image.tile then
    local done, png = pcall(image.tile, self.tile or { title = self.title })
    if done then return png end
    return nil, tostring(png)  -- a bad tile spec is the caller's to see, not hidden by `file`
  end
  if not self.file then return nil, "no renderer (mpns.image) and no file option" end
  return read_file(self.file)
end

-- ---- the summary ----------------------------------------------------------

local summary_mt = {}

-- "one_time.send: 3 channels, 6 sent (received 5, suppressed 1), 1 skipped"
summary_mt.__tostring = function(s)
  local names, parts = {}, {}
  for k in pairs(s.counts) do names[#names + 1] = k end
  sort(names)
  for _, k in ipairs(names) do parts[#parts + 1] = k .. " " .. s.counts[k] end
  local out = format("%s: %d channel%s, %d sent", s.name, s.channels,
    s.channels == 1 and "" or "s", s.sent)
  if #parts > 0 then out = out .. " (" .. concat(parts, ", ") .. ")" end
  if s.skipped > 0 then
    local why = {}
    for r, n in pairs(s.reasons) do why[#why + 1] = format("%d: %s", n, r) end
    sort(why)
    out = out .. format(", %d skipped (%s)", s.skipped, concat(why, "; "))
  end
  if s.unrecorded > 0 then
    out = out .. format(", %d not recorded (%s)", s.unrecorded, s.record_errors[1])
  end
  if s.flush_error then out = out .. ", outcomes not yet written (" .. s.flush_error .. ")" end
  return out
end

local function new_summary(name)
  return setmetatable({ name = name, channels = 0, sent = 0, skipped = 0, counts = {},
    reasons = {}, unrecorded = 0, record_errors = {} }, summary_mt)
end

-- ---- one call of a pattern: sends, records, counts ---------------------------

local Run = {}
Run.__index = Run

--- A run of `self` (a pattern) named `name`; run:finish() returns its summary.
function P.run(self, name)
  local reg = self.registry
  return setmetatable({ pattern = self, registry = reg, sender = self.sender,
    -- mpns.registry's record without the argument checks (the run's own are good)
    record = reg.record_sent or reg.record,
    on_result = self.on_result, summary = new_summary(name), dones = {},
    by_os = setmetatable({}, { __mode = "k" }), tiles = setmetatable({}, { __mode = "k" }) }, Run)
end

local RECORD_ERRORS = 10  -- record_errors keeps the first few; unrecorded counts all

-- Counts an outcome the registry could not store (its error kept).
local function unrecorded(s, err)
  s.unrecorded = s.unrecorded + 1
  if #s.record_errors < RECORD_ERRORS then s.record_errors[#s.record_errors + 1] = tostring(err) end
end

-- Why a sender's done(res, err) gave no result or error table.
local function bad_outcome(r)
  return "mpns.patterns: the sender gave no result or error table (" .. tostring(r) .. ")"
end

local NO_CTX = "mpns.patterns: the sender called done without send's ctx (done(res, err, ctx))"

--- The run's done for sends of `kind` (one per run and kind): records the
-- outcome of a send to `ch` (`tile`: the fields a tile message was built
-- from, to keep), counts it, calls on_result, then after(res, err) if
-- given. A registry that fails (returns nil, err or raises) is counted in
-- summary.unrecorded: the send still counts and on_result still runs. The
-- sender calls it as done(res, err, ctx) with send's ctx (doc/push-kit.md,
-- "Sender interface"): a plain send's ctx is its channel, so a send makes
-- no closure; one with `after` or `tile` goes through done_job.
local function done_for(run, kind)
  local done = run.dones[kind]
  if done then return done end
  local s, record, registry, on_result = run.summary, run.record, run.registry, run.on_result
  done = function(res, err, ch, after, tile)
    if ch == nil then error(NO_CTX, 0) end
    local r = res or err
    if type(r) ~= "table" or (r.outcome == nil and r.kind == nil) then unrecorded(s, bad_outcome(r))
    else
      local ok, changes, rerr = pcall(record, registry, ch.uri, r, kind, tile)
      if not ok then unrecorded(s, changes)
      elseif changes == nil then unrecorded(s, rerr) end
    end
    local k = res and res.outcome or (err and err.kind) or "unknown"
    s.counts[k] = (s.counts[k] or 0) + 1
    if on_result then on_result(ch, res, err) end
    if after then after(res, err) end
  end
  run.dones[kind] = done
  return done
end

-- The done of a send with after or tile: its ctx is { run, ch, kind, after, tile }.
local function done_job(res, err, job)
  if job == nil then error(NO_CTX, 0) end
  return done_for(job[1], job[3])(res, err, job[2], job[4], job[5])
end

-- Sends msg (of `kind`; `done`: done_for(run, kind), or nil) to the channel.
local function queue(run, ch, msg, kind, done, after, tile)
  local s = run.summary
  s.sent = s.sent + 1
  if after == nil and tile == nil then
    run.sender:send(msg, ch.uri, done or done_for(run, kind), ch)
  else
    run.sender:send(msg, ch.uri, done_job, { run, ch, kind, after, tile })
  end
end

--- Sends msg to the channel and records the outcome in the registry
-- (with `tile`, the fields a tile msg was built from, to keep), counts it,
-- calls on_result, then after(res, err) if given.
function Run:send(ch, msg, after, tile)
  queue(self, ch, msg, msg.kind, nil, after, tile)
end

--- Counts a registry write that failed (summary.unrecorded, record_errors).
function Run:unrecorded(err) unrecorded(self.summary, err) end

--- Counts a channel that gets nothing, with why.
function Run:skip(ch, reason)
  local s = self.summary
  s.skipped = s.skipped + 1
  s.reasons[reason] = (s.reasons[reason] or 0) + 1
  if self.on_result then self.on_result(ch, nil, { kind = "skipped", message = reason, uri = ch.uri }) end
end

-- msg's form for `os`: { msg =, kind =, done = } or { why = } when that OS
-- cannot show it.
local function os_form(run, msg, os)
  local m, why = msg:for_os(os)
  if not m then return { why = why or ("nothing for OS " .. tostring(os)) } end
  return { msg = m, kind = m.kind, done = done_for(run, m.kind) }
end

--- Sends the channel its OS's form of msg (made once per OS and run), or
-- counts it skipped.
function Run:send_for_os(ch, msg, after, tile)
  local os = ch.os or msg.os
  local cache = self.by_os[msg]
  if not cache then cache = {}; self.by_os[msg] = cache end
  local form = cache[os]
  if form == nil then form = os_form(self, msg, os); cache[os] = form end
  if not form.msg then return self:skip(ch, form.why) end
  queue(self, ch, form.msg, form.kind, form.done, after, tile)
end

--- fn(ch) for every channel matching filter; every `batch` channels the
-- sender runs until half a batch is pending, so memory stays bounded and
-- the pipe stays full whatever the fan-out. `fields` (optional): the only
-- record fields fn reads (registry:channels reads no others).
function Run:each(filter, fn, fields)
  if fields and (filter == nil or type(filter) == "table") then
    local f = { fields = fields }
    for k, v in pairs(filter or {}) do if k ~= "fields" then f[k] = v end end
    filter = f
  end
  local n, batch = 0, self.pattern.batch
  for ch in self.registry:channels(filter) do
    n = n + 1
    fn(ch)
    if n % batch == 0 then self.sender:wait(math.floor(batch / 2)) end
  end
  self.summary.channels = self.summary.channels + n
end

--- Runs fn(ch) for one channel (a record, or a URI looked up in the registry).
function Run:one(channel, fn)
  local ch = channel
  if type(ch) == "string" then
    ch = self.registry:get(channel)
    if not ch then error("mpns.patterns: no channel " .. channel .. " in the registry", 3) end
  end
  self.summary.channels = self.summary.channels + 1
  fn(ch)
end

--- Sends a tile built from `spec`; once MPNS answered (a result, not an
-- error) it is kept as the channel's last tile, with the outcome: what
-- ask-to-pin re-sends so the tile does not change for nothing. A spec
-- table sent to many channels is built once per run (its per-OS forms too).
function Run:send_tile(ch, spec, after)
  local t = self.tiles[spec]
  if not t then
    local kept = P.merge(spec, { kind = spec.kind or "tile" })
    t = { msg = P.tile_message(kept), kept = kept }
    self.tiles[spec] = t
  end
  self:send_for_os(ch, t.msg, after, t.kept)
end

--- Waits for every outcome and writes what the registry buffered; returns
-- the summary. A flush that fails is in summary.flush_error (the registry
-- keeps those outcomes for its next flush).
function Run:finish()
  self.sender:wait()
  local ok, err = self.registry:flush()
  if not ok then self.summary.flush_error = tostring(err) end
  return self.summary
end

-- ---- callback registration (authenticated services) ---------------------------

--- Registers MPNS's callback for a registered channel and records it in the
-- registry (`callback = { uri =, at = }`) when MPNS answered 200. Waits for
-- the answer (the sender's wait: never blocks nginx). Returns res, err.
---@param registry table
---@param sender table
---@param uri string a channel the registry holds
---@param callback_uri string
---@param data string|nil at most 1 KB
function P.register_callback(registry, sender, uri, callback_uri, data)
  if not registry:get(uri) then error("mpns.patterns: no channel " .. tostring(uri) .. " in the registry", 2) end
  local res, err
  sender:register_callback(uri, callback_uri, data, function(r, e) res, err = r, e end)
  sender:wait()
  if res and res.ok then registry:set_callback(uri, callback_uri)
  elseif res and res.delete_channel then registry:record(uri, res) end
  return res, err
end

P.summary_mt = summary_mt
return P
