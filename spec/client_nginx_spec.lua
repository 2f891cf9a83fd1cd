-- mpns.client inside nginx: it would block the worker on send and never
-- deliver send_async, so every way in raises an error naming mpns.resty,
-- while loading the module and making a client at load time still work.
local lu = require "luaunit"
local cjson = require "cjson"
local nginx_lua = require "nginx_lua"

-- /try?what=NAME runs TRIES[NAME] in the content phase and answers
-- { ok, err }; init_by_lua makes a client in the master (allowed).
local n = assert(nginx_lua.start {
  http = [[init_by_lua_block {
    mpns = require "mpns"
    early = mpns.client()
    toast = mpns.toast { text1 = "hi" }
    URI = "http://127.0.0.1:9/throttledthirdparty/01.00/x"
    TRIES = {
      client = function() return mpns.client() end,
      default_client = function() return mpns.default_client() end,
      msg_send = function() local r = toast:send(URI); return r end,
      msg_send_opts = function() return toast:send(URI, { timeout = 1 }) end,
      msg_send_async = function() return toast:send_async(URI, print) end,
      run = function() return mpns.run() end,
      early_send = function() return early:send(toast, URI) end,
      early_send_async = function() return early:send_async(toast, URI, print) end,
      early_run = function() return early:run() end,
      early_step = function() return early:step(0) end,
      build = function() return toast:body() end,
    }
  }]],
  server = [[location = /try { content_by_lua_block {
    local f = TRIES[ngx.var.arg_what]
    local ok, err = pcall(f)
    ngx.say(require("cjson").encode { ok = ok, err = not ok and tostring(err) or nil })
  } }
  location = /timer { content_by_lua_block {
    local box = {}
    ngx.timer.at(0, function() box.ok, box.err = pcall(TRIES.msg_send) end)
    for _ = 1, 100 do if box.ok ~= nil then break end ngx.sleep(0.01) end
    ngx.say(require("cjson").encode { ok = box.ok, err = box.err and tostring(box.err) })
  } }]],
})

local function try(what)
  local status, body = n:get("/try?what=" .. what)
  lu.assertEquals(status, 200, n:log())
  return cjson.decode(body)
end

TestClientInNginx = {}

for _, what in ipairs { "client", "default_client", "msg_send", "msg_send_opts", "msg_send_async",
  "run", "early_send", "early_send_async", "early_run", "early_step" } do
  TestClientInNginx["test_refuses_" .. what] = function()
    local r = try(what)
    lu.assertFalse(r.ok, what .. " was allowed in the content phase")
    lu.assertStrContains(r.err, "would block this nginx worker (phase 'content')")
    lu.assertStrContains(r.err, 'require("mpns.resty")')
  end
end

function TestClientInNginx:test_the_error_names_the_callers_line()
  -- init_by_lua code is chunk "=init_by_lua..." in nginx's naming
  lu.assertStrMatches(try("msg_send").err, "^init_by_lua%b():%d+: mpns: msg:send would block.*")
end

function TestClientInNginx:test_messages_still_build()
  local r = try("build")
  lu.assertTrue(r.ok, r.err)
end

function TestClientInNginx:test_refuses_in_a_timer()
  local status, body = n:get("/timer")
  lu.assertEquals(status, 200, n:log())
  local r = cjson.decode(body)
  lu.assertFalse(r.ok)
  lu.assertStrContains(r.err, "phase 'timer'")
end

local rc = lu.LuaUnit.run()
n:stop()
os.exit(rc == 0)
