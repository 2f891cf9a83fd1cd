-- mpns.callback through mpns.client against the emulator: an authenticated
-- service registers a callback at <channel URI>/callback and the emulator
-- records it (that it fires it is emulator_tls_spec's business).
local lu = require "luaunit"
local U = require "client_util"
local mpns = U.mpns

local NO_RETRY = { max_attempts = 1 }

local function tls_client()
  local e = U.emu()
  return mpns.client { ca = e.ca, cert = e.client_cert, key = e.client_key, retry = NO_RETRY }
end

TestCallbackClient = {}

function TestCallbackClient:test_registration_is_recorded()
  local e, id = U.emu(), U.id("cb")
  local sink = "cb-" .. id
  local c = tls_client()
  local r, err = c:send(mpns.callback { uri = e:sink_url(sink), data = "opaque \1 bytes" },
    U.https(id) .. "/callback")
  lu.assertNil(err)
  lu.assertEquals(r.status, 200)
  lu.assertEquals(r.device_connection_status, "Connected")
  lu.assertEquals(r.subscription_status, "Active")
  -- A registration's 200 has no X-NotificationStatus, which the response
  -- table reads as "not_mpns" (README says so: the status is what counts).
  lu.assertEquals(r.outcome, "not_mpns")
  lu.assertEquals(e:get(id).callback, { uri = e:sink_url(sink), body = "opaque \1 bytes" })
  lu.assertEquals(#e:get(id).notifications, 0)   -- a registration is not a notification
  c:close()
end

-- The last registration wins, and data may be left out.
function TestCallbackClient:test_reregistration_replaces_and_data_is_optional()
  local e, id = U.emu(), U.id("cb")
  local c = tls_client()
  assert(c:send(mpns.callback { uri = e:sink_url("old"), data = "old" }, U.https(id) .. "/callback"))
  local r = assert(c:send(mpns.callback { uri = e:sink_url("new") }, U.https(id) .. "/callback"))
  lu.assertEquals(r.status, 200)
  lu.assertEquals(e:get(id).callback, { uri = e:sink_url("new"), body = "" })
  c:close()
end

-- Only an authenticated service may register: plain http gets a 401.
function TestCallbackClient:test_unauthenticated_registration_is_refused()
  local e, id = U.emu(), U.id("cb")
  local c = mpns.client { retry = NO_RETRY }
  local r, err = c:send(mpns.callback { uri = e:sink_url("x"), data = "d" }, U.http(id) .. "/callback")
  lu.assertNil(err)
  lu.assertEquals(r.status, 401)
  lu.assertEquals(r.outcome, "unauthorized")
  lu.assertFalse(r.ok)
  local ch = e:get(id)
  lu.assertNil(ch and ch.callback)
  c:close()
end

U.run(lu)
