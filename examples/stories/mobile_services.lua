--- Seed 004's Mobile Services flow: the insert script that returns the
-- existing channel instead of inserting a duplicate, then a toast and a
-- flip tile to each of a user's channels, one log line per channel and
-- message, on success and on error.
--   lua5.4 examples/stories/mobile_services.lua   (run by make stories)
local mpns = require "mpns"
local phone = require "phone"

local kit = phone.kit()
local reg, sender = kit.registry, kit.sender

-- insert(item): the same URI twice is one channel (request.respond(200, existing)).
local function insert(item)
  local ch, new = assert(reg:subscribe(item))
  print(("insert %-26s %s"):format(item.uri:match("[^/]+$"), new and "inserted" or "exists: returned the stored channel"))
  return ch
end

insert { user = "marco", uri = phone.uri("marco-lumia") }
insert { user = "marco", uri = phone.uri("marco-lumia") }          -- the app starts again
insert { user = "marco", uri = phone.uri("marco-tablet") }
insert { user = "marco", uri = phone.uri("marco-old"), os = "7.0" }
insert { user = "marco", uri = phone.uri("marco-gone") }
phone.set("marco-gone", { subscription = "Expired" })            -- uninstalled since
print(("marco has %d channels"):format(reg:count { user = "marco" }))

local toast = mpns.toast { text1 = "WAMS", text2 = "New data for you" }
local flip = mpns.flip_tile { title = "WAMS", back_title = "Back", back_content = "3 new items",
  small_background_image = "/Images/small.png", wide_back_content = "3 new items, 1 reply",
  background_image = "/Images/front.png" }

for ch in reg:channels { user = "marco" } do
  local id = ch.uri:match("[^/]+$")
  for _, m in ipairs { { "toast", toast }, { "tile", flip } } do
    local msg, why = m[2]:for_os(ch.os)
    if not msg then print(("error in %s Push Channel: %s %s"):format(m[1], id, why))
    else
      sender:send(msg, ch.uri, function(res, err)
        reg:record(ch.uri, res, err, msg)
        if res and res.ok then print(("Sent %s: %s %s"):format(m[1], id, res.outcome))
        else print(("error in %s Push Channel: %s %s"):format(m[1], id,
          res and (res.outcome .. " (" .. res.status .. ")") or err.kind)) end
      end)
    end
  end
end
sender:wait()
print(("marco has %d channels left (expired ones are deleted)"):format(reg:count { user = "marco" }))
reg:close()
if kit.path then os.remove(kit.path) end
