--- mpns.patterns.ask_to_pin: send the channel's last tile; when the answer
-- is not Connected + Active + Received (the tile is not pinned), send the
-- raw "ask to pin" message the app shows its user (seed 003, "Ask to Pin").
--   local a = mpns.patterns.ask_to_pin.new{ registry = reg, sender = s, tile = { title = "Scores" } }
--   a:subscribed(uri)                       -- on registration: the stored tile again
--   a:update({ count = 3 }, { tag = "news" }) -- a new tile to every matching channel
local mpns = require "mpns"
local P = require "mpns.patterns"

local type, error = type, error

local M = {}
local mt = { __index = M }

local KNOWN = { tile = "table", payload = "string", content_type = "string" }

--- options: registry, sender, on_result, batch; tile (required: the tile
-- fields, with an optional kind, for a channel that has none stored);
-- payload ("ask-to-pin") and content_type of the raw message.
function M.new(opts)
  local self = P.object(mt, P.check_options("mpns.patterns.ask_to_pin.new", opts, KNOWN))
  if not self.tile then error("mpns.patterns.ask_to_pin.new: option 'tile' is required", 2) end
  P.tile_message(self.tile)   -- a bad default tile fails here, not at the first send
  self.ask_msg = mpns.raw { data = self.payload or "ask-to-pin", content_type = self.content_type }
  return self
end

local function check(self, run, ch, spec)
  run:send_tile(ch, spec, function(res)
    if P.not_shown(res) then run:send(ch, self.ask_msg) end
  end)
end

--- A phone (re)registered: send its stored tile (or the default), and ask
-- to pin if it is not pinned. `channel`: a registry record or a channel URI.
function M:subscribed(channel)
  local run = P.run(self, "ask_to_pin.subscribed")
  run:one(channel, function(ch) check(self, run, ch, ch.tile or self.tile) end)
  return run:finish()
end

--- A new tile: `fields` over each matching channel's stored tile, sent and
-- stored; ask to pin where it is not pinned. Returns the summary.
---@param fields table tile fields (and optionally kind)
---@param filter table|nil
function M:update(fields, filter)
  if type(fields) ~= "table" then error("mpns.patterns.ask_to_pin: update expects a table of tile fields", 2) end
  local run = P.run(self, "ask_to_pin.update")
  run:each(filter, function(ch) check(self, run, ch, P.merge(ch.tile or self.tile, fields)) end)
  return run:finish()
end

return M
