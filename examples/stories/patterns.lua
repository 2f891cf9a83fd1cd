--- The recipe's five push patterns (seed 003) against the emulator, which
-- plays each phone: app running or not, tile pinned or not, away, log-on.
--   lua5.4 examples/stories/patterns.lua   (run by make stories)
local mpns = require "mpns"
local phone = require "phone"

local kit = phone.kit()
local reg, sender = kit.registry, kit.sender
local function opts(t) t.registry, t.sender = reg, sender; return t end

local PHONES = {
  { "ann-running", {} },
  { "bob-closed", { app_running = false } },
  { "cy-unpinned", { tile_pinned = false } },
  { "dee-away", { device = "TempDisconnected", app_running = false } },
}
for _, p in ipairs(PHONES) do
  phone.set(p[1], p[2])
  reg:subscribe { user = p[1]:match("^%a+"), uri = phone.uri(p[1]), os = "8.0", tags = { "demo" } }
end
local demo = { tag = "demo" }

print("1. one-time push: a toast, a tile and a raw to every phone")
print("   " .. tostring(mpns.patterns.one_time.new(opts {}):send({ mpns.toast { text1 = "Hello" },
  mpns.tile { title = "News", count = 1 }, mpns.raw "hello" }, demo)))

print("2. counter: bump twice (a raw probe; a tile with counter + 1 where the app is closed)")
local counter = mpns.patterns.counter.new(opts { title = "Inbox" })
print("   " .. tostring(counter:bump(demo)))
print("   " .. tostring(counter:bump(demo)))
print("   bob logs on: counter reset, tile count 0")
print("   " .. tostring(counter:logon("bob")))

print("3. ask to pin: the stored tile again; the raw \"ask-to-pin\" where it is not pinned")
local ask = mpns.patterns.ask_to_pin.new(opts { tile = { title = "News" } })
print("   " .. tostring(ask:update({ count = 5 }, demo)))
phone.set("cy-unpinned", { tile_pinned = true })           -- cy pins it and starts the app again
print("   cy pinned it: " .. tostring(ask:subscribed(phone.uri("cy-unpinned"))))

print("4. custom image: each tile's background is the service's image URL for that phone")
print("   " .. tostring(mpns.patterns.custom_image.new(opts {
  url = "http://127.0.0.1:8091/tiles/{id}.png", title = "Art" }):send(nil, { user = "ann" })))

print("5. scheduled tile: test now pushes a tile pointing at the schedule URL")
print("   " .. tostring(mpns.patterns.schedule.new(opts {
  url = "http://127.0.0.1:8091/tiles/schedule.png" }):test_now { user = "bob" }))

print("what each phone ended with:")
for _, p in ipairs(PHONES) do print("   " .. phone.describe(p[1])) end
reg:close()
if kit.path then os.remove(kit.path) end
