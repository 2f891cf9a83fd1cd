--- mpns.queue: the send queue on Redis streams. A producer pushes a job (a
-- message and an audience); the job is checked whole, its audience split
-- into batches, one stream entry per batch; mpns-worker processes
-- (lua/mpns/worker.lua) claim batches through a consumer group and send.
--   local q = mpns.queue.open{ host = "127.0.0.1", port = 6379 }
--   local id = q:push{ message = { kind = "toast", text1 = "Goal!" }, audience = { tag = "scores" } }
--   q:summary(id) --> { total =, done =, outcomes = { received = n, ... }, ... }
-- Keys (prefix "mpns:", the Redis store's): q:stream (the batches),
-- q:job:<id> (the job), q:out:<id> (uri -> outcome, one per channel),
-- q:sum:<id> (counts), q:jobs, q:retry (due retries), q:workers, q:stats.
local mpns = require "mpns"
local store = require "mpns.store"
local registry = require "mpns.registry"
local RS = require "mpns.store.redis"
local cjson = require("cjson").new()

local M = {}
local Queue = {}
Queue.__index = Queue

local PREFIX = "mpns.queue: "
M.KINDS = { toast = true, tile = true, flip_tile = true, iconic_tile = true,
  cycle_tile = true, raw = true }

local OPTIONS = { host = "string", port = "number", db = "number", timeout = "number",
  prefix = "string", allowed_hosts = "table", batch_size = "number" }
local JOB = { message = "table", audience = "table", max_retries = "number" }
local AUDIENCE = { uris = "table", user = "string", tag = "string" }

local function raise(msg, level) error(PREFIX .. msg, (level or 2) + 1) end

local function check(t, known, what, level)
  for k, v in pairs(t) do
    if not known[k] then raise(what .. ": unknown key '" .. tostring(k) .. "'", level + 1) end
    if type(v) ~= known[k] then
      raise(what .. " '" .. k .. "' expected a " .. known[k] .. ", got " .. type(v), level + 1)
    end
  end
end

--- The Redis key names under `prefix` (shared with the worker and metrics).
function M.keys(prefix)
  local q = prefix .. "q:"
  return { stream = q .. "stream", jobs = q .. "jobs", retry = q .. "retry",
    workers = q .. "workers", stats = q .. "stats",
    job = function(id) return q .. "job:" .. id end,
    out = function(id) return q .. "out:" .. id end,
    sum = function(id) return q .. "sum:" .. id end }
end

------------------------------------------------------------------ message ids

--- The X-MessageID of a job's send to one channel: the same UUID (version 8,
--- derived) every time, so a resend after a crash is recognisable. In C
--- (csrc/message_id.c): hashing the URI in Lua cost Lua 5.4 about 28,000
--- instructions a send.
---@param job_id string
---@param uri string
---@return string
M.message_id = require("mpns.core").message_id

--- The message a job sends to one channel: its fields plus that channel's
--- message id, downgraded for the channel's OS. nil, reason when nothing is
--- left for that OS.
---@param kind string
---@param fields table the constructor's fields (kind removed)
function M.build(kind, fields, job_id, uri, os)
  fields.message_id = M.message_id(job_id, uri)
  local msg = mpns[kind](fields)
  fields.message_id = nil
  if os and os ~= "8.0" then return msg:for_os(os) end
  return msg
end

------------------------------------------------------------------ open

--- A queue on a Redis server. opts: host, port, db, timeout, prefix (the
--- Redis store's, "mpns:"), allowed_hosts (as the registry's: hosts a listed
--- URI may have beside *.notify.live.net), batch_size (channels per stream
--- entry, 500). Returns nil, err when Redis cannot be reached.
---@param opts table|nil
function M.open(opts)
  opts = opts or {}
  check(opts, OPTIONS, "option", 2)
  local so = { host = opts.host, port = opts.port, db = opts.db, timeout = opts.timeout,
    prefix = opts.prefix }
  local st, err = RS.new(so)
  if not st then return nil, err end
  local reg = registry.open { store = st, allowed_hosts = opts.allowed_hosts }
  local p = opts.prefix or "mpns:"
  return setmetatable({ store = st, reg = reg, c = st:connection(), k = M.keys(p),
    batch_size = opts.batch_size or 500 }, Queue)
end

------------------------------------------------------------------ push

-- The message's fields, checked by building it once with its constructor.
local function check_message(m)
  local kind = m.kind
  if not M.KINDS[kind] then
    raise("job.message: unknown kind '" .. tostring(kind) .. "' (expected toast, tile, "
      .. "flip_tile, iconic_tile, cycle_tile or raw)", 4)
  end
  local fields = store.copy(m)
  fields.kind = nil
  if fields.message_id ~= nil then
    raise("job.message: 'message_id' is set by the queue (one per job and channel)", 4)
  end
  local ok, err = pcall(mpns[kind], fields)
  if not ok then raise("job.message: " .. tostring(err):gsub("^.-:%d+: ", ""), 4) end
  return kind, fields
end

