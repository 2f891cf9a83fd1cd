-- ShellTileSchedule: PUT /control/channels/<id> with schedule = { uri,
-- interval = "hourly" | seconds, recurrence = "once" | "interval",
-- max_count } makes the phone poll uri and show what it gets as its primary
-- tile's BackgroundImage, under the download rules of phone.lua (bar
-- allowed_domains: the app chose the URI itself). The first poll is at once,
-- the next ones every interval divided by config.clock_speed; max_count
-- (0 or absent: no limit) ends an "interval" schedule. null stops it.
local config = require "mpns_emulator.config"
local state = require "mpns_emulator.state"
local phone = require "mpns_emulator.phone"
local fetch = require "mpns_emulator.fetch"

local ngx = ngx
local _M = {}

local KEYS = { uri = true, interval = true, recurrence = true, max_count = true }
local RECURRENCE = { once = true, interval = true }
local started = 0 -- tells this schedule's timers from a replaced one's

-- Seconds of an interval setting, or nil.
local function seconds(v)
  if v == nil or v == "hourly" then return 3600 end
  if type(v) == "number" and v > 0 then return v end
  return nil
end

---Checks a schedule setting; returns the record to store or nil, error.
---@param v any the decoded JSON value
---@return table|nil
---@return string|nil
function _M.check(v)
  if type(v) ~= "table" then return nil, "schedule must be an object { uri, interval, recurrence, max_count }" end
  for k in pairs(v) do
    if not KEYS[k] then return nil, "unknown key schedule." .. tostring(k) end
  end
  local u = type(v.uri) == "string" and fetch.parse(v.uri)
  if not u or not u.addr then
    return nil, "schedule.uri must be an http(s) URL on loopback here (127.0.0.0/8, ::1, localhost)"
  end
  local secs = seconds(v.interval)
  if not secs then return nil, "schedule.interval must be \"hourly\" or a number of seconds" end
  local rec = v.recurrence or "interval"
  if not RECURRENCE[rec] then return nil, "schedule.recurrence must be \"once\" or \"interval\"" end
  local max = v.max_count or 0
  if type(max) ~= "number" or max < 0 or max % 1 ~= 0 then
    return nil, "schedule.max_count must be a count (0: no limit)"
  end
  started = started + 1
  return { uri = v.uri, interval = v.interval or "hourly", seconds = secs, recurrence = rec,
           max_count = max, token = ngx.now() .. ":" .. started }
end

-- One poll; schedules the next while the channel keeps this schedule.
local function tick(premature, id, token, n)
  if premature then return end
  local ch = state.find(id)
  local s = ch and ch.schedule
  if not s or s.token ~= token then return end -- stopped, replaced or forgotten
  phone.enqueue { id = id, schedule = true, field = "BackgroundImage", url = s.uri, poll = n }
  if s.recurrence == "once" or (s.max_count > 0 and n >= s.max_count) then return end
  local ok, err = ngx.timer.at(s.seconds / config.clock_speed, tick, id, token, n + 1)
  if not ok then ngx.log(ngx.ERR, "mpns emulator: schedule timer: ", err) end
end

---Starts polling for a schedule check() made (after it was saved).
---@param id string
---@param s table
function _M.start(id, s)
  local ok, err = ngx.timer.at(0, tick, id, s.token, 1)
  if not ok then ngx.log(ngx.ERR, "mpns emulator: schedule timer: ", err) end
end

return _M
