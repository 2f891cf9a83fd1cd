-- Responses: every row of the protocol's response table maps to one outcome.
local lu = require "luaunit"
local mpns = require "mpns"

local function headers(n, d, s)
  return { ["X-NotificationStatus"] = n, ["X-DeviceConnectionStatus"] = d,
    ["X-SubscriptionStatus"] = s }
end

-- status, notification, device, subscription -> outcome, ok, delete, retry_after
local ROWS = {
  { 200, "Received", "Connected", "Active", "received", true, false, nil },
  { 200, "Received", "TempDisconnected", "Active", "received", true, false, nil },
  { 200, "QueueFull", "Connected", "Active", "queue_full", false, false, 60 },
  { 200, "QueueFull", "TempDisconnected", "Active", "queue_full", false, false, 60 },
  { 200, "Suppressed", "Connected", "Active", "suppressed", false, false, nil },
  { 200, "Suppressed", "TempDisconnected", "Active", "suppressed", false, false, nil },
  { 200, "Dropped", "Connected", "Active", "dropped", false, false, nil },
  { 400, nil, nil, nil, "bad_request", false, false, nil },
  { 401, nil, nil, nil, "unauthorized", false, false, nil },
  { 403, nil, nil, nil, "forbidden", false, false, nil },
  { 404, "Dropped", "Connected", "Expired", "expired", false, true, nil },
  { 404, "Dropped", "InActive", "Expired", "expired", false, true, nil },
  { 405, nil, nil, nil, "method_not_allowed", false, false, nil },
  { 406, "Dropped", "Connected", "Active", "throttled", false, false, 3600 },
  { 412, "Dropped", "InActive", nil, "inactive", false, false, 3600 },
  { 503, nil, nil, nil, "unavailable", false, false, 60 },
  -- Answers without the MPNS header their status needs are not MPNS's.
  { 404, nil, nil, nil, "not_mpns", false, false, nil },
  { 404, "Dropped", "Connected", "Active", "not_mpns", false, false, nil },
  { 200, nil, nil, nil, "not_mpns", false, false, nil },
  { 200, nil, "Connected", "Active", "not_mpns", false, false, nil },
  { 406, nil, nil, nil, "not_mpns", false, false, nil },
  { 412, nil, nil, nil, "not_mpns", false, false, nil },
  { 404, "dropped", "connected", "expired", "expired", false, true, nil },
}

TestResponse = {}

function TestResponse:test_every_row_of_the_table()
  for i, row in ipairs(ROWS) do
    local r = mpns.parse_response(row[1], headers(row[2], row[3], row[4]))
    local where = "row " .. i .. " (" .. row[1] .. " " .. tostring(row[2]) .. ")"
    lu.assertEquals(r.status, row[1], where)
    lu.assertEquals(r.outcome, row[5], where)
    lu.assertEquals(r.ok, row[6], where)
    lu.assertEquals(r.delete_channel, row[7], where)
    lu.assertEquals(r.retry_after, row[8], where)
    lu.assertEquals(r.notification_status, row[2], where)
    lu.assertEquals(r.device_connection_status, row[3], where)
    lu.assertEquals(r.subscription_status, row[4], where)
  end
end

function TestResponse:test_contract_example()
  local r = mpns.parse_response(404, { ["X-NotificationStatus"] = "Dropped",
    ["X-SubscriptionStatus"] = "Expired", ["X-DeviceConnectionStatus"] = "Connected" })
  lu.assertTrue(r.outcome == "expired" and r.delete_channel)
end

function TestResponse:test_header_names_are_case_insensitive()
  local r = mpns.parse_response(200, { ["x-notificationstatus"] = "Received",
    ["X-DEVICECONNECTIONSTATUS"] = "Connected", ["x-SubscriptionStatus"] = "Active",
    ["x-messageid"] = "6ba7b810-9dad-11d1-80b4-00c04fd430c8" })
  lu.assertEquals(r.outcome, "received")
  lu.assertEquals(r.device_connection_status, "Connected")
  lu.assertEquals(r.message_id, "6ba7b810-9dad-11d1-80b4-00c04fd430c8")
end

function TestResponse:test_list_valued_headers_use_the_first()
  local r = mpns.parse_response(200, { ["X-NotificationStatus"] = { "QueueFull", "Received" } })
  lu.assertEquals(r.outcome, "queue_full")
end

-- Issue 13: a 404 from a proxy or a wrong path must never delete a channel.
function TestResponse:test_bare_404_does_not_delete_the_channel()
  local r = mpns.parse_response(404, {})
  lu.assertEquals(r.outcome, "not_mpns")
  lu.assertFalse(r.delete_channel)
  lu.assertNil(r.retry_after)
end

function TestResponse:test_unknown_answers_are_unexpected()
  lu.assertEquals(mpns.parse_response(200, {}).outcome, "not_mpns")
  lu.assertEquals(mpns.parse_response(200).outcome, "not_mpns")
  lu.assertEquals(mpns.parse_response(200, headers("Maybe")).outcome, "unexpected")
  lu.assertEquals(mpns.parse_response(500, {}).outcome, "unexpected")
  lu.assertEquals(mpns.parse_response(302, {}).outcome, "unexpected")
  lu.assertFalse(mpns.parse_response(500, {}).ok)
end

function TestResponse:test_bad_arguments_raise()
  lu.assertFalse((pcall(mpns.parse_response, nil, {})))
  lu.assertFalse((pcall(mpns.parse_response, 200, "X-NotificationStatus: Received")))
end

-- Issue 8: 4294967496 once read as 200 (received), 4294967700 as 404.
function TestResponse:test_status_outside_100_to_599_raises()
  local received = headers("Received", "Connected", "Active")
  for _, status in ipairs({ 4294967496, 4294967700, 99, 600, -200, 0, 1e300, -1e300,
    0 / 0, 1 / 0, 200.5, 2 ^ 53 + 200 }) do
    local ok, err = pcall(mpns.parse_response, status, received)
    lu.assertFalse(ok, "status " .. tostring(status))
    lu.assertStrContains(err, "expected an HTTP status from 100 to 599")
  end
  lu.assertEquals(mpns.parse_response(100, {}).outcome, "unexpected")
  lu.assertEquals(mpns.parse_response(599, {}).outcome, "unexpected")
  lu.assertEquals(mpns.parse_response(200.0, received).outcome, "received")
end

-- Issue 13: results print what happened, not table: 0x...
function TestResponse:test_results_print_outcome_status_and_headers()
  local r = mpns.parse_response(404, headers("Dropped", "Connected", "Expired"))
  lu.assertEquals(tostring(r), "expired: HTTP 404, Dropped/Connected/Expired")
  lu.assertEquals(tostring(mpns.parse_response(503, {})), "unavailable: HTTP 503, -/-/-")
  r.uri = "http://127.0.0.1:1/x"
  lu.assertEquals(tostring(r), "expired: HTTP 404, Dropped/Connected/Expired (http://127.0.0.1:1/x)")
end

os.exit(lu.LuaUnit.run() == 0)
