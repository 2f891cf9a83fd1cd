--- mpns.store.redis.conn: one Redis connection for the Redis store, the
-- queue and the worker, over whichever client fits: cosockets
-- (lua-resty-redis, Debian's lua-nginx-redis) inside nginx where they may
-- yield, lua-redis + LuaSocket elsewhere. Every call returns nil, err on a
-- failure (never raises) and the next call reconnects, so a restarted Redis
-- is picked up by retrying. Replies: null is nil (a hole in arrays), a
-- status is its text ("OK").
local M = {}
local Conn = {}
Conn.__index = Conn

local unpack = table.unpack or unpack

-- Phases where cosockets work (and so lua-resty-redis does).
local YIELDABLE = { rewrite = true, access = true, content = true, timer = true,
  ssl_cert = true, ssl_session_fetch = true }

local function in_nginx()
  return ngx ~= nil and ngx.get_phase ~= nil and YIELDABLE[ngx.get_phase()] == true
end

-- lua-redis: Debian ships it for Lua 5.1-5.3 only; it runs unchanged on 5.4
-- (LuaSocket is there), so look for it in those directories too. Loaded from
-- its file: a test helper also called redis.lua may be first on the path.
local lua_redis
local function load_lua_redis()
  if lua_redis then return lua_redis end
  local path = package.path .. ";/usr/local/share/lua/5.3/?.lua;/usr/share/lua/5.3/?.lua;"
    .. "/usr/share/lua/5.1/?.lua"
  for dir in path:gmatch("[^;]+") do
    local file = dir:gsub("%?", "redis")
    local chunk = loadfile(file)
    if chunk then
      local ok, mod = pcall(chunk, "redis")
      if ok and type(mod) == "table" and mod.connect and mod.command then
        lua_redis = mod
        return mod
      end
    end
  end
  error("mpns.store.redis: lua-redis not found (apt-get install lua-redis lua-socket)", 0)
end

--- A connection (opened on first use). opts: host ("127.0.0.1"), port
--- (6379), timeout (seconds per call, 5), db. `conn.commands` counts the
--- commands sent (a pipeline's each), for the figures.
---@param opts table
function M.new(opts)
  return setmetatable({ host = opts.host or "127.0.0.1", port = opts.port or 6379,
    timeout = opts.timeout or 5, db = opts.db, shas = {}, commands = 0 }, Conn)
end

-- null -> nil, OK -> "OK", recursively through arrays.
local function norm(v)
  if v == true then return "OK" end
  if ngx and v == ngx.null then return nil end
  if type(v) == "table" and not v.queued then
    local n = 0
    for k in pairs(v) do if type(k) == "number" and k > n then n = k end end
    for i = 1, n do v[i] = norm(v[i]) end
  end
  return v
end

------------------------------------------------------------------ lua-redis

-- TCP_NODELAY: a command written while an earlier reply is unread
-- (Conn:send) must not wait for the ACK of the one before it (Nagle).
function Conn:socket()
  if self.c then return self.c end
  local redis = load_lua_redis()
  self.unread = 0
  self.c = redis.connect({ host = self.host, port = self.port, timeout = self.timeout, tcp_nodelay = true })
  if self.db then self:raw({ "SELECT", self.db }) end
  return self.c
end

-- "$<length>\r\n" for the lengths most arguments have, made once.
local LENGTH = {}
for i = 0, 512 do LENGTH[i] = "$" .. i .. "\r\n" end

-- Commands in the Redis protocol, appended to `out`: three pieces per
-- argument and one table.concat for the string written. (lua-redis makes
-- a string per argument, and Lua 5.3+ trips over its pipeline's
-- table.insert; with the length headers made once this takes 17 ns an
-- argument under LuaJIT against 36-42, 93-109 under Lua 5.4 against 141-209.)
local function resp(cmd, out)
  local n, k = cmd.n or #cmd, #out
  out[k + 1] = "*" .. n .. "\r\n"
  k = k + 1
  for i = 1, n do
    local a = cmd[i]
    if type(a) ~= "string" then a = tostring(a) end
    out[k + 1], out[k + 2], out[k + 3] = LENGTH[#a] or "$" .. #a .. "\r\n", a, "\r\n"
    k = k + 3
  end
end

local function write_lua(self, cmds)
  local c, buf = self:socket(), {}
  for _, cmd in ipairs(cmds) do resp(cmd, buf) end
  local _, err = c.network.socket:send(table.concat(buf))
  if err then error("connection error: " .. err, 0) end
  return c
end

-- lua-redis's reply reader, raw (lua-redis turns some replies, HGETALL's,
-- into maps; ours are as lua-resty-redis gives them): a command of its
-- own whose write does nothing. An error reply raises "redis error: ...".
local function nowrite() end
local function read_lua(c)
  if not c.x_read then
    local cmd = load_lua_redis().command("PING")
    c.x_read = function(client)
      local write = client.network.write
      client.network.write = nowrite
      local ok, res = pcall(cmd, client)
      client.network.write = write
      if not ok then error(res, 0) end
      return res
    end
  end
  return c:x_read()
end

function Conn:raw(cmd)
  return read_lua(write_lua(self, { cmd }))
end

-- Runs fn under pcall; a failure that is not Redis's answer drops the
-- socket. A kept socket found closed (Redis restarted while it sat idle) is
-- replaced and the call made once more: the old server never saw it.
function Conn:guard(fn, ...)
  local reused = self.c ~= nil
  local ok, res = pcall(fn, self, ...)
  if ok then return res end
  res = tostring(res)
  if not res:find("redis error: ", 1, true) and self.c then self:close() end
  if reused and res:find("closed", 1, true) and not res:find("redis error: ", 1, true) then
    ok, res = pcall(fn, self, ...)
    if ok then return res end
    res = tostring(res)
    if self.c and not res:find("redis error: ", 1, true) then self:close() end
  end
  return nil, "mpns.store.redis: " .. res:gsub("^.-redis error: ", "")
end

-- Writes the commands at once, then reads each reply.
local function pipeline_lua(self, cmds)
  local c, replies = write_lua(self, cmds), {}
  local ok, e = pcall(function()
    for i = 1, #cmds do replies[i] = read_lua(c) end
  end)
  if not ok then  -- replies left unread: this connection is out of step
    self:close()
    error(e, 0)
  end
  return replies
end

------------------------------------------------------------------ resty

local function resty_conn(self)
  local r = require("nginx.redis"):new()
  r:set_timeouts(self.timeout * 1000, self.timeout * 1000, self.timeout * 1000)
  local ok, err = r:connect(self.host, self.port)
  if not ok then return nil, "mpns.store.redis: connect: " .. tostring(err) end
  if self.db and r:get_reused_times() == 0 then r:select(self.db) end
  return r
end

local function resty_call(self, cmd)
  local r, err = resty_conn(self)
  if not r then return nil, err end
  local res
  res, err = r[cmd[1]:lower()](r, unpack(cmd, 2, cmd.n or #cmd))
  if res == nil then r:close(); return nil, "mpns.store.redis: " .. tostring(err) end
  r:set_keepalive(60000, 32)
  -- an error reply (NOSCRIPT after a restart, a script's error) is false, err
  if res == false and err then return nil, "mpns.store.redis: " .. err end
  return norm(res)
end

local function resty_pipeline(self, cmds)
  local r, err = resty_conn(self)
  if not r then return nil, err end
  r:init_pipeline(#cmds)
  for _, cmd in ipairs(cmds) do r[cmd[1]:lower()](r, unpack(cmd, 2, cmd.n or #cmd)) end
  local res
  res, err = r:commit_pipeline()
  if not res then r:close(); return nil, "mpns.store.redis: " .. tostring(err) end
  r:set_keepalive(60000, 32)
  for i = 1, #cmds do
    if type(res[i]) == "table" and res[i][1] == false then
      return nil, "mpns.store.redis: " .. tostring(res[i][2])
    end
  end
  return norm(res)
end

------------------------------------------------------------------ API

-- A synchronous call while replies of Conn:send are unread would read theirs.
local function in_step(self)
  if (self.unread or 0) > 0 then
    error("mpns.store.redis: " .. self.unread .. " replies of conn:send are unread (conn:receive first)", 3)
  end
end

--- One command: `conn:call("HGET", key, field)`; its reply or nil, err.
function Conn:call(...)
  in_step(self)
  local cmd = { n = select("#", ...), ... }
  self.commands = self.commands + 1
  if in_nginx() then return resty_call(self, cmd) end
  local res, err = self:guard(Conn.raw, cmd)
  if err then return nil, err end
  return norm(res)
end

--- Several commands in one round trip: `{ { "HGET", k, f }, ... }`; the
--- list of replies, or nil, err (the first error reply fails the lot).
function Conn:pipeline(cmds)
  in_step(self)
  if #cmds == 0 then return {} end
  self.commands = self.commands + #cmds
  if in_nginx() then return resty_pipeline(self, cmds) end
  local res, err = self:guard(pipeline_lua, cmds)
  if err then return nil, err end
  return norm(res)
end

--- Runs a script by its text: EVALSHA, loading it once per connection's
--- server (again after a restart: NOSCRIPT).
---@param src string the script
---@param nkeys integer
function Conn:eval(src, nkeys, ...)
  if self.shas[src] then
    local res, err = self:call("EVALSHA", self.shas[src], nkeys, ...)
    if not (err and err:find("NOSCRIPT", 1, true)) then return res, err end
    self:forget(src)
  end
  local ok, err = self:load(src)
  if not ok then return nil, err end
  return self:call("EVALSHA", self.shas[src], nkeys, ...)
end

--- The EVALSHA command for a pipeline (after `conn:eval` loaded it once).
function Conn:evalsha_cmd(src, nkeys, ...)
  return { "EVALSHA", self.shas[src], nkeys, ... }
end

--- Loads a script (SCRIPT LOAD) unless this connection already did: true,
--- or nil, err. `conn:forget(src)` after a NOSCRIPT reply loads it again.
function Conn:load(src)
  if self.shas[src] then return true end
  local sha, err = self:call("SCRIPT", "LOAD", src)
  if not sha then return nil, err end
  self.shas[src] = sha
  return true
end

function Conn:forget(src) self.shas[src] = nil end

--- Writes commands without reading their replies (lua-redis only: the
--- worker's), so Redis runs them while the caller does other work; read
--- them with `conn:receive()` before any other call. true or nil, err (then
--- nothing was written, or the connection is dropped).
function Conn:send(cmds)
  in_step(self)
  if #cmds == 0 then return true end
  self.commands = self.commands + #cmds
  local ok, err = self:guard(write_lua, cmds)
  if not ok then return nil, err end
  self.unread = #cmds
  return true
end

-- Reads the replies of the last send: each { ok = reply } or { err = text }
-- (an error reply leaves the connection in step); raises on a lost connection.
local function receive_lua(self)
  local c, out = self.c, {}
  for i = 1, self.unread do
    local ok, res = pcall(read_lua, c)
    if not ok and not tostring(res):find("redis error: ", 1, true) then error(res, 0) end
    out[i] = ok and { ok = norm(res) } or { err = "mpns.store.redis: " .. tostring(res):gsub("^.-redis error: ", "") }
  end
  self.unread = 0
  return out
end

--- True when the replies of the last `conn:send` have begun to arrive (or
--- none are awaited): reading them then hardly waits.
function Conn:ready()
  if (self.unread or 0) == 0 or not self.c then return true end
  local sock = self.c.network.socket
  if sock:dirty() then return true end   -- already in LuaSocket's buffer
  local readable = require("socket").select({ sock }, nil, 0)
  return readable[1] ~= nil
end

--- The replies of the last `conn:send`, in order: a list of { ok = reply }
--- or { err = message }; nil, err if the connection failed (it is dropped:
--- whether Redis ran those commands is unknown).
function Conn:receive()
  if (self.unread or 0) == 0 then return {} end
  local ok, res = pcall(receive_lua, self)
  if ok then return res end
  self:close()
  return nil, "mpns.store.redis: " .. tostring(res)
end

--- Drops the connection (lua-redis); safe to call twice.
function Conn:close()
  if self.c then pcall(self.c.network.socket.close, self.c.network.socket); self.c = nil end
  self.unread = 0
  return true
end

--- "host:port" as { host =, port = }, or nil, err.
function M.parse_address(s)
  local host, port = tostring(s):match("^%[?([^%]]*)%]?:(%d+)$")
  if not host then return nil, "expected HOST:PORT, got " .. tostring(s) end
  return { host = host, port = tonumber(port) }
end

return M
