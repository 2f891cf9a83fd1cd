-- The control API on the plain port, JSON in and out:
--   PUT/GET/DELETE /control/channels/<id>, GET /control/channels,
--   POST /control/reset, GET /control/stats, GET /control/config,
--   POST/GET /control/sinks/<name> (a callback listener for tests).
local cjson = require "cjson.safe"
local config = require "mpns_emulator.config"
local state = require "mpns_emulator.state"
local faults = require "mpns_emulator.faults"
local callback = require "mpns_emulator.callback"
local stats = require "mpns_emulator.stats"
local sink = require "mpns_emulator.sink"
local record = require "mpns_emulator.record"
local validate = require "mpns_emulator.validate"
local phone = require "mpns_emulator.phone"
local schedule = require "mpns_emulator.schedule"
local fetch = require "mpns_emulator.fetch"

local ngx = ngx
local _M = {}

local function reply(status, body)
  ngx.status = status
  ngx.header.content_type = "application/json"
  if type(body) == "table" then body = cjson.encode(body) end
  ngx.say(body or "{}")
  return ngx.exit(ngx.OK)
end

local function fail(status, msg) return reply(status, { error = msg }) end

-- Setters for PUT, one per key: each returns the stored value or nil, error.
local function enum(...)
  local names, ok = { ... }, {}
  for _, v in ipairs(names) do ok[v] = true end
  return function(v, k)
    if ok[v] then return v end
    return nil, k .. " must be one of " .. table.concat(names, ", ")
  end
end
local function boolean(v, k)
  if type(v) == "boolean" then return v end
  return nil, k .. " must be true or false"
end
-- Returned by a setter for null: the key goes back to its default.
local CLEAR = {}

local function limit(v, k) -- null means the emulator's default
  if v == cjson.null then return CLEAR end
  if type(v) == "number" and v >= 0 and v % 1 == 0 then return v end
  return nil, k .. " must be a count (or null for the default)"
end
local function fault(v)
  if v == cjson.null or v == false then return CLEAR end
  return faults.check(v)
end

-- The hosts the phone may download tile images from (BindToShellTile's
-- list); loopback names only, as the emulator never calls out.
local function domains(v, k)
  if v == cjson.null or (type(v) == "table" and next(v) == nil) then return CLEAR end
  if type(v) ~= "table" then return nil, k .. " must be a list of host names" end
  local out = {}
  for i, d in ipairs(v) do
    if type(d) ~= "string" or not fetch.loopback(d) then
      return nil, k .. " must name loopback hosts here (127.0.0.0/8, localhost, ::1), got "
        .. cjson.encode(d)
    end
    out[i] = d:lower():gsub("^%[(.*)%]$", "%1")
  end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  if n ~= #v then return nil, k .. " must be a list" end
  return out
end
local function schedule_setting(v)
  if v == cjson.null or v == false then return CLEAR end
  return schedule.check(v)
end

local SETTERS = {
  device = enum("Connected", "TempDisconnected", "Disconnected", "InActive"),
  subscription = enum("Active", "Expired"),
  app_running = boolean, tile_pinned = boolean, toasts = boolean, drop = boolean,
  queue_limit = limit, daily_limit = limit, fail_next = fault,
  allowed_domains = domains, schedule = schedule_setting,
}

-- Stored records as JSON objects.
local function expand(list)
  for i, stored in ipairs(list) do list[i] = record.expand(stored) end
  return list
end

-- Puts each download's outcome next to its notification: "images" maps the
-- element (BackgroundImage ...) to the last download it caused.
local function with_images(notes, fetches)
  local by_seq = {}
  for _, json in ipairs(fetches) do
    local f = cjson.decode(json)
    if f and f.seq then
      by_seq[f.seq] = by_seq[f.seq] or {}
      by_seq[f.seq][f.field] = f
    end
  end
  if next(by_seq) == nil then return notes end
  for i, json in ipairs(notes) do
    local images = by_seq[tonumber(json:match('"seq":(%d+)'))]
    if images then notes[i] = json:sub(1, -2) .. ',"images":' .. cjson.encode(images) .. "}" end
  end
  return notes
