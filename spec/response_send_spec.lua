-- Messages and answers end to end, against the emulator: what the phone's
-- XML parser reads back from escaped CR, LF and tab, and how the libcurl
-- client treats an answer that is not MPNS's (issues 8 and 13).
local lu = require "luaunit"
local U = require "client_util"
local mpns = U.mpns

-- Retries on, and fast: an outcome that is retried shows as attempts > 1.
local RETRY = { retry = { max_attempts = 3, base_delay = 0.01, max_delay = 0.02 } }

local function send(msg, id, state)
  if state then U.emu():set(id, state) end
  local c = mpns.client(RETRY)
  local res, err = c:send(msg, U.http(id))
  c:close()
  lu.assertNil(err)
  return res
end

TestEndToEnd = {}

function TestEndToEnd:test_cr_lf_and_tab_reach_the_phone_as_given()
  local text, id = "a\r\nb\rc\td", U.id("ctl")
  local tile_id = "/T.xaml?a=1\nb=2\tc\r"
  lu.assertEquals(send(mpns.toast { text1 = text }, id).outcome, "received")
  lu.assertEquals(send(mpns.tile { id = tile_id, title = "t" }, id).outcome, "received")
  local notes = U.emu():get(id).notifications
  lu.assertEquals(notes[1].fields.Text1, text)
  lu.assertEquals(notes[2].attributes.Id, tile_id)
end

function TestEndToEnd:test_bare_404_is_not_mpns_kept_and_not_retried()
  local id = U.id("bare404")
  local res = send(U.toast(), id, { fail_next = { count = 1, status = 404 } })
  lu.assertEquals(res.status, 404)
  lu.assertEquals(res.outcome, "not_mpns")
  lu.assertFalse(res.delete_channel)
  lu.assertNil(res.retry_after)
  lu.assertEquals(res.attempts, 1)
  lu.assertEquals(tostring(res), "not_mpns: HTTP 404, -/-/- (" .. U.http(id) .. ")")
end

function TestEndToEnd:test_mpns_404_still_deletes_and_results_print()
  local id = U.id("expired")
  local res = send(U.toast(), id, { subscription = "Expired" })
  lu.assertEquals(res.outcome, "expired")
  lu.assertTrue(res.delete_channel)
  lu.assertStrContains(tostring(res), "expired: HTTP 404, Dropped/")
end

function TestEndToEnd:test_bare_503_is_still_retried()
  local id = U.id("bare503")
  local res = send(U.toast(), id, { fail_next = { count = 1, status = 503 } })
  lu.assertEquals(res.outcome, "received")
  lu.assertEquals(res.attempts, 2)
end

U.run(lu)
