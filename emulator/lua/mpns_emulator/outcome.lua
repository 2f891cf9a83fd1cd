-- The protocol's response table, decided from the channel's state.
local state = require "mpns_emulator.state"
local record = require "mpns_emulator.record"
local phone = require "mpns_emulator.phone"
local bytes = require "mpns_emulator.bytes"

local _M = {}

-- The device setting that must be on for each kind to be shown.
local SHOWN_BY = { tile = "tile_pinned", raw = "app_running", toast = "toasts" }
-- Device states in which MPNS drops everything (412). Disconnected is the
-- older documents' name for InActive.
local OFFLINE = { InActive = true, Disconnected = true }

-- The answers: HTTP status, X-NotificationStatus and X-SubscriptionStatus
-- (the device status is the channel's own).
local EXPIRED = { http = 404, ns = "Dropped", ss = "Expired" }
local GONE = { http = 412, ns = "Dropped" } -- the table gives no subscription status
local THROTTLED = { http = 406, ns = "Dropped", ss = "Active" }
local SUPPRESSED = { http = 200, ns = "Suppressed", ss = "Active" }
local DROPPED = { http = 200, ns = "Dropped", ss = "Active" } -- by the device side
local QUEUE_FULL = { http = 200, ns = "QueueFull", ss = "Active" }
local RECEIVED = { http = 200, ns = "Received", ss = "Active" }

-- Decides the answer for request c = { id, rec (channel record), kind,
-- endpoint ("http" or "https") } with its body (n bytes in view p, see
-- bytes.lua) and stores the notification (record.compact) when the phone
-- gets or queues it. The table's rows in order, the first that holds
-- answering: a chain of tests rather than a loop over closures, so LuaJIT
-- compiles it as one straight trace.
function _M.decide(c, rec, p, n)
  local ch = c.rec
  if ch.subscription == "Expired" then return EXPIRED end
  if OFFLINE[ch.device] then return GONE end
  -- Only the unauthenticated port is throttled.
  if c.endpoint == "http" and state.count_push(c.id) > state.daily_limit(ch) then
    return THROTTLED
  end
  if not ch[SHOWN_BY[c.kind]] then return SUPPRESSED end
  if ch.drop then return DROPPED end
  local limit = state.queue_limit(ch)
  if limit == 0 then return QUEUE_FULL end -- a queue with no room at all
  local stored = record.compact(c, rec, p, n)
  if ch.device == "TempDisconnected" then
    return state.enqueue(c.id, stored, limit) and RECEIVED or QUEUE_FULL
  end
  state.receive(c.id, stored)
  -- Downloads of remote tile images start after the answer (phone.lua).
  if c.kind == "tile" then phone.tile_received(c.id, bytes.string(p, n)) end
  return RECEIVED
end

return _M
