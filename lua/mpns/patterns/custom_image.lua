--- mpns.patterns.custom_image: a tile whose background image is a URL of
-- the app's own image service, one per channel, rendered on request
-- (seed 003, "Create a Fully Customized Image on the Server-Side").
--   local c = mpns.patterns.custom_image.new{ registry = reg, sender = s,
--     url = "https://push.example.com/tiles/{id}.png", file = "tile.png" }
--   c:send({ title = "Today" }, { user = "alice" })
--   ngx.print(c:image(id))               -- in GET /tiles/<id>.png
local P = require "mpns.patterns"

local error, type = error, type

local M = {}
local mt = { __index = M }

local KNOWN = { url = "string", title = "string", count = "number", file = "string",
  render = "function", tile = "table" }

--- options: registry, sender, on_result, batch; url (required: a template
-- with {id}, {user} or {device}); title, count; how the image is made:
-- render(id) -> PNG bytes, else mpns.image.tile(tile) when built, else file.
function M.new(opts)
  local self = P.object(mt, P.check_options("mpns.patterns.custom_image.new", opts, KNOWN))
  if not self.url then error("mpns.patterns.custom_image.new: option 'url' is required", 2) end
  return self
end

--- The image URL of one channel.
function M:url_for(ch) return P.fill_url(self.url, ch) end

--- A tile (title, count, `fields`) whose background is each matching
-- channel's own image URL. Returns the summary.
function M:send(fields, filter)
  if fields ~= nil and type(fields) ~= "table" then error("mpns.patterns.custom_image: send expects tile fields", 2) end
  local run = P.run(self, "custom_image.send")
  run:each(filter, function(ch)
    local spec = P.merge({ kind = "tile", title = self.title, count = self.count }, fields)
    spec.background_image = self:url_for(ch)
    run:send_tile(ch, spec)
  end)
  return run:finish()
end

--- The PNG for the channel key in the URL, or nil and why.
function M:image(id) return P.image_bytes(self, id) end

return M
