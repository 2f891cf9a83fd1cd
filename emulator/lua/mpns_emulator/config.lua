-- The emulator's settings, fixed at start by init_by_lua (emulator/run fills
-- them in from its options). Every module reads them from here.
local _M = {
  daily_limit = 500,        -- pushes per unauthenticated channel per UTC day
  max_payload = 3072,       -- body bytes (MSDN: 3 KB; some sources say 1 KB)
  max_headers = 1024,       -- bytes of custom (X-*) request headers
  queue_limit = 30,         -- notifications a TempDisconnected channel queues
  keep = 1000,              -- notifications kept per channel (oldest dropped)
  max_callback_body = 1024, -- callback registration body bytes
  memo = 1024,              -- payload judgments remembered (0: judge every time)
  prefix = "",              -- the nginx prefix; lets a starter recognise us
  -- The phone's image downloads (phone.lua) and tile schedules (schedule.lua).
  image_max_bytes = 81920,  -- a tile image's largest size (WP: 80 KB)
  image_timeout = 60,       -- seconds a download may take (may be fractional)
  fetchers = 16,            -- downloads in flight at once
  fetch_queue = 100000,     -- downloads waiting; beyond it one is "dropped"
  clock_speed = 1,          -- schedule intervals are divided by this
}

-- Options that may be fractional (the rest are counts).
local REAL = { image_timeout = true, clock_speed = true }

local function is_count(v) return type(v) == "number" and v >= 0 and v % 1 == 0 end

-- Applies the start options, refusing unknown keys and bad numbers.
function _M.init(opts)
  for k, v in pairs(opts) do
    if _M[k] == nil or type(_M[k]) == "function" then
      error("emulator config: unknown option " .. k)
    end
    if REAL[k] and not (type(v) == "number" and v > 0) then
      error("emulator config: " .. k .. " must be a positive number")
    end
    if type(_M[k]) == "number" and not REAL[k] and not is_count(v) then
      error("emulator config: " .. k .. " must be a count")
    end
    _M[k] = v
  end
end

return _M