end

-- The channel as GET shows it; arrays are spliced in as stored JSON text so
-- an empty one is still [].
local function show(id, rec)
  local out = state.copy(rec)
  out.id = id
  out.queue_limit, out.daily_limit = state.queue_limit(rec), state.daily_limit(rec)
  out.pushes_today = state.pushes_today(id)
  out.callback = state.callback(id)
  out.schedule = rec.schedule and state.copy(rec.schedule)
  if out.schedule then out.schedule.token = nil end
  local json = cjson.encode(out)
  local fetches = state.fetch_log(id)
  local lists = { notifications = with_images(expand(state.received(id)), fetches),
                  queued = expand(state.queued(id)), callbacks = state.callback_log(id),
                  downloads = fetches }
  local parts = { json:sub(1, -2) }
  for _, name in ipairs { "notifications", "queued", "callbacks", "downloads" } do
    parts[#parts + 1] = ',"' .. name .. '":[' .. table.concat(lists[name], ",") .. "]"
  end
  parts[#parts + 1] = "}"
  return table.concat(parts)
end

-- What follows a change of device state: reconnection delivers the queue,
-- becoming InActive fires the callback.
local function transition(id, before, after)
  if after == before then return end
  if after == "Connected" then phone.delivered(id, state.deliver_queue(id)) end
  if after == "InActive" then callback.fire(id) end
end

local function put_channel(id)
  ngx.req.read_body()
  local body = cjson.decode(ngx.req.get_body_data() or "")
  if type(body) ~= "table" then return fail(400, "body must be a JSON object") end
  local old = state.find(id) or state.DEFAULTS
  local rec = state.copy(old)
  for k, v in pairs(body) do
    local set = SETTERS[k]
    if not set then return fail(400, "unknown key " .. tostring(k)) end
    local value, err = set(v, k)
    if value == nil then return fail(400, err) end
    if value == CLEAR then value = nil end
    rec[k] = value
  end
  state.save(id, rec)
  if body.schedule ~= nil and rec.schedule then schedule.start(id, rec.schedule) end
  transition(id, old.device, rec.device)
  return reply(200, show(id, rec))
end

local function get_channel(id)
  local rec = state.find(id)
  if not rec then return fail(404, "no channel " .. id) end
  return reply(200, show(id, rec))
end

local function delete_channel(id)
  if not state.find(id) then return fail(404, "no channel " .. id) end
  state.forget(id)
  return reply(200, { deleted = id })
end

local function list_channels()
  local ids = state.ids()
  return reply(200, "[" .. (#ids > 0 and cjson.encode(ids):sub(2, -2) or "") .. "]")
end

local function reset()
  state.reset()
  validate.forget()
  return reply(200, { reset = true })
end

local function show_config()
  local out = {}
  for k, v in pairs(config) do if type(v) ~= "function" then out[k] = v end end
  return reply(200, out)
end

-- The counters, and the phone's downloads waiting and in flight.
local function show_stats()
  local out = stats.snapshot()
  local waiting, running = phone.pending()
  if waiting > 0 then out.downloads_waiting = waiting end
  if running > 0 then out.downloads_running = running end
  return reply(200, out)
end

-- path pattern -> { METHOD = handler }
local ROUTES = {
  { "^/control/channels/([%w%-_.~+=]+)$",
    { PUT = put_channel, GET = get_channel, DELETE = delete_channel } },
  { "^/control/channels$", { GET = list_channels } },
  { "^/control/reset$", { POST = reset } },
  { "^/control/stats$", { GET = show_stats } },
  { "^/control/config$", { GET = show_config } },
  { "^/control/sinks/([%w%-_.]+)$", { POST = sink.record, GET = sink.show } },
}

function _M.handle()
  local uri, method = ngx.var.uri, ngx.req.get_method()
  for _, route in ipairs(ROUTES) do
    local arg = uri:match(route[1])
    if arg then
      local h = route[2][method]
      if not h then return fail(405, method .. " not allowed on " .. uri) end
      return h(arg, reply)
    end
  end
  return fail(404, "no such control endpoint: " .. uri)
end

return _M
