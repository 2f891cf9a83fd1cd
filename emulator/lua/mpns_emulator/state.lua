-- Channel state in lua_shared_dict, so it survives between requests and is
-- visible to the control API. Keys in mpns_state:
--   c:<id>        the channel record (JSON)      q:<id>   queued notifications
--   d:<day>:<id>  pushes today (throttling)      cb:<id>  registered callback
--   cl:<id>       callback deliveries            f:<id>   the phone's downloads
-- mpns_notes holds what the phone received: the list n:<id> (see receive).
-- mpns_images holds downloaded images, once each, by their MD5: i:<md5>.
local cjson = require "cjson.safe"
local config = require "mpns_emulator.config"
local stats = require "mpns_emulator.stats"
local cache = require "mpns_emulator.cache"

local ngx = ngx
local shared = ngx.shared
local floor = math.floor

local _M = {}

local DEFAULTS = {
  device = "Connected", subscription = "Active",
  app_running = true, tile_pinned = true, toasts = true, drop = false,
}
_M.DEFAULTS = DEFAULTS
local DEFAULT_JSON = cjson.encode(DEFAULTS)

-- Decoded records by their JSON text: most channels share a few texts, so the
-- hot path rarely decodes. The tables are shared, so they are read-only.
local decoded = cache.new(1024, cjson.decode)

-- Sets a state key. A full dict makes room by evicting the least recently
-- used keys: a forgotten channel would come back healthy and unthrottled,
-- so every eviction is counted (stats "state_evicted"; see --state-size).
local function set_state(key, value)
  local ok, err, forcible = shared.mpns_state:set(key, value)
  if forcible then stats.event("state_evicted") end
  return ok, err
end

-- The channel's record, or nil when the emulator has not seen it.
function _M.find(id)
  local s = shared.mpns_state:get("c:" .. id)
  return s and decoded:get(s)
end

-- The channel's record, created as a healthy device on first sight.
function _M.load(id)
  local key = "c:" .. id
  local s = shared.mpns_state:get(key)
  if not s then
    set_state(key, DEFAULT_JSON)
    s = DEFAULT_JSON
  end
  return decoded:get(s)
end

-- A writable copy of a record.
function _M.copy(rec)
  local t = {}
  for k, v in pairs(rec) do t[k] = v end
  return t
end

function _M.save(id, rec)
  local ok, err = set_state("c:" .. id, cjson.encode(rec))
  if not ok then ngx.log(ngx.ERR, "mpns emulator: cannot save channel ", id, ": ", err) end
end

function _M.queue_limit(rec) return rec.queue_limit or config.queue_limit end
function _M.daily_limit(rec) return rec.daily_limit or config.daily_limit end

-- "d:<day>:", remade only when the UTC day changes.
local day, day_prefix = -1, ""
local function day_key(id)
  local today = floor(ngx.time() / 86400)
  if today ~= day then day, day_prefix = today, "d:" .. today .. ":" end
  return day_prefix .. id
end

-- Counts one push today; returns the count.
function _M.count_push(id)
  local n, _, forcible = shared.mpns_state:incr(day_key(id), 1, 0, 2 * 86400)
  if forcible then stats.event("state_evicted") end
  return n or 0
end

function _M.pushes_today(id) return shared.mpns_state:get(day_key(id)) or 0 end

