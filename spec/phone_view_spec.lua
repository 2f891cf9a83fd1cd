-- The phone view (GET /phones/) in a real browser: headless Chromium loads
-- the page after this suite pushes a toast, a flip tile with a downloaded
-- image and a raw notification; the suite checks the DOM the page's script
-- built and saves a screenshot (to a temp dir; its path is printed).
-- Chromium missing or failing to start is a failure, never a skip.
local lu = require "luaunit"
local emu = require "emu"
local app = require "app"
local cdp = require "cdp"

local e = assert(emu.start {})
local VIEW = "http://127.0.0.1:" .. e.port .. "/phones/"

-- The tile image, rendered by mpns.image (always built: a renderer that
-- fails must fail this spec, not be replaced). No count or title: the phone
-- draws those over the image itself.
local IMAGE = require("mpns.image").tile { size = "medium", background = "#FF1BA1E2", text = "2 - 1" }
local a = assert(app.start { ["match.png"] = IMAGE })

local proc = require "proc"
local sh = proc.run

local TMP = proc.tmpdir("view")

-- Runs headless Chromium on the view with `extra` flags; fails the test
-- with Chromium's own words when it cannot start.
local function chromium(extra)
  local bin = sh("command -v chromium || command -v chromium-browser"):gsub("%s+$", "")
  if bin == "" then lu.fail("Chromium is not installed (Debian package chromium; make deps installs it)") end
  local out, code = sh(("HOME=%s %s --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir=%s/profile "
    .. "--virtual-time-budget=4000 %s '%s' 2>%s/chromium.err"):format(TMP, bin, TMP, extra, VIEW, TMP))
  if code ~= 0 or not out:find("<html", 1, true) then -- LuaJIT's popen hides the exit code
    local f = io.open(TMP .. "/chromium.err")
    local err = f and f:read("*a") or ""
    if f then f:close() end
    lu.fail("Chromium could not run (exit " .. tostring(code) .. "): " .. err:sub(-800))
  end
  return out
end

local function push(id, kind, body)
  local r = e:push(id, { headers = emu.headers(kind), body = body })
  lu.assertEquals({ r.status, r.headers["x-notificationstatus"] }, { 200, "Received" })
end

-- What the suite sends: one phone with all three kinds, one with an iconic
-- tile and its tile unpinned afterwards.
local scene_md5
local function scene()
  if scene_md5 then return scene_md5 end
  assert(e:set("view-alice", { allowed_domains = { "127.0.0.1" } }))
  push("view-alice", "toast", emu.xml("Toast", { { "Text1", "Goal!" }, { "Text2", "Home 2 - 1 Away" },
    { "Param", "/Match.xaml?id=7" } }))
  push("view-alice", "tile", emu.xml("Tile", { { "BackgroundImage", a.url .. "/match.png" }, { "Count", "5" },
    { "Title", "Match" }, { "BackTitle", "Live" }, { "BackContent", "Home 2 - 1 Away" } },
    { Template = "FlipTile" }, { Version = "2.0" }))
  push("view-alice", "raw", "refresh:scores")
  push("view-bob", "tile", emu.xml("Tile", { { "IconImage", "/Images/icon.png" }, { "Count", "12" },
    { "Title", "Inbox" }, { "BackgroundColor", "#FF8B0000" } }, { Template = "IconicTile" }, { Version = "2.0" }))
  assert(e:set("view-bob", { tile_pinned = false }))
  for _ = 1, 50 do -- the image arrives after MPNS's answer
    local ch = assert(e:get("view-alice"))
    if #ch.downloads > 0 then
      lu.assertEquals(ch.downloads[1].outcome, "shown")
      scene_md5 = ch.downloads[1].image
      return scene_md5
    end
    os.execute("sleep 0.1")
  end
  lu.fail("the phone never downloaded its tile image")
end

-- The page's <section> for one channel.
local function phone_html(dom, id)
  local s = dom:find('<section class="phone" data-channel="' .. id .. '"', 1, true)
  lu.assertNotNil(s, "no phone for " .. id .. " in the page")
  local stop = dom:find("</section>", s, true)
  return dom:sub(s, stop)
end

