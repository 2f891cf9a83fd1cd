-- The phone view's data: GET /phones/state.json (the page polls it) shows
-- each channel as its phone would: the Start-screen tiles as drawn from the
-- tile notifications and downloads it got, the toasts and raw notifications,
-- its switches, and the last pushes with MPNS's answers (from the access
-- log, so the push handler does no extra work for the view).
-- GET /phones/images/<md5> serves an image a phone downloaded.
local cjson = require "cjson.safe"
local config = require "mpns_emulator.config"
local state = require "mpns_emulator.state"
local record = require "mpns_emulator.record"
local fetch = require "mpns_emulator.fetch"
local stats = require "mpns_emulator.stats"

local ngx = ngx
local _M = {}

local LIMIT, SHOWN = 24, 6 -- phones per page by default; toasts, raws, pushes each
local LOG_TAIL = 262144    -- bytes of the access log read for the last pushes

local function decoded(list)
  for i, s in ipairs(list) do list[i] = cjson.decode(s) or {} end
  return list
end

-- A tile as the phone keeps it, created on its first update. A tile's
-- template cannot change, and the emulator does not refuse an update of
-- another one, so each template of a tile Id is drawn as a tile of its own
-- (a 7.x tile update is a flip tile's).
local function tile_for(tiles, id, template)
  template = template or ""
  local key = id .. "|" .. (template == "" and "FlipTile" or template)
  local t = tiles[key]
  if not t then
    t = { id = id, template = template, fields = {}, images = {}, failed = {}, key = key }
    tiles[key] = t
    tiles[#tiles + 1] = t
  end
  return t
end

-- What a schedule updates: the primary tile (the first drawn, if any).
local function primary(tiles)
  for _, t in ipairs(tiles) do
    if t.id == "" then return t end
  end
  return tile_for(tiles, "")
end

-- An image element's new value: shown when local or downloaded; otherwise
-- the tile keeps its previous image and the failure is kept beside it.
local function set_image(t, name, url, dl)
  local remote = url:find("^[hH][tT][tT][pP][sS]?://")
  if not remote then
    t.images[name], t.failed[name] = { url = url, ["local"] = true }, nil
  elseif dl and dl.outcome == "shown" then
    t.images[name], t.failed[name] = { url = url, src = "images/" .. dl.image }, nil
  else
    t.failed[name] = { url = url, outcome = dl and dl.outcome or "pending" }
  end
end

-- One tile notification applied: fields set, images fetched, Clear honoured.
local function apply(tiles, n)
  local attrs = n.attributes or {}
  local t = tile_for(tiles, attrs.Id or "", attrs.Template)
  local images = n.images or {}
  for name, v in pairs(n.fields or {}) do
    if name:find("Image%d*$") then set_image(t, name, v, images[name]) else t.fields[name] = v end
  end
  for _, name in ipairs(n.clear or {}) do
    t.fields[name], t.images[name], t.failed[name] = nil, nil, nil
  end
end

-- The Start screen: tile notifications and schedule downloads in time order.
local function tiles_of(notes, downloads)
  local tiles, by_seq, polls = {}, {}, {}
  for _, d in ipairs(downloads) do
    if d.schedule then polls[#polls + 1] = d
    elseif d.seq then
      by_seq[d.seq] = by_seq[d.seq] or {}
      by_seq[d.seq][d.field] = d
    end
  end
  local p = 1
  for _, n in ipairs(notes) do
    while polls[p] and polls[p].time < (n.time or 0) do
      set_image(primary(tiles), "BackgroundImage", polls[p].url, polls[p])
      p = p + 1
    end
    if n.kind == "tile" then
      n.images = by_seq[n.seq]
      apply(tiles, n)
    end
  end
  for i = p, #polls do set_image(primary(tiles), "BackgroundImage", polls[i].url, polls[i]) end
  table.sort(tiles, function(a, b) -- the primary tile first
    if (a.id == "") ~= (b.id == "") then return a.id == "" end
    return a.key < b.key
  end)
  for _, t in ipairs(tiles) do
    tiles[t.key], t.key = nil, nil
  end
  return tiles
end

-- The last `SHOWN` notifications of a kind, newest first, in short form.
local function last_of(notes, kind)
  local out = {}
  for i = #notes, 1, -1 do
    local n = notes[i]
    if n.kind == kind then
      out[#out + 1] = { time = n.time, fields = n.fields,
                        text = n.raw and ngx.decode_base64(n.raw) or nil }
      if #out == SHOWN then break end
    end
  end
  return out
end

-- The last pushes per channel from the tail of the access log (written
-- every second), newest first.
local function pushes_by_channel(wanted)
  local out = {}
  local f = io.open(config.prefix .. "/logs/access.log", "rb")
  if not f then return out end
  local size = f:seek("end")
  f:seek("set", size > LOG_TAIL and size - LOG_TAIL or 0)
  local text = f:read("*a") or ""
  f:close()
  if size > LOG_TAIL then text = text:gsub("^[^\n]*\n", "") end
  for line in text:gmatch("[^\n]+") do
    local r = cjson.decode(line)
    if r and r.channel and wanted[r.channel] and r.method == "POST" then
      local list = out[r.channel] or {}
      out[r.channel] = list
      table.insert(list, 1, r)
      list[SHOWN + 1] = nil
    end
  end
  return out
end

-- One phone: its channel record, tiles, messages and downloads.
local function phone(id, rec, pushes)
  local notes = state.received(id)
  for i, s in ipairs(notes) do notes[i] = cjson.decode(record.expand(s)) or {} end
  local downloads = decoded(state.fetch_log(id))
  local p = state.copy(rec)
  p.id, p.pushes_today, p.queued = id, state.pushes_today(id), #state.queued(id)
  if p.schedule then p.schedule = state.copy(p.schedule); p.schedule.token = nil end
  p.tiles = tiles_of(notes, downloads)
  p.toasts, p.raws = last_of(notes, "toast"), last_of(notes, "raw")
  p.downloads = {}
  for i = math.max(1, #downloads - SHOWN + 1), #downloads do p.downloads[#p.downloads + 1] = downloads[i] end
  p.pushes = pushes[id] or {}
  p.received = #notes
  return p
end

-- The channels the page asked for (?q= part of an id, ?limit=).
local function selected(args)
  local q, limit = args.q, tonumber(args.limit) or LIMIT
  local all, out = state.ids(), {}
  for _, id in ipairs(all) do
    if #out >= limit then break end
    if type(q) ~= "string" or q == "" or id:find(q, 1, true) then out[#out + 1] = id end
  end
  return out, #all
end

---GET /phones/state.json?q=&limit=: the phones the page draws.
function _M.state()
  local ids, total = selected(ngx.req.get_uri_args())
  local wanted = {}
  for _, id in ipairs(ids) do wanted[id] = true end
  local pushes = pushes_by_channel(wanted)
  local phones = {}
  for _, id in ipairs(ids) do
    local rec = state.find(id)
    if rec then
      phones[#phones + 1] = phone(id, rec, pushes)
    end
  end
  ngx.header.content_type = "application/json"
  ngx.header["Cache-Control"] = "no-store"
  ngx.say(cjson.encode { time = ngx.now(), total = total, phones = phones,
                         stats = stats.snapshot() })
end

---GET /phones/images/<md5>: an image phones downloaded, or 404.
---@param md5 string
function _M.image(md5)
  local bytes = state.image(md5)
  if not bytes then return ngx.exit(404) end
  ngx.header.content_type = fetch.image_type(bytes) == "png" and "image/png" or "image/jpeg"
  ngx.header["Cache-Control"] = "max-age=86400, immutable"
  ngx.print(bytes)
end

return _M
