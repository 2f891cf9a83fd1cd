-- The phone's image downloads, as Windows Phone made them: a tile
-- notification that names a remote http(s) image makes the phone fetch it,
-- only from the domains the app allowed (the channel's allowed_domains), at
-- most config.image_max_bytes, within config.image_timeout seconds, PNG or
-- JPEG only. MPNS had already answered: downloads run after the answer, in
-- a few timers (config.fetchers) that drain one worker-local queue, so a
-- fan-out costs the push handler one table insert per image.
-- Each outcome goes to the channel's download log (state.log_fetch) with
-- the seq of the notification that asked for it.
local state = require "mpns_emulator.state"
local config = require "mpns_emulator.config"
local stats = require "mpns_emulator.stats"
local fetch = require "mpns_emulator.fetch"
local record = require "mpns_emulator.record"
local validate = require "mpns_emulator.validate"
local cache = require "mpns_emulator.cache"
local cjson = require "cjson.safe"
local find = string.find

local ngx = ngx
local _M = {}

-- The remote images of a payload judgment. Cycle images must be local
-- (validate warns): the phone never fetches them.
local NONE = {}

local function remote_images(fields)
  local out = NONE
  for name, v in pairs(fields) do
    if name:find("Image$") and v:find("^[hH][tT][tT][pP][sS]?://") then
      if out == NONE then out = {} end
      out[#out + 1] = { name, v }
    end
  end
  if out ~= NONE then table.sort(out, function(a, b) return a[1] < b[1] end) end
  return out
end

-- Waiting downloads: a worker-local FIFO (the emulator runs one worker).
local jobs, head, tail, running = {}, 1, 0, 0

local function record_outcome(job, outcome, detail, extra)
  local entry = extra or {}
  entry.seq, entry.field, entry.url, entry.schedule, entry.poll =
    job.seq, job.field, job.url, job.schedule, job.poll
  entry.outcome, entry.detail, entry.time = outcome, detail, ngx.now()
  state.log_fetch(job.id, entry)
  stats.event("images_" .. outcome)
end

-- The allowed_domains rule (a schedule's URI was the app's own choice).
local function allowed(job, u, ch)
  if job.schedule then return true end
  for _, d in ipairs(ch.allowed_domains or NONE) do
    if d == u.host then return true end
  end
  return false
end

-- One download, start to outcome.
local function run(job)
  local ch = state.find(job.id)
  if not ch then return end -- the channel was forgotten meanwhile
  local u = fetch.parse(job.url)
  if not u or not u.addr or not allowed(job, u, ch) then
    return record_outcome(job, "not_allowed")
  end
  local t0 = ngx.now()
  local outcome, body, detail = fetch.get(u, config.image_max_bytes, config.image_timeout)
  if not state.find(job.id) then return end -- forgotten (DELETE, reset) meanwhile
  local extra = { ms = math.floor((ngx.now() - t0) * 1000 + 0.5) }
  if body then
    extra.bytes, extra.type, extra.image = #body, fetch.image_type(body), state.store_image(body)
  end
  record_outcome(job, outcome, detail, extra)
end

-- MPNS and the phones share one worker here, where they were different
-- machines: downloads give way while tiles that ask for them keep arriving
-- (a fan-out), so they do not slow MPNS's answers, but never wait more than
-- a second per download.
local last_arrival = 0
local function give_way()
  for _ = 1, 20 do
    if ngx.now() - last_arrival > 0.05 then return end
    ngx.sleep(0.05)
  end
end

-- A fetcher: runs jobs until the queue is empty.
local function fetcher(premature)
  if premature then running = running - 1 return end
  while head <= tail do
    give_way()
    if head > tail then break end
    local job = jobs[head]
    jobs[head], head = nil, head + 1
    local ok, err = pcall(run, job)
    if not ok then
      ngx.log(ngx.ERR, "mpns emulator: download ", job.url, ": ", err)
      record_outcome(job, "unreachable", tostring(err))
    end
  end
  jobs, head, tail = {}, 1, 0
  running = running - 1
end

---Queues a download and makes sure enough fetchers run.
---@param job table { id, url, field, seq (the notification's) or schedule = true and poll }
local function enqueue(job)
  if tail - head + 1 >= config.fetch_queue then return record_outcome(job, "dropped", "download queue full") end
  tail = tail + 1
  jobs[tail] = job
  if running < config.fetchers then
    local ok, err = ngx.timer.at(0, fetcher)
    if ok then running = running + 1
    else ngx.log(ngx.ERR, "mpns emulator: download timer: ", err) end
  end
end
_M.enqueue = enqueue

-- Queues the downloads of one notification the phone got (seq).
local function want(id, images, seq)
  for i = 1, #images do
    enqueue { id = id, seq = seq, field = images[i][1], url = images[i][2] }
  end
end

-- A tile body's remote images, remembered per body (shared, read-only
-- tables) so a fan-out of one tile is parsed once; the judgment itself is no
-- longer kept past the request (validate.request), so it is made again here.
local remote_of = cache.new(1024, function(body)
  local m = validate.payload("tile", body)
  return m and m.fields and remote_images(m.fields) or NONE
end)

---A tile notification reached the phone (outcome.decide, on the hot path:
---nothing happens unless the body names an absolute URL).
---@param id string channel id
---@param body string the tile's payload
function _M.tile_received(id, body)
  if not find(body, "://", 1, true) then return end
  local images = remote_of:get(body)
  if images ~= NONE then
    last_arrival = ngx.now()
    want(id, images, record.seq())
  end
end

---Queued notifications just reached the phone (state.deliver_queue's list).
---@param id string
---@param stored string[] stored records
function _M.delivered(id, stored)
  for _, s in ipairs(stored) do
    local r = cjson.decode(record.expand(s))
    if r and r.kind == "tile" and r.fields then want(id, remote_images(r.fields), r.seq) end
  end
end

---Downloads waiting, and fetchers running, for the control API's stats.
---@return integer waiting
---@return integer running
function _M.pending() return tail - head + 1, running end

return _M
