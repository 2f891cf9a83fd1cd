-- A bounded memo for the hot path: cache:get(k) is make(k), computed once while
-- remembered. When `limit` entries are held it starts afresh, which costs
-- nothing per hit (no LRU bookkeeping) and refills with what is in use.
-- Every caller of cache:get(k) shares the value.
local setmetatable = setmetatable

local _M = {}

local Cache = {}
Cache.__index = Cache

function Cache:get(k)
  local v = self.t[k]
  if v == nil then
    v = self.make(k)
    if self.n >= self.limit then self.t, self.n = {}, 0 end
    self.t[k], self.n = v, self.n + 1
  end
  return v
end

-- Forgets everything.
function Cache:clear() self.t, self.n = {}, 0 end

function _M.new(limit, make)
  return setmetatable({ t = {}, n = 0, limit = limit, make = make }, Cache)
end

return _M
