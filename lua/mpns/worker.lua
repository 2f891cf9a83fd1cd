--- mpns.worker: sends the queue's batches (lua/mpns/queue.lua). Claims stream
-- entries through a consumer group, sends through mpns.client (keep-alive),
-- records each outcome per (job, channel), and acknowledges a batch once
-- all of its channels have one. At most `concurrency` sends are ever
-- without a recorded outcome: a send's slot frees only when Redis has
-- confirmed its record (records and the next claim go out in one write and
-- are read back a round later, so the worker never waits on Redis while
-- sends are in flight). Batches a dead worker held are reclaimed (XAUTOCLAIM)
-- after `visibility` seconds; channels that already have an outcome are
-- skipped, so only what the dead worker had in flight can be sent twice,
-- with the same X-MessageID. Sends answered with retry_after are scheduled
-- in a sorted set, never slept on. bin/mpns-worker is the command line.
local mpns = require "mpns"
local queue = require "mpns.queue"
local registry = require "mpns.registry"
local options = require "mpns.options"
local RS = require "mpns.store.redis"
local S = require "mpns.worker.scripts"
local cjson = require("cjson").new()
local status = require "mpns.worker.status"

local M = {}
local W = {}
W.__index = W

local OPTIONS = { host = "string", port = "number", db = "number", prefix = "string",
  group = "string", consumer = "string", concurrency = "number", visibility = "number",
  allowed_hosts = "table", client = "table", log = "function", status = "string",
  idle_exit = "number" }

local now = require("socket").gettime

local function hostname()
  local f = io.open("/proc/sys/kernel/hostname")
  local h = f and f:read("*l") or "host"
  if f then f:close() end
  return h
end

