--- mpns.store.redis.scripts: the Lua scripts the Redis store runs inside
-- Redis (EVALSHA): each write is atomic and one round trip. Keys are built
-- from the prefix in ARGV[1], so this needs one Redis, not a cluster.
-- Layout: P.."ch:"..uri a hash per channel (values as text, "" = cleared);
-- P.."all", P.."u:"..user, P.."o:"..os, P.."t:"..tag sorted sets of URIs
-- scored by insertion order (P.."seq"); P.."dev" hash device -> URI.
local COMMON = [[
local P = ARGV[1]
local function key(u) return P .. 'ch:' .. u end
local FIELDS = { 'user', 'device', 'os', 'tags', '_seq' }
local function current(u)
  local v = redis.call('HMGET', key(u), unpack(FIELDS))
  local c = {}
  for i, f in ipairs(FIELDS) do if v[i] and v[i] ~= '' then c[f] = v[i] end end
  return c
end
-- The index sets a record with these values belongs to.
local function sets(c)
  local out = { P .. 'all' }
  if c.user then out[#out + 1] = P .. 'u:' .. c.user end
  if c.os then out[#out + 1] = P .. 'o:' .. c.os end
  for _, t in ipairs(cjson.decode(c.tags or '[]')) do out[#out + 1] = P .. 't:' .. t end
  return out
end
local function unindex(u, c) for _, s in ipairs(sets(c)) do redis.call('ZREM', s, u) end end
local function index(u, c) for _, s in ipairs(sets(c)) do redis.call('ZADD', s, c._seq, u) end end
local function drop(u)
  local c = current(u)
  unindex(u, c)
  if c.device then redis.call('HDEL', P .. 'dev', c.device) end
  redis.call('DEL', key(u))
end
-- Sets user / os / tags where given and different; true if any changed.
local function apply(u, c, given)
  local n, changed = {}, false
  for k, v in pairs(c) do n[k] = v end
  for _, f in ipairs({ 'user', 'os', 'tags' }) do
    if given[f] and given[f] ~= c[f] then
      n[f] = given[f] ~= '' and given[f] or nil
      changed = true
      redis.call('HSET', key(u), f, given[f])
    end
  end
  if changed then unindex(u, c); index(u, n) end
  return changed
end
]]

local M = {}

-- ARGV: prefix, uri, user, device, os, tags JSON, now ("" = not given).
-- Returns { HGETALL, is_new (0/1), replaced uri or false }.
M.subscribe = COMMON .. [[
local uri, dev, now = ARGV[2], ARGV[4], ARGV[7]
local given = { user = ARGV[3] ~= '' and ARGV[3] or nil, os = ARGV[5] ~= '' and ARGV[5] or nil,
  tags = ARGV[6] ~= '' and ARGV[6] or nil }
local k = key(uri)
if dev == '' then dev = nil end
-- A device changes hands only between the same user (or two without one):
-- otherwise the channel is kept without it, as the other stores do.
if dev then
  local holder = redis.call('HGET', P .. 'dev', dev)
  if holder and holder ~= uri then
    local u = given.user
    if not u and redis.call('EXISTS', k) == 1 then u = redis.call('HGET', k, 'user') end
    if (u or false) ~= (redis.call('HGET', key(holder), 'user') or false) then dev = nil end
  end
end
if redis.call('EXISTS', k) == 1 then
  local c, old, changed = current(uri), false, false
  if dev and dev ~= c.device then
    changed = true
    local other = redis.call('HGET', P .. 'dev', dev)
    if other and other ~= uri then drop(other); old = other end
    if c.device then redis.call('HDEL', P .. 'dev', c.device) end
    redis.call('HSET', P .. 'dev', dev, uri)
    redis.call('HSET', k, 'device', dev)
  end
  changed = apply(uri, c, given) or changed
  if changed then redis.call('HSET', k, 'updated_at', now) end
  return { redis.call('HGETALL', k), 0, old }
end
local other = dev and redis.call('HGET', P .. 'dev', dev)
if other then
  local c = current(other)
  unindex(other, c)
  redis.call('RENAME', key(other), k)
  redis.call('HSET', k, 'uri', uri, 'updated_at', now)
  redis.call('HSET', P .. 'dev', dev, uri)
  index(uri, c)
  apply(uri, c, given)
  return { redis.call('HGETALL', k), 0, other }
end
local c = { os = '8.0', tags = '{}', device = dev, _seq = redis.call('INCR', P .. 'seq') }
redis.call('HSET', k, 'uri', uri, 'os', c.os, 'tags', c.tags, 'counter', 0,
  'created_at', now, 'updated_at', now, '_seq', c._seq)
if dev then
  redis.call('HSET', k, 'device', dev)
  redis.call('HSET', P .. 'dev', dev, uri)
end
index(uri, c)
apply(uri, c, given)
return { redis.call('HGETALL', k), 1, false }
]]

-- ARGV: prefix, uri. Returns 1 if it existed.
M.delete = COMMON .. [[
if redis.call('EXISTS', key(ARGV[2])) == 0 then return 0 end
drop(ARGV[2])
return 1
]]

-- ARGV: prefix, then per update: uri, field count, field, value, ...
-- (values encoded; "" clears), or uri, "=": the previous update's fields
-- (update_many: a fan-out's run of equal outcomes costs one argument more
-- per channel, not twenty). Returns 1 if the last update's channel exists,
-- else 0 (one reply, not one per channel: a flush updates hundreds).
M.update = COMMON .. [[
local last, i, args, given = 0, 2, nil, nil
while i <= #ARGV do
  local uri, n = ARGV[i], ARGV[i + 1]
  if n == '=' then  -- the previous entry's fields again (update_many)
    i = i + 2
  else
    n, args, given = tonumber(n), {}, {}
    for j = i + 2, i + 1 + 2 * n, 2 do
      args[#args + 1], args[#args + 2] = ARGV[j], ARGV[j + 1]
      local f = ARGV[j]
      if f == 'user' or f == 'os' or f == 'tags' then given[f] = ARGV[j + 1] end
    end
    i = i + 2 + 2 * n
  end
  if redis.call('EXISTS', key(uri)) == 1 then
    if next(given) then apply(uri, current(uri), given) end
    redis.call('HSET', key(uri), unpack(args))
    last = 1
  else
    last = 0
  end
end
return last
]]

-- ARGV: prefix, uri, field, n. Returns the new value as text, or false.
M.incr = COMMON .. [[
local k = key(ARGV[2])
if redis.call('EXISTS', k) == 0 then return false end
if redis.call('HGET', k, ARGV[3]) == '' then redis.call('HSET', k, ARGV[3], 0) end
return redis.call('HINCRBYFLOAT', k, ARGV[3], ARGV[4])
]]

-- ARGV: prefix, index set, after (score, exclusive; "-inf" at the start),
-- limit. Returns { { HGETALL, ... }, last score or false, members read }.
M.scan = [[
local P = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', ARGV[2], ARGV[3], '+inf', 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[4]))
local out, last = {}, false
for i = 1, #ids, 2 do
  local h = redis.call('HGETALL', P .. 'ch:' .. ids[i])
  if #h > 0 then out[#out + 1] = h end
  last = ids[i + 1]
end
return { out, last, #ids / 2 }
]]

return M
