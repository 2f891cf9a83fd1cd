-- Injected faults: fail_next = { count = N, status = S | mode = "close" |
-- mode = "hang", ms = M | delay_ms = M }, consumed one per request.
local state = require "mpns_emulator.state"

local ngx = ngx
local _M = {}

-- Uses up one of the channel's pending faults.
local function consume(id, rec)
  local f = rec.fail_next
  local new = state.copy(rec)
  if f.count > 1 then
    new.fail_next = state.copy(f)
    new.fail_next.count = f.count - 1
  else
    new.fail_next = nil
  end
  state.save(id, new)
end

-- What each fault does to request c; answer(c, status, ns, ds, ss, reason)
-- is push.answer. Returns true when it has answered (or refused to).
local ACTIONS = {
  status = function(f, c, answer)
    answer(c, f.status, nil, nil, nil, "injected fault: " .. f.status)
    return true
  end,
  close = function(_, c, answer)
    answer(c, 444)
    return true
  end,
  hang = function(f, c, answer)
    ngx.sleep(f.ms / 1000)
    answer(c, 444)
    return true
  end,
  delay = function(f)
    ngx.sleep(f.delay_ms / 1000)
    return false
  end,
}

local function kind_of(f)
  if f.status then return "status" end
  if f.delay_ms then return "delay" end
  return f.mode
end

-- Applies the next fault of c's channel, if any (444: close unanswered).
-- Returns true when the request is done.
function _M.apply(c, answer)
  local f = c.rec.fail_next
  if not f then return false end
  consume(c.id, c.rec)
  return ACTIONS[kind_of(f)](f, c, answer)
end

-- Checks a fail_next table from the control API; returns it or nil, error.
function _M.check(f)
  if type(f) ~= "table" then return nil, "fail_next must be an object" end
  local known = { count = true, status = true, mode = true, ms = true, delay_ms = true }
  for k in pairs(f) do
    if not known[k] then return nil, "unknown key fail_next." .. tostring(k) end
  end
  local function int(k, lo, hi)
    local v = f[k]
    return type(v) == "number" and v % 1 == 0 and v >= lo and v <= hi
  end
  f.count = f.count or 1
  if not int("count", 1, 1e9) then return nil, "fail_next.count must be a positive integer" end
  local n = (f.status and 1 or 0) + (f.mode and 1 or 0) + (f.delay_ms and 1 or 0)
  if n ~= 1 then return nil, "fail_next needs exactly one of status, mode, delay_ms" end
  if f.status and not int("status", 200, 599) then
    return nil, "fail_next.status must be an HTTP status 200..599"
  end
  if f.delay_ms and not int("delay_ms", 0, 600000) then
    return nil, "fail_next.delay_ms must be 0..600000"
  end
  if f.mode == "hang" then
    if not int("ms", 0, 600000) then return nil, "fail_next.ms must be 0..600000 for hang" end
  elseif f.mode ~= nil and f.mode ~= "close" then
    return nil, "fail_next.mode must be close or hang"
  elseif f.ms then
    return nil, "fail_next.ms belongs to mode hang"
  end
  return f
end

return _M
