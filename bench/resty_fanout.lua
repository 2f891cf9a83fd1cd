-- The mpns.resty side of bench/delivery: GET /fanout?prefix=P&n=N&conc=C&mode=M
-- sends N toasts (bench/toasts.lua, mode M) to the channel URIs P1..PN from
-- inside one nginx worker, C light threads (ngx.thread) each taking the next
-- send until all are done, through one mpns.resty sender (its pool keeps the
-- connections). Answers: ok=<received> bad=<other> seconds=<wall time>
local mpns = require "mpns"
local resty = require "mpns.resty"
local toasts = require "toasts"

local ngx = ngx

return function()
  local args = ngx.req.get_uri_args()
  local prefix, n, conc, mode = args.prefix, tonumber(args.n), tonumber(args.conc), args.mode
  local sender = resty.new { timeout = 30, pool_size = conc }
  local same = mode == "same" and mpns.toast(toasts.fields(mode, 1))
  local started, ok, bad = 0, 0, 0
  local function work()
    while started < n do
      started = started + 1
      local i = started
      local res = sender:send(same or mpns.toast(toasts.fields(mode, i)), prefix .. i)
      if res and res.ok then ok = ok + 1 else bad = bad + 1 end
    end
  end
  ngx.update_time()
  local t0 = ngx.now()
  local threads = {}
  for k = 1, conc do threads[k] = ngx.thread.spawn(work) end
  for k = 1, conc do ngx.thread.wait(threads[k]) end
  ngx.update_time()
  ngx.say(("ok=%d bad=%d seconds=%.3f"):format(ok, bad, ngx.now() - t0))
end