-- The audience as a list of { uri, os }, or nil, reason.
function Queue:resolve(a)
  check(a, AUDIENCE, "job.audience", 3)
  local n = 0
  for _ in pairs(a) do n = n + 1 end
  if n ~= 1 then raise("job.audience: give exactly one of uris, user, tag", 3) end
  local out = {}
  if a.uris then
    for i, uri in ipairs(a.uris) do
      local ok, err = self.reg:check_uri(uri)
      if not ok then raise("job.audience.uris[" .. i .. "]: " .. err:gsub("^mpns%.registry: ", ""), 3) end
      out[i] = { uri }
    end
  else
    local cursor, page = nil, nil
    repeat
      page, cursor = self.store:scan({ user = a.user, tag = a.tag }, cursor, 1000)
      if not page then return nil, cursor end
      for _, rec in ipairs(page) do out[#out + 1] = { rec.uri, rec.os } end
    until not cursor
  end
  if #out == 0 then
    return nil, PREFIX .. "job.audience " .. cjson.encode(a.uris and { uris = {} } or a)
      .. " matches no channel"
  end
  return out
end

-- The stream entries' bodies: JSON lists of "uri" or [uri, os].
local function batches(list, size)
  local out = {}
  for i = 1, #list, size do
    local b = {}
    for j = i, math.min(i + size - 1, #list) do
      local ch = list[j]
      b[#b + 1] = (ch[2] and ch[2] ~= "8.0") and ch or ch[1]
    end
    out[#out + 1] = cjson.encode(b)
  end
  return out
end

local function new_id()
  local f = io.open("/dev/urandom", "rb")
  local b = f and f:read(6) or tostring(math.random())
  if f then f:close() end
  return os.date("!%Y%m%d%H%M%S") .. "-" .. b:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
end

--- Queues a job: `message` (`kind` and that constructor's fields; no
--- `message_id`: each channel gets its own), `audience` (exactly one of
--- `uris` = a list of channel URIs, `user`, `tag`: the registry's channels
--- then), `max_retries` (sends rescheduled on retry_after, 3). A bad job
--- raises and queues nothing; an audience that matches nothing, or Redis
--- failing, is nil, err.
---@param job table
---@return string|nil job_id
---@return string|nil err
function Queue:push(job)
  if type(job) ~= "table" then raise("push expects a job table") end
  check(job, JOB, "job", 2)
  if not job.message then raise("job.message is required") end
  if not job.audience then raise("job.audience is required") end
  local kind, fields = check_message(job.message)
  local list, err = self:resolve(job.audience)
  if not list then return nil, err end
  local id, k = new_id(), self.k
  local cmds = { { "HSET", k.job(id), "kind", kind, "fields", store.encode(fields),
    "total", #list, "max_retries", job.max_retries or 3, "created_at", os.time() },
    { "ZADD", k.jobs, os.time(), id } }
  local bs = batches(list, self.batch_size)
  cmds[1][#cmds[1] + 1], cmds[1][#cmds[1] + 2] = "batches", #bs
  for i, body in ipairs(bs) do cmds[#cmds + 1] = { "XADD", k.stream, "*", "job", id, "n", i, "ch", body } end
  local ok
  ok, err = self.c:pipeline(cmds)
  if not ok then return nil, err end
  return id
end

--- Counts for one job, from Redis: total, done (channels with an outcome),
--- outcomes (outcome -> channels), sent (HTTP sends), resent (sends to a
--- channel after a crash left its fate unknown), retries (scheduled),
--- created_at. nil if there is no such job.
---@param id string
function Queue:summary(id)
  local k = self.k
  local res, err = self.c:pipeline({ { "HGETALL", k.job(id) }, { "HGETALL", k.sum(id) },
    { "HLEN", k.out(id) } })
  if not res then return nil, err end
  if #res[1] == 0 then return nil end
  local job, s = {}, { id = id, outcomes = {}, sent = 0, resent = 0, retries = 0, done = res[3] }
  for i = 1, #res[1], 2 do job[res[1][i]] = res[1][i + 1] end
  for i = 1, #res[2], 2 do
    local name, n = res[2][i], tonumber(res[2][i + 1])
    local outcome = name:match("^o:(.*)$")
    if outcome then s.outcomes[outcome] = n else s[name] = n end
  end
  s.kind, s.total, s.created_at = job.kind, tonumber(job.total), tonumber(job.created_at)
  s.finished = s.done >= s.total
  return s
end

function Queue:close()
  if self.store then self.reg:close(); self.store:close(); self.store = nil end
  return true
end

-- mpns.queue.push / summary: a queue opened on first use from MPNS_REDIS
-- (HOST:PORT, default 127.0.0.1:6379).
local default
local function default_queue()
  if default then return default end
  local addr = assert(require("mpns.store.redis.conn").parse_address(os.getenv("MPNS_REDIS")
    or "127.0.0.1:6379"))
  local q, err = M.open(addr)
  if not q then return nil, err end
  default = q
  return q
end

--- `Queue:push` on the default queue (MPNS_REDIS).
function M.push(job)
  local q, err = default_queue()
  if not q then return nil, err end
  return q:push(job)
end

--- `Queue:summary` on the default queue (MPNS_REDIS).
function M.summary(id)
  local q, err = default_queue()
  if not q then return nil, err end
  return q:summary(id)
end

return M