-- One Chromium run after the scene: the DOM its script built, and a screenshot.
local SHOT = TMP .. "/phones.png"
local dom
local function page()
  if dom then return dom end
  scene()
  os.execute("sleep 1.3") -- the access log (last pushes) is written every second
  dom = chromium("--dump-dom --screenshot=" .. SHOT .. " --window-size=1100,1000 --hide-scrollbars")
  local f = assert(io.open(TMP .. "/phones.html", "w"))
  f:write(dom)
  f:close()
  return dom
end

TestPhoneView = {}

function TestPhoneView:test_page_draws_every_phone_from_the_emulator()
  local md5 = scene()
  local dom = page()
  local alice = phone_html(dom, "view-alice")
  -- The flip tile: front with the downloaded image, count and title; back.
  lu.assertStrContains(alice, 'data-template="FlipTile"')
  lu.assertStrContains(alice, '<img class="bg" src="images/' .. md5 .. '"')
  lu.assertStrContains(alice, '<span class="count">5</span>')
  lu.assertStrContains(alice, '<span class="title">Match</span>')
  lu.assertStrMatches(alice, '.*data%-side="back".-Home 2 %- 1 Away.*')
  -- The toast and the raw notification.
  lu.assertStrMatches(alice, '.*class="toast".-Goal!.-Home 2 %- 1 Away.-/Match%.xaml%?id=7.*')
  lu.assertStrMatches(alice, '.*class="raw">refresh:scores.*')
  -- Switches and state from the control API; the last pushes and answers.
  lu.assertStrMatches(alice, '.*data%-key="app_running" checked="".*')
  lu.assertStrMatches(alice, '.*data%-key="device">Connected<.*')
  local rows = 0
  for _ in alice:gmatch('<td class="s200">200</td><td>Received</td>') do rows = rows + 1 end
  lu.assertEquals(rows, 3, "three pushes answered 200 Received")
  lu.assertStrContains(alice, "BackgroundImage: shown")
  -- The iconic tile, and a tile_pinned switch that is off.
  local bob = phone_html(dom, "view-bob")
  lu.assertStrContains(bob, 'data-template="IconicTile"')
  lu.assertStrContains(bob, '12</span>')
  lu.assertNotStrContains(bob, 'data-key="tile_pinned" checked')
  lu.assertStrContains(bob, 'data-key="tile_pinned"')
end

function TestPhoneView:test_screenshot()
  page()
  local path = SHOT
  local f = io.open(path, "rb")
  lu.assertNotNil(f, "Chromium wrote no screenshot")
  local head = f:read(8)
  f:close()
  lu.assertEquals(head, "\137PNG\r\n\26\n")
  print("\nphone view screenshot: " .. path .. " (tile image from mpns.image)")
end

-- The switches call the control API: a click in the page (through the
-- DevTools protocol, spec/cdp.lua) changes the channel.
function TestPhoneView:test_switches_change_the_phone()
  scene()
  local b, why = cdp.open(VIEW, TMP)
  if not b then lu.fail("Chromium could not run: " .. why) end
  local ok, err = pcall(function()
    local box = [[document.querySelector('[data-channel="view-bob"] input[data-key="app_running"]')]]
    local drawn = false
    for _ = 1, 100 do
      drawn = b:eval(box .. " !== null")
      if drawn then break end
      os.execute("sleep 0.1")
    end
    lu.assertTrue(drawn, "the page never drew view-bob")
    lu.assertTrue(assert(e:get("view-bob")).app_running)
    b:eval(box .. ".click()")
    b:eval([[(() => { const s = document.querySelector('[data-channel="view-bob"] select[data-key="device"]');
      s.value = "TempDisconnected"; s.dispatchEvent(new Event("change")); })()]])
    local ch
    for _ = 1, 50 do
      ch = assert(e:get("view-bob"))
      if ch.app_running == false and ch.device == "TempDisconnected" then break end
      os.execute("sleep 0.1")
    end
    lu.assertEquals({ ch.app_running, ch.device }, { false, "TempDisconnected" })
  end)
  b:close()
  assert(e:set("view-bob", { app_running = true, device = "Connected" }))
  if not ok then error(err, 0) end
end

local code = lu.LuaUnit.run()
a:stop()
e:stop()
os.execute("rm -rf " .. TMP .. "/profile") -- the page, its DOM and the screenshot stay
os.exit(code == 0)
