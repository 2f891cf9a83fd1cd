-- The protocol's response table, decided from the channel's state. The first
-- rule whose test holds answers; `act` says what happens to the notification.
local state = require "mpns_emulator.state"
local record = require "mpns_emulator.record"

local _M = {}

-- The device setting that must be on for each kind to be shown.
local SHOWN_BY = { tile = "tile_pinned", raw = "app_running", toast = "toasts" }
-- Device states in which MPNS drops everything (412). Disconnected is the
-- older documents' name for InActive.
local OFFLINE = { InActive = true, Disconnected = true }

-- c = { id, rec (channel record), kind, endpoint ("http" or "https") }
local RULES = {
  { http = 404, ns = "Dropped", ss = "Expired",
    test = function(c) return c.rec.subscription == "Expired" end },
  { http = 412, ns = "Dropped", -- the table gives no subscription status
    test = function(c) return OFFLINE[c.rec.device] end },
  { http = 406, ns = "Dropped", ss = "Active", -- only the unauthenticated port
    test = function(c)
      return c.endpoint == "http" and state.count_push(c.id) > state.daily_limit(c.rec)
    end },
  { http = 200, ns = "Suppressed", ss = "Active",
    test = function(c) return not c.rec[SHOWN_BY[c.kind]] end },
  { http = 200, ns = "Dropped", ss = "Active", -- the device side dropped it
    test = function(c) return c.rec.drop end },
  { http = 200, ns = "QueueFull", ss = "Active", -- a queue with no room at all
    test = function(c) return state.queue_limit(c.rec) == 0 end },
  { http = 200, ns = "Received", ss = "Active", act = "queue",
    test = function(c) return c.rec.device == "TempDisconnected" end },
  { http = 200, ns = "Received", ss = "Active", act = "receive",
    test = function() return true end },
}

local QUEUE_FULL = { http = 200, ns = "QueueFull", ss = "Active" }

-- Decides the answer and stores the notification (record.compact)
-- when the phone gets or queues it. Returns the rule. No closures here: this
-- runs per request and LuaJIT does not compile closure creation.
function _M.decide(c, rec, body)
  for i = 1, #RULES do
    local r = RULES[i]
    if r.test(c) then
      if r.act == "receive" then
        state.receive(c.id, record.compact(c, rec, body))
      elseif r.act == "queue" and not state.enqueue(c.id, record.compact(c, rec, body),
          state.queue_limit(c.rec)) then
        return QUEUE_FULL
      end
      return r
    end
  end
end

return _M
