--- mpns.patterns.counter: a tile counter that resets when the user logs on
-- (seed 003, "Push Counter Resets upon Logon").
--   local c = mpns.patterns.counter.new{ registry = reg, sender = s, title = "Inbox" }
--   c:bump{ user = "alice" }   -- raw probe; tile count + 1 where the app is not running
--   c:logon("alice")           -- counter 0, tile count 0
local mpns = require "mpns"
local P = require "mpns.patterns"
local store = require "mpns.store"

local min = math.min

local M = {}
local mt = { __index = M }

local KNOWN = { probe = "string", title = "string", background_image = "string" }
local COUNT_MAX = 99          -- what a tile can show

--- options: registry, sender, on_result, batch; probe (the raw "are you
-- running?" payload, "ping"); title, background_image (the tile's, when
-- the channel has no stored tile).
function M.new(opts)
  local self = P.object(mt, P.check_options("mpns.patterns.counter.new", opts, KNOWN))
  self.probe_msg = mpns.raw(self.probe or "ping")
  return self
end

-- The tile for a count: the channel's stored title and image, else ours.
local function tile_spec(self, ch, n)
  local stored = ch.tile or {}
  return { kind = "tile", count = min(n, COUNT_MAX),
    title = stored.title or self.title, background_image = stored.background_image or self.background_image }
end

-- After the probe: TempDisconnected -> nothing; running (Connected +
-- Active + Received) -> nothing, the app shows it; otherwise counter + 1.
local function on_probe(self, run, ch, res)
  if not P.not_shown(res) or res.device_connection_status == "TempDisconnected" then return end
  local n, err = self.registry:bump_counter(ch.uri, 1)
  if n then run:send_tile(ch, tile_spec(self, ch, n))
  elseif err then run:unrecorded(err) end
end

--- Probes every channel matching filter; bumps the tile of those whose app
-- is not running. Returns the summary.
---@param filter table|nil
function M:bump(filter)
  local run = P.run(self, "counter.bump")
  run:each(filter, function(ch)
    run:send(ch, self.probe_msg, function(res) on_probe(self, run, ch, res) end)
  end)
  return run:finish()
end

--- The user logged on: every channel of theirs gets counter 0 (backed-off
-- ones too, so their next bump starts from 1) and the due ones a tile with
-- count 0, in one pass. Returns the summary (channels: the due ones).
---@param user string
function M:logon(user)
  if type(user) ~= "string" then error("mpns.patterns.counter: logon expects a user name", 2) end
  local run = P.run(self, "counter.logon")
  local due = { due = self.registry.clock() }
  for ch in self.registry:channels({ user = user, all = true }) do
    if (ch.counter or 0) ~= 0 then
      local ok, err = self.registry:reset_counter(ch.uri)
      if ok == nil then run:unrecorded(err) end
    end
    if store.matches(ch, due) then run:one(ch, function(c) run:send_tile(c, tile_spec(self, c, 0)) end) end
  end
  return run:finish()
end

return M
