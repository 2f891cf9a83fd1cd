-- Runs inside the nginx spec/app_spec.lua starts (location /t-sender):
-- exercises mpns.sender.resty directly and answers JSON with what happened,
-- so the suite can check the sender interface inside a real worker.
--   GET /t-sender?prefix=<channel URI prefix>
local mpns, cjson = require "mpns", require "cjson.safe"
local transport = require("mpns.resty").new { timeout = 5 }

-- true if fn() returned within `seconds`, false if it was still blocked.
local function within(seconds, fn)
  local work = ngx.thread.spawn(function() fn(); return "done" end)
  local clock = ngx.thread.spawn(function() ngx.sleep(seconds); return "late" end)
  local _, what = ngx.thread.wait(work, clock)
  ngx.thread.kill(work); ngx.thread.kill(clock)
  return what == "done"
end

-- A fresh mpns.sender.resty whose timers all fire premature (as on reload).
local function premature_sender()
  local real, saved = ngx.timer.at, package.loaded["mpns.sender.resty"]
  ngx.timer.at = function(_, fn) return real(0, function() fn(true) end) end
  package.loaded["mpns.sender.resty"] = nil
  local ok, R = pcall(require, "mpns.sender.resty")
  ngx.timer.at, package.loaded["mpns.sender.resty"] = real, saved
  assert(ok, R)
  return R.new(transport)
end

return function()
  local prefix = ngx.req.get_uri_args().prefix
  local toast = mpns.toast { text1 = "sender" }
  local out = {}

  -- done later, never inside send; a callback sends again; after; wait.
  local s = mpns.sender.new("resty", transport, { concurrency = 2 })
  local inside, order = false, {}
  for i = 1, 3 do
    inside = true
    s:send(toast, prefix .. "rs-" .. i, function(res)
      order[#order + 1] = (inside and "INSIDE " or "") .. (res and res.outcome or "error")
      if i == 3 then
        s:send(toast, prefix .. "rs-again", function(r2) order[#order + 1] = "again " .. r2.outcome end)
        s:after(0.05, function() order[#order + 1] = "after" end)
      end
    end)
    inside = false
  end
  out.queued_before_wait = #order
  s:wait()
  out.order = order

  -- A failure is done(nil, err); a raising done comes back from wait().
  local f = mpns.sender.new("resty", transport)
  inside = true                                 -- fails without any I/O: the hard case
  f:send(toast, "ftp://x/y", function(res, err) out.failure = { res = res, kind = err and err.kind,
    inside = inside } end)
  inside = false
  f:send(toast, prefix .. "rs-boom", function() error("boom in done") end)
  local ok, err = pcall(f.wait, f)
  out.raised = not ok and tostring(err) or nil

  -- send's ctx comes back as done's third argument, result or failure.
  local c, ctx_ok, ctx_bad = mpns.sender.new("resty", transport), { "ok" }, { "bad" }
  out.ctx = {}
  local function done_ctx(res, err, ctx) out.ctx[ctx[1]] = res and res.outcome or err.kind end
  c:send(toast, prefix .. "rs-ctx", done_ctx, ctx_ok)
  c:send(toast, "ftp://x/y", done_ctx, ctx_bad)
  c:wait()

  -- wait() from inside a done is refused, not a deadlock.
  local nested = mpns.sender.new("resty", transport)
  nested:send(toast, prefix .. "rs-nested", function() nested:wait() end)
  ok, err = pcall(nested.wait, nested)
  out.nested = not ok and tostring(err) or nil

  -- wait(n) returns with at most n pending.
  local w, done = mpns.sender.new("resty", transport, { concurrency = 1 }), 0
  for i = 1, 6 do w:send(toast, prefix .. "rw-" .. i, function() done = done + 1 end) end
  w:wait(2)
  out.wait_n = { done = done, pending = w.pending }
  w:wait()
  out.wait_all = done

  -- A transport that raises: the send still gets its one outcome, wait() returns.
  local r = mpns.sender.new("resty", transport)
  r.transport = { send = function() error("transport boom") end }
  r:send(toast, prefix .. "rs-raise", function(res, err2) out.raising = { res = res, kind = err2 and err2.kind,
    message = err2 and err2.message } end)
  out.raising_waited = within(3, function() r:wait() end)

  -- A premature timer (worker exiting) still wakes wait().
  local pm = premature_sender()
  pm:after(0.01, function() out.premature_ran = true end)
  out.premature_waited = within(3, function() pm:wait() end)

  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(out))
end