-- Lists never evict: rpush fails with "no memory" when the dict is full.
-- A set does evict the least recently used keys (a quiet channel's list, say),
-- so setting and deleting a page-sized filler frees a whole page, which the
-- push can use whatever its size. Counted (stats "notes_evicted"; see
-- --notes-size): an evicted list reads as a phone that received nothing.
local FILLER = string.rep(" ", 4000)

local function rpush_evicting(dict, key, value)
  local n, err = dict:rpush(key, value)
  if n or err ~= "no memory" then return n, err end
  local ok, serr, forcible = dict:set("evict:", FILLER)
  dict:delete("evict:")
  if forcible then stats.event("notes_evicted") end
  if not ok then return nil, serr end
  return dict:rpush(key, value)
end

local function lost(what, err)
  ngx.log(ngx.WARN, "mpns emulator: ", what, " not kept: ", err)
  stats.event("lost")
end

-- Appends a received notification (record.compact) to the phone's list
-- n:<id>, dropping the oldest beyond config.keep. One key per channel keeps
-- the dict's tree as small as the number of channels: with a key per kept
-- notification, walking the tree's cold nodes was the hot path's largest cost.
function _M.receive(id, json)
  local notes, key = shared.mpns_notes, "n:" .. id
  local n, err = rpush_evicting(notes, key, json)
  if not n then
    lost("notification", err)
  elseif n > config.keep then
    notes:lpop(key)
  end
end

-- Queues a notification for a TempDisconnected device; false when full.
function _M.enqueue(id, json, limit)
  local dict, key = shared.mpns_state, "q:" .. id
  if (dict:llen(key) or 0) >= limit then return false end
  dict:rpush(key, json)
  return true
end

-- The device reconnected: it receives what was queued, in order. Returns
-- the stored records it got.
function _M.deliver_queue(id)
  local dict, key, got = shared.mpns_state, "q:" .. id, {}
  while true do
    local json = dict:lpop(key)
    if not json then return got end
    _M.receive(id, json)
    got[#got + 1] = json
  end
end

-- Every item of a shared-dict list, oldest first. The dict has no way to
-- read a list in place: each item is popped and pushed back.
local function list(dict, key)
  local out = {}
  local n = dict:llen(key) or 0
  for _ = 1, n do
    local json = dict:lpop(key)
    if not json then break end
    out[#out + 1] = json
  end
  for i = 1, #out do
    local ok, err = rpush_evicting(dict, key, out[i])
    if not ok then lost("list item", err) end
  end
  return out
end

_M.list = list
function _M.received(id) return list(shared.mpns_notes, "n:" .. id) end
function _M.queued(id) return list(shared.mpns_state, "q:" .. id) end
function _M.callback_log(id) return list(shared.mpns_state, "cl:" .. id) end

function _M.log_callback(id, entry)
  shared.mpns_state:rpush("cl:" .. id, cjson.encode(entry))
end

---The phone's downloads (JSON texts), oldest first.
---@param id string
---@return string[]
function _M.fetch_log(id) return list(shared.mpns_state, "f:" .. id) end

---Appends one download's outcome (phone.lua), keeping the last config.keep.
---@param id string
---@param entry table
function _M.log_fetch(id, entry)
  local dict, key = shared.mpns_state, "f:" .. id
  local n, err = rpush_evicting(dict, key, cjson.encode(entry))
  if not n then return lost("download outcome", err) end
  if n > config.keep then dict:lpop(key) end
end

---Keeps an image once however many phones downloaded it; returns its key.
-- A fan-out brings the same bytes again and again: the last image's key is
-- remembered, so those are compared (LuaJIT interns strings, so the compare
-- happened once, as a memcmp, when the body was made), not hashed with MD5
-- and offered to the dict once more.
local last_image, last_md5
---@param bytes string
---@return string md5
function _M.store_image(bytes)
  if bytes == last_image then return last_md5 end
  local md5 = ngx.md5(bytes)
  local ok, err = shared.mpns_images:add("i:" .. md5, bytes)
  if not ok and err ~= "exists" then ngx.log(ngx.WARN, "mpns emulator: image not kept: ", err) end
  last_image, last_md5 = bytes, md5
  return md5
end

---An image stored by store_image, or nil.
---@param md5 string
---@return string|nil
function _M.image(md5) return shared.mpns_images:get("i:" .. md5) end

function _M.callback(id)
  local s = shared.mpns_state:get("cb:" .. id)
  return s and cjson.decode(s)
end

function _M.set_callback(id, cb)
  if cb then
    set_state("cb:" .. id, cjson.encode(cb))
  else
    shared.mpns_state:delete("cb:" .. id)
  end
end

function _M.forget(id)
  local dict = shared.mpns_state
  for _, k in ipairs { "c:", "q:", "cb:", "cl:", "f:" } do dict:delete(k .. id) end
  dict:delete(day_key(id))
  shared.mpns_notes:delete("n:" .. id)
end

-- Every channel id the emulator knows.
function _M.ids()
  local out = {}
  for _, k in ipairs(shared.mpns_state:get_keys(0)) do
    local id = k:match("^c:(.*)")
    if id then out[#out + 1] = id end
  end
  table.sort(out)
  return out
end

function _M.reset()
  stats.reset()
  last_image = nil
  for _, name in ipairs { "mpns_state", "mpns_notes", "mpns_stats", "mpns_images" } do
    shared[name]:flush_all()
    shared[name]:flush_expired()
  end
end

return _M
