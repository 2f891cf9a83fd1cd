-- A notification as the phone got it. GET /control/channels/<id> shows it as
-- JSON: kind, class, message_id, time, seq, endpoint, service (TLS client
-- subject), fields, clear, attributes, xml (toast, tile) or raw (base64),
-- warnings.
--
-- Stored compactly as "<payload key>|<tail>": the payload's JSON (fields ...
-- xml) is kept once per judgment in the mpns_payloads dict under its key, and
-- the tail holds what is this request's own. expand() joins them.
--
-- LuaJIT 2.1 hashes a long string from a few sampled bytes (start, end, the
-- middle, a quarter in), so same-length texts that differ elsewhere share one
-- chain of its string table and each new one is compared with all of them.
-- Hence each record ends in what varies most: time and sequence.
local cjson = require "cjson.safe"
local config = require "mpns_emulator.config"

local ngx = ngx
local byte, tostring = string.byte, tostring

local _M = {}
local seq, judgments = 0, 0

-- The key of the judgment's payload JSON (without braces), stored on first
-- use; the worker's pid keeps keys unique across reloads.
local function payload_key(m, body)
  if not m.key then
    judgments = judgments + 1
    m.key = "j:" .. ngx.worker.pid() .. ":" .. judgments
    local json = cjson.encode { fields = m.fields, clear = m.clear,
                                attributes = m.attributes, warnings = m.warnings, xml = body }
    local ok, err = ngx.shared.mpns_payloads:set(m.key, json:sub(2, -2))
    if not ok then ngx.log(ngx.WARN, "mpns emulator: payload not kept: ", err) end
  end
  return m.key
end

-- Everything in the tail, for raw notifications and records with warnings
-- of their own.
local function slow(c, rec, body)
  local m = rec.judged
  local t = { kind = rec.kind, class = rec.class, message_id = c.msgid, time = ngx.now(),
              seq = seq, endpoint = c.endpoint, service = c.service, warnings = rec.warnings }
  if m then
    t.fields, t.clear, t.attributes, t.xml = m.fields, m.clear, m.attributes, body
    if m.warnings then
      t.warnings = t.warnings or {}
      for _, w in ipairs(m.warnings) do t.warnings[#t.warnings + 1] = w end
    end
  else
    t.raw = ngx.encode_base64(body)
  end
  return "|" .. cjson.encode(t):sub(2)
end

-- A header value as a JSON string: as it is unless it holds a byte JSON
-- escapes (a byte loop: LuaJIT compiles it, a pattern it would not).
local function quoted(s)
  for i = 1, #s do
    local b = byte(s, i)
    if b < 32 or b == 34 or b == 92 or b == 127 then return cjson.encode(s) end
  end
  return '"' .. s .. '"'
end

-- ngx.now() as text, formatted once per value (it changes once per event
-- loop turn, not per request).
local now, now_text = -1, ""
local function time_text()
  local t = ngx.now()
  if t ~= now then now, now_text = t, tostring(t) end
  return now_text
end

-- The stored form. c: the request (msgid, endpoint, service); rec:
-- validate.request's record; body: the payload.
function _M.compact(c, rec, body)
  seq = seq + 1
  -- Without remembered judgments every payload is new: keep it inline.
  if rec.warnings or not rec.judged or config.memo == 0 then return slow(c, rec, body) end
  return payload_key(rec.judged, body) .. '|,"kind":"' .. rec.kind .. '","class":'
    .. rec.class .. ',"endpoint":"' .. c.endpoint
    .. (c.msgid and '","message_id":' .. quoted(c.msgid) or '"')
    .. (c.service and ',"service":' .. quoted(c.service) or "")
    .. ',"time":' .. time_text() .. ',"seq":' .. seq .. "}"
end

-- The seq of the record compact() made last (the phone's downloads name
-- the notification they belong to by it).
function _M.seq() return seq end

-- The JSON object of a stored record.
function _M.expand(stored)
  local key, tail = stored:match("^([^|]*)|(.*)$")
  if key == "" then return "{" .. tail end
  local payload = ngx.shared.mpns_payloads:get(key) or '"payload_evicted":true'
  return "{" .. payload .. tail
end

return _M
