-- Byte views: a payload read as p[i] (0-based, i < n) without making it a
-- Lua string. In nginx the view is a pointer into the request body buffer
-- (push.lua), so a body the fast path proves valid is never interned:
-- luajit2 hashes long strings from a few sampled bytes, and personalised
-- bodies, which differ in a few bytes, would share a chain of its string
-- table. Under LuaJIT a string's view is a pointer to its bytes (the caller
-- keeps the string alive); under Lua 5.4 (the specs) a proxy table.
local _M = {}

local ok, ffi = pcall(require, "ffi")
if ok then
  local cast, ffi_string, C = ffi.cast, ffi.string, ffi.C
  local BYTES = ffi.typeof("const uint8_t *")
  pcall(ffi.cdef, "int memcmp(const void *, const void *, size_t);") -- once per VM

  ---The position after literal s if view p (n bytes) holds it at i, or nil.
  -- One memcmp: a byte loop per literal would leave LuaJIT a side trace each.
  function _M.at(p, n, i, s)
    local m = #s
    if i + m <= n and C.memcmp(p + i, s, m) == 0 then return i + m end
    return nil
  end

  ---A string's bytes as a view and its length.
  function _M.view(s) return cast(BYTES, s), #s end

  ---Any pointer (char *, void *) as a view.
  function _M.cast(p) return cast(BYTES, p) end

  ---The n bytes of view p from position i (default 0) as a Lua string.
  function _M.string(p, n, i) return ffi_string(p + (i or 0), n) end
else
  local byte, sub = string.byte, string.sub
  local VIEW = { __index = function(t, i) return byte(rawget(t, "s"), i + 1) end }

  function _M.view(s) return setmetatable({ s = s }, VIEW), #s end

  function _M.at(p, _, i, s)
    local e = i + #s
    if sub(rawget(p, "s"), i + 1, e) == s then return e end
    return nil
  end

  function _M.string(p, n, i)
    i = i or 0
    return sub(rawget(p, "s"), i + 1, i + n)
  end
end

return _M
