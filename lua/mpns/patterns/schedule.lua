--- mpns.patterns.schedule: scheduled tile updates (ShellTileSchedule). The
-- phone polls `url` on its own schedule; the server serves that image and
-- can "test now" by pushing a tile that points at it (seed 003).
--   local s = mpns.patterns.schedule.new{ registry = reg, sender = snd,
--     url = "https://push.example.com/tiles/schedule.png", file = "tile.png" }
--   s:test_now{ user = "alice" };  ngx.print(s:image())
local P = require "mpns.patterns"

local error = error

local M = {}
local mt = { __index = M }

local KNOWN = { url = "string", title = "string", file = "string", render = "function",
  tile = "table" }

--- options: registry, sender, on_result, batch; url (required: what the
-- phone polls, the same for every channel); title; render() / tile / file
-- as in custom_image.
function M.new(opts)
  local self = P.object(mt, P.check_options("mpns.patterns.schedule.new", opts, KNOWN))
  if not self.url then error("mpns.patterns.schedule.new: option 'url' is required", 2) end
  return self
end

--- Pushes a tile whose background is the schedule URL to every matching
-- channel: what the phone will fetch, now. Returns the summary.
function M:test_now(filter)
  local run = P.run(self, "schedule.test_now")
  local spec = { kind = "tile", title = self.title, background_image = self.url }  -- one tile for all
  run:each(filter, function(ch) run:send_tile(ch, spec) end)
  return run:finish()
end

--- The image the schedule URL serves, or nil and why.
function M:image() return P.image_bytes(self, "schedule") end

return M
