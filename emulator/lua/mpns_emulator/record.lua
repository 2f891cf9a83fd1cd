-- A notification as the phone got it. GET /control/channels/<id> shows it as
-- JSON: kind, class, message_id, time, seq, endpoint, service (TLS client
-- subject), fields, clear, attributes, xml (toast, tile) or raw (base64),
-- warnings.
--
-- Stored as "<body>\n<JSON of this request's own: kind ... seq>": the payload
-- as sent and no judgment of it, because judging is a function of the kind
-- and the bytes alone, so expand() judges it again when it is shown (rarely)
-- instead of every push building fields and JSON (long strings: LuaJIT 2.1
-- hashes them from a few sampled bytes, so personalised payloads, which
-- differ in a few bytes, share a chain of its string table and every new one
-- is compared with all of them). The JSON ends in what varies most, the
-- sequence number, so the stored strings themselves hash apart.
local cjson = require "cjson.safe"
local validate = require "mpns_emulator.validate"

local ngx = ngx
local byte, tostring, ipairs = string.byte, tostring, ipairs

local _M = {}
local seq = 0

-- This request's own part as JSON, for records with warnings of their own.
local function slow(c, rec)
  return cjson.encode { kind = rec.kind, class = rec.class, message_id = c.msgid,
    time = ngx.now(), seq = seq, endpoint = c.endpoint, service = c.service,
    warnings = rec.warnings }
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
-- validate.request's record; the payload: n bytes in view p (bytes.lua).
-- Built in one buffer from the request's own bytes: the only new long
-- string per push.
local buf = require("string.buffer").new(1024)

function _M.compact(c, rec, p, n)
  seq = seq + 1
  buf:reset()
  buf:putcdata(p, n)
  if rec.warnings then
    buf:put("\n", slow(c, rec))
  else
    buf:put('\n{"kind":"', rec.kind, '","class":', rec.class, ',"endpoint":"', c.endpoint,
      c.msgid and '","message_id":' or '"', c.msgid and quoted(c.msgid) or "",
      c.service and ',"service":' or "", c.service and quoted(c.service) or "",
      ',"time":', time_text(), ',"seq":', seq, "}")
  end
  return buf:tostring()
end

-- The seq of the record compact() made last (the phone's downloads name
-- the notification they belong to by it).
function _M.seq() return seq end

-- The JSON object of a stored record, the payload judged again.
function _M.expand(stored)
  local body, own = stored:match("^(.*)\n([^\n]*)$")
  local t = cjson.decode(own)
  if t.kind == "raw" then
    t.raw = ngx.encode_base64(body)
    return cjson.encode(t)
  end
  local m = validate.payload(t.kind, body) or {} -- it was accepted when pushed
  t.xml, t.fields, t.clear, t.attributes = body, m.fields, m.clear, m.attributes
  if m.warnings then
    t.warnings = t.warnings or {}
    for _, w in ipairs(m.warnings) do t.warnings[#t.warnings + 1] = w end
  end
  return cjson.encode(t)
end

return _M
