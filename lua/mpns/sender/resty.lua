--- mpns.sender.resty: the sender interface over mpns.resty (cosockets),
-- for OpenResty. Sends wait in a queue drained by at most `concurrency`
-- light threads; wait() sleeps on a semaphore, so a worker never blocks.
--   local s = require("mpns.sender.resty").new({ timeout = 15 }, { concurrency = 50 })
--   s:send(msg, uri, function(res, err) ... end); s:wait()
-- Use it where cosockets work (rewrite, access, content, ngx.timer); one
-- sender per request or timer (its threads belong to the one that spawned them).
local resty = require "mpns.resty"
local common = require "mpns.sender"
local options = require "mpns.options"

local ngx = ngx
local spawn, sleep, timer_at, log, ERR = ngx.thread.spawn, ngx.sleep, ngx.timer.at, ngx.log, ngx.ERR
local type, setmetatable, error, pcall, tostring, newproxy, getmetatable =
  type, setmetatable, error, pcall, tostring, newproxy, getmetatable
local running = coroutine.running

local _M = {}
local mt = { __index = _M }

local OPTIONS = { concurrency = "number", on_callback_error = "function" }
local WAIT_STEP = 60     -- seconds a wait sleeps before looking again

--- A sender. `transport`: an mpns.resty sender to share, or options for a
-- new one (nil: defaults). opts: concurrency (sends in flight, 50),
-- on_callback_error(err) (else wait() raises the first error a done raised).
---@param transport table|nil
---@param opts table|nil
function _M.new(transport, opts)
  opts = options.check("mpns.sender.resty.new", opts, OPTIONS)
  local c = opts.concurrency or 50
  if c < 1 or c % 1 ~= 0 then error("mpns.sender.resty.new: concurrency must be an integer >= 1", 2) end
  if not (type(transport) == "table" and transport.send == resty.send) then
    transport = resty.new(transport)
  end
  return setmetatable({ transport = transport, concurrency = c, kind = "resty",
    on_callback_error = opts.on_callback_error,
    queue = {}, head = 1, tail = 0, running = 0, pending = 0, waiters = 0, wake_at = 0,
    in_done = setmetatable({}, { __mode = "k" }) }, mt)
end

-- One outcome fewer pending: wakes wait() once it has what it waits for.
local function settle(self)
  self.pending = self.pending - 1
  if self.pending <= self.wake_at and self.waiters > 0 then self.sema:post(self.waiters) end
end

-- One outcome delivered: run done(res, err, ctx) under pcall (remembering
-- which thread is inside one, so a wait() there fails instead of waiting
-- for itself), then wake wait().
local function finish(self, done, res, err, ctx)
  local co = running()
  self.in_done[co] = true
  local ok, cerr = pcall(done, res, err, ctx)
  self.in_done[co] = nil
  if not ok then
    if self.on_callback_error then pcall(self.on_callback_error, cerr)
    elseif self.error == nil then self.error = cerr
    else log(ERR, "mpns.sender.resty: another callback error: ", tostring(cerr)) end
  end
  settle(self)
end

local function pop(self)
  local h = self.head
  if h > self.tail then return nil end
  local job = self.queue[h]
  self.queue[h], self.head = nil, h + 1
  return job
end

-- A light thread: drains the queue, one send at a time.
local function worker(self)
  sleep(0)                  -- yield first: done never runs inside send()
  while true do
    local job = pop(self)
    if not job then break end
    -- a transport that raises must still give the send its one outcome,
    -- or this thread dies and wait() never returns
    local ok, res, err = pcall(self.transport.send, self.transport, job[1], job[2])
    if not ok then
      res, err = nil, { kind = "internal", message = "mpns.sender.resty: the transport raised: "
        .. tostring(res), uri = job[2] }
    end
    finish(self, job[3], res, err, job[4])
  end
  self.running = self.running - 1
end

local function enqueue(self, msg, uri, done, ctx)
  local t = self.tail + 1
  self.queue[t], self.tail = { msg, uri, done, ctx }, t
  self.pending = self.pending + 1
  if self.running < self.concurrency then
    local co, err = spawn(worker, self)
    if not co then error("mpns.sender.resty: cannot start a light thread: " .. tostring(err), 3) end
    self.running = self.running + 1
  end
end

--- Queues one send; done(res, err, ctx) runs exactly once, from a light thread.
---@param msg userdata an mpns message
---@param uri string
---@param done fun(res: table|nil, err: table|nil, ctx: any)
---@param ctx any|nil given back to done: one done serves many sends
function _M:send(msg, uri, done, ctx)
  if type(msg) ~= "userdata" then error("mpns.sender.resty: send expects an mpns message", 2) end
  if type(uri) ~= "string" then error("mpns.sender.resty: channel URI must be a string", 2) end
  if type(done) ~= "function" then error("mpns.sender.resty: send needs a done function", 2) end
  enqueue(self, msg, uri, done, ctx)
end

--- Returns when every send and after made through this sender has had its
-- outcome (with `n`: when at most n are pending); yields to nginx meanwhile.
-- Raises the first error a done raised.
---@param n integer|nil
function _M:wait(n)
  if self.in_done[running()] then
    error("mpns.sender.resty: wait() from a done callback would wait for itself", 2)
  end
  n = n or 0
  while self.pending > n do
    self.sema = self.sema or require("ngx.semaphore").new()   -- made per worker, not in init
    self.waiters, self.wake_at = self.waiters + 1, n
    self.sema:wait(WAIT_STEP)
    self.waiters = self.waiters - 1
  end
  self.wake_at = 0
  local err = self.error
  if err ~= nil then self.error = nil; error(err, 0) end
  return true
end

--- fn() in an ngx.timer, seconds from now; counted by wait().
function _M:after(seconds, fn)
  local ok, err = timer_at(seconds, function(premature)
    if premature then return settle(self) end
    finish(self, fn)
  end)
  if not ok then error("mpns.sender.resty: cannot start a timer: " .. tostring(err), 2) end
  self.pending = self.pending + 1
end

-- POST <channel>/callback carries X-CallbackURI and an opaque body, which no
-- mpns message kind has: mpns.resty sends anything with :body() and
-- :headers(), so this request is a userdata that answers those two.
local function callback_request(callback_uri, data)
  local req = newproxy(true)
  local headers = { ["X-CallbackURI"] = callback_uri, ["Content-Type"] = "application/octet-stream" }
  getmetatable(req).__index = {
    body = function() return data end,
    headers = function() return headers end,
  }
  return req
end

--- Registers an MPNS callback for a channel (authenticated services only):
-- done(res, err), res.ok when MPNS answered 200 (res.outcome "registered").
---@param channel_uri string
---@param callback_uri string
---@param data string|nil at most 1 KB, POSTed to callback_uri by MPNS
---@param done fun(res: table|nil, err: table|nil)
function _M:register_callback(channel_uri, callback_uri, data, done)
  local url = common.check_callback(channel_uri, callback_uri, data)
  enqueue(self, callback_request(callback_uri, data or ""), url, function(res, err)
    return done(common.callback_result(res), err)
  end)
end

return _M
