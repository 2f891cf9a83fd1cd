-- Test helper: starts redis-server on a free port in a temp dir (no
-- persistence unless asked), talks to it with redis-cli, stops it by PID.
-- Lua 5.4 and LuaJIT; needs only redis-server and redis-cli.
--   local r = assert(redis.start())            -- or redis.start{ aof = true }
--   r:cli("DBSIZE"); r:restart(); r:stop()
local proc = require "proc"

local redis = {}
local Server = {}
Server.__index = Server

local quote = proc.quote

-- A port from /dev/urandom (no shared random state with other helpers).
local function random_port()
  local f = assert(io.open("/dev/urandom", "rb"))
  local hi, lo = f:read(2):byte(1, 2)
  f:close()
  return 32001 + (hi * 256 + lo) % 28000
end

--- One redis-cli command; returns its output without the trailing newline.
function Server:cli(...)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = quote(a) end
  return (proc.sh("redis-cli -p " .. self.port .. " " .. table.concat(args, " ")
    .. " 2>&1"):gsub("\n$", ""))
end

-- Starts redis-server on self.port in self.dir; true, or nil and the log.
function Server:launch()
  local persist = self.aof and "--appendonly yes --appendfsync everysec"
    or "--appendonly no"
  local out = proc.sh("cd " .. quote(self.dir) .. " && redis-server --port " .. self.port
    .. " --bind 127.0.0.1 --dir " .. quote(self.dir) .. " --save '' " .. persist
    .. " --logfile redis.log >/dev/null 2>&1 & echo $!")
  self.pid = tonumber(out:match("(%d+)"))
  for _ = 1, 200 do
    if not proc.alive(self.pid) then
      return nil, proc.read_file(self.dir .. "/redis.log") or "redis-server exited"
    end
    if self:cli("PING") == "PONG" then return true end
    os.execute("sleep 0.05")
  end
  return nil, "redis-server did not answer within 10 s"
end

--- Starts a server; opts.aof = true turns the append-only file on.
---@return table|nil server with host, port, pid, dir, url
function redis.start(opts)
  opts = opts or {}
  local err
  for _ = 1, 10 do
    local dir = proc.sh("mktemp -d /tmp/mpns-redis.XXXXXX"):gsub("%s+$", "")
    local s = setmetatable({ host = "127.0.0.1", port = random_port(), dir = dir,
      aof = opts.aof }, Server)
    s.url = s.host .. ":" .. s.port
    local ok, why = s:launch()
    if ok then return s end
    err = why
    s:stop()
    if not tostring(why):find("in use", 1, true) then break end
  end
  return nil, "redis-server did not start: " .. tostring(err)
end

--- Kills the server (-9 when `hard`) and starts it again on the same port
--- and dir: with AOF on, the data comes back.
function Server:restart(hard)
  if hard then os.execute("kill -KILL " .. self.pid) end
  proc.stop(self.pid)
  return self:launch()
end

--- Stops by PID and removes the dir; safe to call twice.
function Server:stop()
  if self.pid then proc.stop(self.pid); self.pid = nil end
  if self.dir then os.execute("rm -rf " .. quote(self.dir)); self.dir = nil end
  return true
end

return redis
