-- The engine from C with no Lua (examples/embed.c, built by make as
-- build/embed): a host poll() loop over mpns_client_fd / _timeout / _step,
-- end to end against the emulator, and once more under valgrind.
local lu = require "luaunit"
local U = require "client_util"
local proc = require "proc"

local function sh(cmd) return proc.run("{ " .. cmd .. "; } 2>&1") end

local function have(cmd) return select(2, sh("command -v " .. cmd .. " >/dev/null")) == 0 end

TestEmbed = {}

function TestEmbed:test_host_poll_loop_delivers_all()
  local out, rc = sh("build/embed " .. U.http("embed-" .. os.time() .. "-") .. " 200")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "200 of 200 received")
  lu.assertEquals(U.emu():stats().notification.Received >= 200, true)
end

function TestEmbed:test_failures_reported_from_c()
  local out, rc = sh("build/embed http://127.0.0.1:1/throttledthirdparty/01.00/x- 3")
  lu.assertEquals(rc, 1)
  lu.assertStrContains(out, "connect")
  lu.assertStrContains(out, "0 of 3 received")
end

-- Under strace every syscall is slow, so a fast answer on a reused
-- connection arrives inside curl's timeout action. The loop stalled there
-- until nginx closed its idle connections (keepalive_timeout, 75 s): the
-- finished transfers were never read. Bounded: 200 sends well under 20 s.
function TestEmbed:test_slowed_scheduler_does_not_stall()
  if not have("strace") then lu.skip("strace is not installed") end
  local out, rc = sh("{ t0=$(date +%s%N); timeout 30 strace -f -o /dev/null build/embed "
    .. U.http("embed-st-" .. os.time() .. "-") .. " 200; r=$?; "
    .. "echo \"ms=$((($(date +%s%N) - t0) / 1000000))\"; (exit $r); }")
  local ms = tonumber(out:match("ms=(%d+)"))
  lu.assertStrContains(out, "200 of 200 received", out)
  lu.assertTrue(ms < 20000, "took " .. tostring(ms) .. " ms")
  lu.assertEquals(rc, 0, out)
end

function TestEmbed:test_memory_clean_under_valgrind()
  if not have("valgrind") then lu.skip("valgrind is not installed") end
  local out, rc = sh("valgrind -q --error-exitcode=99 --leak-check=full "
    .. "--errors-for-leak-kinds=definite build/embed "
    .. U.http("embed-vg-" .. os.time() .. "-") .. " 50")
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "50 of 50 received")
end

local rc = lu.LuaUnit.run()
U.stop()
os.exit(rc == 0)
