-- msg:send / msg:send_async as a user calls them: misuse is blamed on the
-- caller's line and the right argument, and send options given as a literal
-- table per call reuse one client per distinct set of values.
local lu = require "luaunit"
local U = require "client_util"
local mpns = U.mpns
local core = require "mpns.core"

local THIS = debug.getinfo(1, "S").short_src

-- Calls f (no tail calls inside, so levels are real) and returns the error
-- text; the test names the line it expects.
local function err_of(f)
  local ok, err = pcall(f)
  lu.assertFalse(ok, "no error raised")
  return tostring(err)
end

local function line_of(f) return debug.getinfo(f, "S").linedefined end

TestArguments = {}

function TestArguments:test_send_without_uri_names_argument_1_at_the_callers_line()
  local f = function() local r = U.toast():send(nil); return r end
  lu.assertEquals(err_of(f), ("%s:%d: bad argument #1 to 'send' (channel URI string expected, got nil)")
    :format(THIS, line_of(f)))
end

function TestArguments:test_send_options_typo_is_blamed_on_the_caller()
  local f = function() local r = U.toast():send(U.http("x"), { timeot = 5 }); return r end
  lu.assertEquals(err_of(f), ("%s:%d: mpns.client: unknown option 'timeot'"):format(THIS, line_of(f)))
end

function TestArguments:test_send_options_not_a_table()
  local f = function() local r = U.toast():send(U.http("x"), 5); return r end
  lu.assertEquals(err_of(f), ("%s:%d: bad argument #2 to 'send' (options table or nil expected, got number)")
    :format(THIS, line_of(f)))
end

function TestArguments:test_send_async_arguments()
  local f1 = function() local r = U.toast():send_async(nil, print); return r end
  local f2 = function() local r = U.toast():send_async(U.http("x")); return r end
  local f3 = function() local r = U.toast():send_async(U.http("x"), print, "oops"); return r end
  lu.assertStrContains(err_of(f1), ("%s:%d: bad argument #1 to 'send_async'"):format(THIS, line_of(f1)))
  lu.assertStrContains(err_of(f2), ("%s:%d: bad argument #2 to 'send_async' (function (on_result)")
    :format(THIS, line_of(f2)))
  lu.assertStrContains(err_of(f3), ("%s:%d: bad argument #3 to 'send_async' (function or nil (on_error)")
    :format(THIS, line_of(f3)))
end

function TestArguments:test_client_and_default_client_options()
  local f1 = function() local c = mpns.client { timeot = 1 }; return c end
  local f2 = function() local c = mpns.default_client { timeot = 1 }; return c end
  lu.assertEquals(err_of(f1), ("%s:%d: mpns.client: unknown option 'timeot'"):format(THIS, line_of(f1)))
  lu.assertEquals(err_of(f2), ("%s:%d: mpns.client: unknown option 'timeot'"):format(THIS, line_of(f2)))
end

-- A second copy of the delivery half whose clients are counted; it takes
-- over msg:send, so these tests run last and restore nothing they need.
local function counted()
  local made = { n = 0 }
  local proxy = setmetatable({ client = function(o)
    made.n = made.n + 1
    made[made.n] = core.client(o)
    return made[made.n]
  end }, { __index = core })
  local M = {}
  require("mpns.client")(M, proxy)
  return M, made
end

TestZOptionClients = {}

function TestZOptionClients:test_100_sends_with_equal_literal_tables_make_one_client()
  local _, made = counted()
  local msg = U.toast()
  for _ = 1, 100 do
    lu.assertEquals(assert(msg:send(U.http(U.id()), { timeout = 5, retry = { max_attempts = 2 } })).outcome,
      "received")
  end
  lu.assertEquals(made.n, 1)
end

function TestZOptionClients:test_key_order_does_not_matter_and_values_do()
  local _, made = counted()
  local msg = U.toast()
  assert(msg:send(U.http(U.id()), { timeout = 5, connect_timeout = 3 }))
  assert(msg:send(U.http(U.id()), { connect_timeout = 3, timeout = 5 }))
  lu.assertEquals(made.n, 1)
  assert(msg:send(U.http(U.id()), { timeout = 6, connect_timeout = 3 }))
  lu.assertEquals(made.n, 2)
  assert(msg:send(U.http(U.id()), { timeout = 6, connect_timeout = 3, retry = { max_attempts = 1 } }))
  lu.assertEquals(made.n, 3)
end

function TestZOptionClients:test_a_closed_option_client_is_replaced()
  local _, made = counted()
  local msg = U.toast()
  assert(msg:send(U.http(U.id()), { timeout = 7 }))
  made[1]:close()
  lu.assertEquals(assert(msg:send(U.http(U.id()), { timeout = 7 })).outcome, "received")
  lu.assertEquals(made.n, 2)
  lu.assertFalse(made[2]:closed())
end

function TestZOptionClients:test_many_distinct_sets_stay_bounded()
  local M, made = counted()
  local msg = U.toast()
  for i = 1, 40 do assert(msg:send(U.http(U.id()), { user_agent = "ua-" .. i })) end
  lu.assertEquals(made.n, 40)
  local open = 0
  for i = 1, made.n do if not made[i]:closed() then open = open + 1 end end
  lu.assertTrue(open <= 32, open .. " idle clients kept open")
  lu.assertTrue(M.run())
end

U.run(lu)
