-- A notification as the phone got it, as the JSON text that the channel's
-- list keeps and GET /control/channels/<id> returns:
--   kind, class, message_id, time, endpoint, service (TLS client subject),
--   fields, clear, attributes, xml (toast, tile) or raw (base64), warnings.
local cjson = require "cjson.safe"

local ngx = ngx
local concat, find = table.concat, string.find

local _M = {}

-- The payload's part of the JSON, made once per judgment (judgments are
-- shared by every request with the same bytes).
local function payload_json(m, body)
  if not m.json then
    m.json = cjson.encode { fields = m.fields, clear = m.clear, attributes = m.attributes,
                            warnings = m.warnings, xml = body }
  end
  return m.json
end

-- Everything in one table, for the rare record with warnings of its own.
local function slow(c, rec, body)
  local m = rec.judged
  local t = { kind = rec.kind, class = rec.class, message_id = c.msgid, time = ngx.now(),
              endpoint = c.endpoint, service = c.service, warnings = rec.warnings }
  if m then
    t.fields, t.clear, t.attributes, t.xml = m.fields, m.clear, m.attributes, body
    for _, w in ipairs(m.warnings or {}) do t.warnings[#t.warnings + 1] = w end
  else
    t.raw = ngx.encode_base64(body)
  end
  return cjson.encode(t)
end

-- c: the request (msgid, endpoint, service); rec: validate.request's record.
function _M.json(c, rec, body)
  if rec.warnings or not rec.judged then return slow(c, rec, body) end
  local head = concat { '{"kind":"', rec.kind, '","class":', rec.class, ',"time":',
    ngx.now(), ',"endpoint":"', c.endpoint, '"' }
  local extra = ""
  local id = c.msgid
  if id then -- a UUID needs no escaping; anything else goes through cjson
    extra = ',"message_id":' .. (find(id, "^[%w%-]*$") and '"' .. id .. '"' or cjson.encode(id))
  end
  if c.service then extra = extra .. ',"service":' .. cjson.encode(c.service) end
  -- Splice the payload's object in: drop its braces.
  local p = payload_json(rec.judged, body)
  return concat { head, extra, ",", p:sub(2, -2), "}" }
end

return _M
