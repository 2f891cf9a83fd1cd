-- Channel state in lua_shared_dict, so it survives between requests and is
-- visible to the control API. Keys in mpns_state:
--   c:<id>        the channel record (JSON)      q:<id>   queued notifications
--   d:<day>:<id>  pushes today (throttling)      cb:<id>  registered callback
--   cl:<id>       callback deliveries
-- mpns_notes holds what the phone received: n:<id> counts them, n:<id>:<slot>
-- holds the last config.keep (see receive).
local cjson = require "cjson.safe"
local config = require "mpns_emulator.config"
local stats = require "mpns_emulator.stats"

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
local decoded, ndecoded = {}, 0

local function decode(s)
  local rec = decoded[s]
  if rec then return rec end
  rec = cjson.decode(s)
  if ndecoded >= 1024 then decoded, ndecoded = {}, 0 end
  decoded[s], ndecoded = rec, ndecoded + 1
  return rec
end

-- The channel's record, or nil when the emulator has not seen it.
function _M.find(id)
  local s = shared.mpns_state:get("c:" .. id)
  return s and decode(s)
end

-- The channel's record, created as a healthy device on first sight.
function _M.load(id)
  local key = "c:" .. id
  local s = shared.mpns_state:get(key)
  if not s then
    shared.mpns_state:set(key, DEFAULT_JSON)
    s = DEFAULT_JSON
  end
  return decode(s)
end

-- A writable copy of a record.
function _M.copy(rec)
  local t = {}
  for k, v in pairs(rec) do t[k] = v end
  return t
end

function _M.save(id, rec)
  local ok, err = shared.mpns_state:set("c:" .. id, cjson.encode(rec))
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
  return shared.mpns_state:incr(day_key(id), 1, 0, 2 * 86400) or 0
end

function _M.pushes_today(id) return shared.mpns_state:get(day_key(id)) or 0 end

-- Appends a received notification (record.compact) to the phone's list: a ring of
-- config.keep slots, n:<id>:<slot>, behind the counter n:<id>. Two FFI calls
-- and no string comes back into Lua (a list's lpop would copy the oldest out).
function _M.receive(id, json)
  local notes = shared.mpns_notes
  local key = "n:" .. id
  local seq = notes:incr(key, 1, 0)
  local ok, err = notes:set(key .. ":" .. seq % config.keep, json)
  if not ok then
    ngx.log(ngx.WARN, "mpns emulator: notification not kept: ", err)
    stats.event("lost")
  end
end

-- The notifications kept (record.compact texts), oldest first.
function _M.received(id)
  local notes = shared.mpns_notes
  local key = "n:" .. id
  local seq = notes:get(key) or 0
  local out = {}
  for i = math.max(1, seq - config.keep + 1), seq do
    local json = notes:get(key .. ":" .. i % config.keep)
    if json then out[#out + 1] = json end -- evicted under memory pressure
  end
  return out
end

local function forget_received(id)
  local notes = shared.mpns_notes
  local key = "n:" .. id
  if not notes:get(key) then return end
  for slot = 0, config.keep - 1 do notes:delete(key .. ":" .. slot) end
  notes:delete(key)
end

-- Queues a notification for a TempDisconnected device; false when full.
function _M.enqueue(id, json, limit)
  local dict, key = shared.mpns_state, "q:" .. id
  if (dict:llen(key) or 0) >= limit then return false end
  dict:rpush(key, json)
  return true
end

-- The device reconnected: it receives what was queued, in order.
function _M.deliver_queue(id)
  local dict, key = shared.mpns_state, "q:" .. id
  while true do
    local json = dict:lpop(key)
    if not json then return end
    _M.receive(id, json)
  end
end

-- Every item of a shared-dict list, oldest first.
local function list(dict, key)
  local out = {}
  local n = dict:llen(key) or 0
  for _ = 1, n do
    local json = dict:lpop(key)
    if not json then break end
    out[#out + 1] = json
  end
  for i = 1, #out do dict:rpush(key, out[i]) end
  return out
end

function _M.queued(id) return list(shared.mpns_state, "q:" .. id) end
function _M.callback_log(id) return list(shared.mpns_state, "cl:" .. id) end

function _M.log_callback(id, entry)
  shared.mpns_state:rpush("cl:" .. id, cjson.encode(entry))
end

function _M.callback(id)
  local s = shared.mpns_state:get("cb:" .. id)
  return s and cjson.decode(s)
end

function _M.set_callback(id, cb)
  if cb then
    shared.mpns_state:set("cb:" .. id, cjson.encode(cb))
  else
    shared.mpns_state:delete("cb:" .. id)
  end
end

function _M.forget(id)
  local dict = shared.mpns_state
  for _, k in ipairs { "c:", "q:", "cb:", "cl:" } do dict:delete(k .. id) end
  dict:delete(day_key(id))
  forget_received(id)
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
  for _, name in ipairs { "mpns_state", "mpns_notes", "mpns_payloads", "mpns_stats" } do
    shared[name]:flush_all()
    shared[name]:flush_expired()
  end
end

return _M