--- A worker. opts: host, port, db, prefix (as the queue's), group ("mpns"),
--- consumer (host name + a random suffix), concurrency (sends in flight,
--- 50), visibility (seconds a silent worker keeps its batches, 30),
--- allowed_hosts (the registry's), client (more mpns.client options),
--- log(line) (stderr), status ("auto": a one-line status on a terminal,
--- log lines otherwise; "log"; "none"), idle_exit (seconds without work
--- after which run() returns; nil = never).
---@param opts table
function M.new(opts)
  options.check("mpns.worker", opts, OPTIONS)
  local st, err = RS.new { host = opts.host, port = opts.port, db = opts.db, prefix = opts.prefix }
  if not st then return nil, err end
  local copts = { max_connections = opts.concurrency or 50 }
  for k, v in pairs(opts.client or {}) do copts[k] = v end
  local self = setmetatable({ store = st, c = st:connection(), k = queue.keys(opts.prefix or "mpns:"),
    group = opts.group or "mpns", consumer = opts.consumer or (hostname() .. "-" .. math.random(1e6)),
    concurrency = copts.max_connections, visibility = opts.visibility or 30,
    client = mpns.client(copts), idle_exit = opts.idle_exit,
    reg = registry.open { store = st, allowed_hosts = opts.allowed_hosts },
    batches = {}, ready = {}, done = {}, acks = {}, inflight = 0, sending = 0, sends = 0, jobs = {},
    next_reclaim = 0, next_beat = 0, next_claim = 0, idle_since = now() }, W)
  self.min_post = math.max(1, math.floor(self.concurrency / 2))
  self.status = status.new(self, opts.status or "auto", opts.log)
  return self
end

------------------------------------------------------------------ claiming

-- The job's record (cached): kind, fields, max_retries, total.
function W:job(id)
  local j = self.jobs[id]
  if j then return j end
  local h, err = self.c:call("HGETALL", self.k.job(id))
  if not h then return nil, err end
  if #h == 0 then return false end
  j = {}
  for i = 1, #h, 2 do j[h[i]] = h[i + 1] end
  j.fields = require("mpns.store").decode(j.fields)
  j.max_retries, j.total, j.id = tonumber(j.max_retries), tonumber(j.total), id
  self.jobs[id] = j
  return j
end

-- The positions in `uris` that already have an outcome for the job (HMGET).
function W:outcomes(job, uris)
  local have, err = self.c:call("HMGET", self.k.out(job.id), (table.unpack or unpack)(uris))
  if not have then return nil, err end
  local set = {}
  for i = 1, #uris do set[i] = have[i] ~= nil or nil end
  return set
end

-- Queues a batch's channels that have no outcome yet; false on a Redis
-- failure. `have`: the positions with an outcome, from the claim script
-- (nil: asked here).
function W:take(entry, reclaimed, have)
  local id, f = entry[1], {}
  if self.batches[id] then return true end  -- ours already (idle while Redis was away)
  for i = 1, #entry[2], 2 do f[entry[2][i]] = entry[2][i + 1] end
  local okd, items = pcall(cjson.decode, f.ch or "")
  if type(f.job) ~= "string" or not okd or type(items) ~= "table" then
    -- not written by mpns.queue: acknowledged and logged, never retried
    self.status:log("bad_entry", { id = id })
    self.acks[#self.acks + 1] = id
    return true
  end
  local job, err = self:job(f.job)
  if job == nil then return nil, err end
  local b = { id = id, job = job, open = 0 }
  if job then
    local uris, ready = {}, self.ready
    for i, it in ipairs(items) do uris[i] = type(it) == "table" and it[1] or it end
    if not have then
      have, err = self:outcomes(job, uris)
      if not have then return nil, err end
    end
    for i, uri in ipairs(uris) do
      if not have[i] then
        b.open = b.open + 1
        local it = items[i]
        ready[#ready + 1] = { b = b, uri = uri, os = type(it) == "table" and it[2] or nil, n = 1, resend = reclaimed }
      end
    end
  end
  self.batches[id] = b
  if b.open == 0 then self.acks[#self.acks + 1] = id; self.batches[id] = nil end
  return true
end

-- A claim script's reply (W:post sends it with the records): the entry,
-- with the positions that have an outcome; false when the stream is empty.
function W:take_claimed(reply)
  if not reply then self.next_claim = now() + 0.1; return true end
  local set = {}
  for _, i in ipairs(reply[3]) do set[i] = true end
  return self:take({ reply[1], reply[2] }, false, set)
end

-- Entries a dead worker held (every visibility/2), else, when this worker
-- is idle, new ones, waiting in Redis for them. Busy, it claims through
-- W:post instead, without waiting.
function W:claim()
  local t, res, err = now(), nil, nil
  if t >= self.next_reclaim then
    self.next_reclaim = t + self.visibility / 2
    res, err = self.c:call("XAUTOCLAIM", self.k.stream, self.group, self.consumer,
      math.floor(self.visibility * 1000), "0-0", "COUNT", 4)
    if not res then return nil, err end
    if res[2] and #res[2] > 0 then return res[2], true end
  end
  if self.inflight > 0 or #self.ready > 0 then return {}, false end
  self.waited = true
  res, err = self.c:call("XREADGROUP", "GROUP", self.group, self.consumer, "COUNT", 1,
    "BLOCK", math.floor(math.min(0.5, self.idle_exit or 1) * 1000), "STREAMS", self.k.stream, ">")
  if err then return nil, err end
  return res and res[1][2] or {}, false
end

-- Due retries, leased for `visibility` seconds; looked for once a second.
function W:claim_retries()
  local t = now()
  if t < (self.next_retries or 0) then return true end
  self.next_retries = t + 1
  local due, err = self.c:eval(S.lease, 0, self.k.retry, t, t + self.visibility, self.concurrency)
  if not due then return nil, err end
  for _, m in ipairs(due) do
    local r = cjson.decode(m)
    local job = self:job(r.job)
    if job then
      local b = { id = false, job = job, open = 1 }
      self.ready[#self.ready + 1] = { b = b, uri = r.uri, os = r.os, n = r.n, lease = m }
    end
  end
  return true
end

-- Keeps the pipe full: claims while fewer than `concurrency` sends are ready.
function W:refill()
  if self.stopping or #self.ready >= self.concurrency then return true end
  local ok, err = self:claim_retries()
  if not ok then return nil, err end
  local entries, reclaimed = self:claim()
  if not entries then return nil, reclaimed end
  for _, e in ipairs(entries) do
    ok, err = self:take(e, reclaimed)
    if not ok then return nil, err end
  end
  return true
end

------------------------------------------------------------------ sending

-- Starts ready sends up to `concurrency` unrecorded ones. A finished send
-- is its ready entry with `res` or `err` set, in `done`.
function W:start()
  local ready, done = self.ready, self.done
  while self.inflight < self.concurrency and #ready > 0 do
    local s = table.remove(ready)
    while s and s.b.lost do s = table.remove(ready) end
    if not s then break end
    local j = s.b.job
    local msg, why = queue.build(j.kind, j.fields, j.id, s.uri, s.os)
    self.inflight, self.sends = self.inflight + 1, self.sends + 1
    if not msg then
      s.err = { kind = "unsupported_os", message = why }
      done[#done + 1] = s
    else
      self.sending = self.sending + 1
      self.client:send_async(msg, s.uri, function(res, err)
        self.sending = self.sending - 1
        s.res, s.err = res, err
        local d = self.done  -- post() replaces the list
        d[#d + 1] = s
      end)
    end
  end
end

-- The record script call for one job's finished sends (id false: acks
-- alone), with `acks` to acknowledge; the batches it finishes. A final
-- outcome is two arguments; one to retry later, or that ends a leased
-- retry, five (lua/mpns/worker/scripts.lua).
function W:record_cmd(id, list, t, acks)
  local k, job = self.k, list[1] and list[1].b.job
  local a = { "EVALSHA", self.c.shas[S.record], 0, k.out(id or "-"), k.sum(id or "-"), k.stats, k.stream,
    self.group, k.retry, 0, 0, 0 }
  local n, extra, finished, resent = #a, nil, {}, 0
  for _, s in ipairs(list) do
    local r, b = s.res or s.err, s.b
    if s.resend then resent = resent + 1 end
    if s.lease or (r.retry_after and s.n <= (job.max_retries or 3)) then
      extra = extra or {}
      extra[#extra + 1] = s
    else
      a[n + 1], a[n + 2], n = s.uri, r.outcome or r.kind, n + 2
    end
    b.open = b.open - 1
    if b.open == 0 and b.id then finished[#finished + 1] = b end
  end
  a[10], a[11], a[12] = (n - 12) / 2, extra and #extra or 0, resent
  for _, s in ipairs(extra or {}) do
    local r, due, member = s.res or s.err, "", ""
    if r.retry_after and s.n <= (job.max_retries or 3) then
      due = t + r.retry_after
      member = cjson.encode { job = job.id, uri = s.uri, os = s.os, n = s.n + 1 }
    end
    a[n + 1], a[n + 2], a[n + 3], a[n + 4], a[n + 5], n = s.uri, r.outcome or r.kind, due, member, s.lease or "", n + 5
  end
  for _, ack in ipairs(acks) do n = n + 1; a[n] = ack end
  for _, b in ipairs(finished) do n = n + 1; a[n] = b.id end
  return a, finished
end

-- True when the finished sends should be posted now: a half window of
-- them (fewer calls: Redis commands per notification), or nothing else in
-- flight, or stopping, or the oldest waited `POST_WAIT` seconds.
local POST_WAIT = 0.02
function W:records_due(t)
  if #self.done == 0 and #self.acks == 0 then return false end
  self.done_since = self.done_since or t
  return #self.done >= self.min_post or self.sending == 0 or self.stopping or t - self.done_since >= POST_WAIT
end

-- True when the next batch should be claimed with the post: fewer sends
-- than `concurrency` ready, and the last claim found something (else
-- again after 0.1 s; an idle worker waits for work in W:claim).
function W:claim_due(t)
  local due = not self.stopping and not self.waited and #self.ready < self.concurrency and t >= self.next_claim
  self.waited = nil
  return due
end

-- The record calls, one per job (the acks with the first), and the posted list.
function W:record_cmds(t, cmds, posted)
  local per_job, order = {}, {}
  for _, d in ipairs(self.done) do
    local id = d.b.job.id
    if not per_job[id] then per_job[id] = {}; order[#order + 1] = id end
    local l = per_job[id]
    l[#l + 1] = d
  end
  if #order == 0 then order[1] = false end  -- acks alone
  for i, id in ipairs(order) do
    local acks, list = i == 1 and self.acks or {}, per_job[id] or {}
    local cmd, finished = self:record_cmd(id, list, t, acks)
    cmds[i], posted[i] = cmd, { list = list, finished = finished, acks = acks }
  end
end

-- Writes what finished, as record script calls (the acks of finished
-- batches in them), and the claim of the next batch, without waiting for
-- Redis: it runs them while the worker steps its sends, and W:confirm
-- reads the replies next round. Until then those sends still count in
-- `inflight`, so no more than `concurrency` sends are ever unrecorded
-- (the bound on twins after a crash).
function W:post()
  local t = now()
  local records, claim = self:records_due(t), self:claim_due(t)
  if self.posted or not (records or claim) then return true end
  local ok, err = self.c:load(S.record)
  if ok and claim then ok, err = self.c:load(S.claim) end
  if not ok then return nil, err end
  local cmds, posted = {}, {}
  if records then self:record_cmds(t, cmds, posted) end
  if claim then
    cmds[#cmds + 1] = { "EVALSHA", self.c.shas[S.claim], 0, self.k.stream, self.group, self.consumer, self.k.out("") }
    posted.claim = true
  end
  ok, err = self.c:send(cmds)
  if not ok then
    for _, p in ipairs(posted) do self:unpost(p) end
    return nil, err
  end
  self.posted = posted
  if records then self.done, self.acks, self.done_since = {}, {}, nil end
  return true
end

-- A record call that failed (or whose fate is unknown): its sends and
-- acks are posted again next round (the script's HSETNX keeps the first outcome).
-- (`requeue`: they had left `done`).
function W:unpost(p, requeue)
  for _, d in ipairs(p.list) do
    d.b.open = d.b.open + 1
    if requeue then self.done[#self.done + 1] = d end
  end
  if requeue then for _, ack in ipairs(p.acks) do self.acks[#self.acks + 1] = ack end end
end

-- Reads the replies of the last post. Recorded sends leave the window, and
-- only then go to the registry: a failed call is posted again and must not
-- expire a channel twice.
function W:confirm()
  local posted = self.posted
  if not posted then return true end
  local replies, err = self.c:receive()
  for i, p in ipairs(posted) do
    local r = replies and replies[i]
    if r and r.err == nil then
      for _, b in ipairs(p.finished) do self.batches[b.id] = nil end
      self.inflight = self.inflight - #p.list
      for _, d in ipairs(p.list) do
        local changes, rerr = self.reg:record(d.uri, d.res or d.err, d.b.job.kind)
        if changes == nil then self.status:log("registry_error", { error = rerr }) end
      end
    else
      err = err or r.err
      if tostring(err):find("NOSCRIPT", 1, true) then self.c:forget(S.record) end
      self:unpost(p, true)
    end
  end
  self.posted = nil
  local c = posted.claim and replies and replies[#posted + 1]
  if c and c.err then
    if c.err:find("NOSCRIPT", 1, true) then self.c:forget(S.claim) end
    err = err or c.err
  elseif c then  -- taken even when a record failed: it is ours in Redis now
    local ok, terr = self:take_claimed(c.ok)
    if not ok then err = err or terr end
  end
  if err then return nil, err end
  return true
end

------------------------------------------------------------------ loop

-- Renews the claim on our batches (their idle time restarts) and announces
-- the worker (q:workers, for metrics). A batch another worker took over
-- while this one was stalled is dropped: its unsent channels are theirs.
function W:heartbeat()
  local t = now()
  if t < self.next_beat then return end
  self.next_beat = t + math.max(1, self.visibility / 3)
  local args = { self.k.stream, self.group, self.consumer, self.k.workers, t }
  for id in pairs(self.batches) do args[#args + 1] = id end
  local keep = self.c:eval(S.renew, 0, (table.unpack or unpack)(args))
  if not keep then return end
  local ours = {}
  for _, id in ipairs(keep) do ours[id] = true end
  for i = 6, #args do
    if not ours[args[i]] then self.batches[args[i]].lost = true; self.batches[args[i]] = nil end
  end
end

function W:busy() return self.inflight > 0 or #self.ready > 0 or next(self.batches) ~= nil end

-- One round: send, wait for answers, read the replies of the records
-- posted last round (Redis ran them meanwhile), send into the slots they
-- freed, claim more, post this round's outcomes. Every synchronous Redis
-- call comes between the confirm and the post: one connection, in order.
function W:round()
  if self.check_stop and not self.stopping and self.check_stop() then
    self.status:log("stopping", { consumer = self.consumer })
    self:stop()
  end
  self:start()
  if self.sending > 0 then self.client:step(0.05) end
  -- Redis still running what was posted: more answers first, not a wait
  if self.posted and self.sending > 0 and not self.c:ready() then return end
  local ok, err = self:confirm()
  if ok then
    self:start()
    ok, err = self:refill()
  end
  self:heartbeat()
  self.status:tick(now())
  if ok then ok, err = self:post() end
  if not ok then
    self.status:log("redis_error", { error = err })
    if self.sending == 0 then os.execute("sleep 0.2") else self.client:step(0.2) end
  end
end

--- Runs until stopped (`worker:stop()`, SIGTERM through bin/mpns-worker) or
--- idle for `idle_exit` seconds; finishes every claimed batch first. true,
--- or nil and why some sends were left unrecorded (W:drain).
function W:run()
  self.status:log("start", { consumer = self.consumer, group = self.group, concurrency = self.concurrency })
  local ok, err = self.c:call("XGROUP", "CREATE", self.k.stream, self.group, "0", "MKSTREAM")
  if not ok and not tostring(err):find("BUSYGROUP", 1, true) then self.status:log("redis_error", { error = err }) end
  while not (self.stopping and not self:busy()) do
    self:round()
    if self:busy() then self.idle_since = now()
    elseif self.idle_exit and now() - self.idle_since >= self.idle_exit then break end
  end
  local ok, err = self:drain()
  self.reg:flush()
  self.c:call("ZREM", self.k.workers, self.consumer)
  self.status:tick(now(), true)
  self.status:log("stop", { consumer = self.consumer, sends = self.sends,
    redis_commands = self.c.commands })
  return ok, err
end

-- Records and acks what is left (what is posted, then the rest), retrying
-- a failing Redis for up to 10 s: true, or nil and why some sends are left
-- unrecorded (another worker sends those channels again after `visibility`).
function W:drain()
  self.stopping = true  -- the last posts claim nothing
  local deadline, err = now() + (self.drain_for or 10), nil
  repeat
    local ok, e = self:confirm()
    if ok then ok, e = self:post() end
    if ok then ok, e = self:confirm() end
    if ok and #self.done == 0 and #self.acks == 0 then return true end
    err = e or err
    if not ok then self.status:log("redis_error", { error = e }); os.execute("sleep 0.2") end
  until now() >= deadline
  return nil, "stopped with " .. #self.done .. " sends unrecorded: " .. tostring(err)
end

--- Asks run() to return once the claimed batches are finished.
function W:stop() self.stopping = true end

function W:close()
  self.client:close()
  self.reg:close()
  self.store:close()
end

M.main = require("mpns.worker.cli")(M)

return M
