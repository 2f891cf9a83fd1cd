-- The emulator's checks past nginx's defaults: headers beyond the first 100
-- (ngx.req.get_headers stops there unless told otherwise) and bodies over
-- nginx's client_max_body_size (8 MB: nginx's own HTML 413 unless caught).
local lu = require "luaunit"
local emu = require "emu"

local e = assert(emu.start {})

local n = 0
local function fresh() n = n + 1; return "limits-" .. n end

local TOAST = emu.xml("Toast", { { "Text1", "limits" } })

-- Toast headers after `count` filler headers (not X-*, so not custom).
local function after_fillers(count, extra)
  local h = {}
  for i = 1, count do h[#h + 1] = ("Filler-%d: %d"):format(i, i) end
  for k, v in pairs(emu.headers("toast", extra)) do h[#h + 1] = k .. ": " .. v end
  return h
end

TestHeaders = {}

function TestHeaders:test_control_without_fillers()
  local r = e:push(fresh(), { headers = after_fillers(0), body = TOAST })
  lu.assertEquals(r.status, 200, r.body)
end

-- The target after 100 others is still judged.
function TestHeaders:test_target_after_100_headers()
  local r = e:push(fresh(), { headers = after_fillers(100, { ["X-WindowsPhone-Target"] = "garbage" }),
    body = TOAST })
  lu.assertEquals(r.status, 400, r.body)
  lu.assertStrContains(r.body, "X-WindowsPhone-Target")
end

-- The 1,024-byte custom-header limit counts every X-* header.
function TestHeaders:test_custom_bytes_after_100_headers()
  local r = e:push(fresh(), { headers = after_fillers(100, { ["X-Big"] = ("b"):rep(7000) }),
    body = TOAST })
  lu.assertEquals(r.status, 400, r.body)
  lu.assertStrContains(r.body, "custom headers over 1024 bytes")
end

TestBody = {}

local NINE_MB = ("x"):rep(9 * 1024 * 1024)

-- Over nginx's 8 MB: the documented 400 with a reason, plain text, on both ports.
function TestBody:test_over_8_mb_is_400_with_reason()
  for _, tls in ipairs { false, "good" } do
    local r = e:push(fresh(), { tls = tls or nil, headers = emu.headers("toast"), body = NINE_MB })
    lu.assertEquals(r.status, 400, r.body)
    lu.assertStrContains(r.body, "payload of " .. #NINE_MB .. " bytes over 3072")
    lu.assertNotStrContains(r.body, "<html>")
  end
end

function TestBody:test_chunked_over_8_mb_is_400()
  local r = e:push(fresh(), { headers = emu.headers("toast", { ["Transfer-Encoding"] = "chunked" }),
    body = NINE_MB })
  lu.assertEquals(r.status, 400, r.body)
  lu.assertStrContains(r.body, "payload over the size limit")
end

function teardownSuite() e:stop() end

os.exit(lu.LuaUnit.run() == 0)
