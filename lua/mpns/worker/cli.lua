--- mpns.worker.cli: the command line of bin/mpns-worker.
local conn = require "mpns.store.redis.conn"

local USAGE = [[
Usage: mpns-worker [options]
Sends the batches of mpns.queue jobs from Redis to MPNS (see README, "Scale-out on Redis").

  --redis HOST:PORT     the Redis server (127.0.0.1:6379, or $MPNS_REDIS)
  --group G             the consumer group (mpns); workers of one group share the work
  --consumer NAME       this worker's name in the group (host name + random suffix)
  --concurrency N       sends in flight at once, also libcurl's max_connections (50)
  --visibility S        seconds before another worker takes a silent worker's batches (30)
  --prefix P            the Redis key prefix of the registry and queue (mpns:)
  --allow-host H        a channel host beside *.notify.live.net: host, *.suffix,
                        each with :port or :* (repeatable; no port: 80 or 443)
  --timeout S           seconds per send attempt (15)
  --status MODE         auto (status line on a terminal, else log lines), line, log, none
  --idle-exit S         exit after S seconds without work
  --help                this text

SIGTERM (or Ctrl-C) stops it gracefully: it claims nothing more, finishes and
records the batches it holds, acknowledges them and exits 0 (1 when Redis
stayed unreachable for 10 s meanwhile: those sends are sent again by another
worker after --visibility seconds). A second signal
ends it at once; its unfinished batches go to another worker after
--visibility seconds.]]

local FLAGS = { ["--group"] = "group", ["--consumer"] = "consumer", ["--concurrency"] = "concurrency",
  ["--visibility"] = "visibility", ["--prefix"] = "prefix", ["--status"] = "status",
  ["--idle-exit"] = "idle_exit", ["--timeout"] = "timeout" }
local NUMBERS = { concurrency = true, visibility = true, idle_exit = true, timeout = true }

-- The worker's options from argv, or nil, message.
local function parse(argv)
  local o, addr = { allowed_hosts = {} }, os.getenv("MPNS_REDIS") or "127.0.0.1:6379"
  local i = 1
  while argv[i] do
    local a, v = argv[i], argv[i + 1]
    if a == "--help" or a == "-h" then return "help" end
    if v == nil then return nil, "mpns-worker: " .. a .. " needs a value" end
    if a == "--redis" then addr = v
    elseif a == "--allow-host" then o.allowed_hosts[#o.allowed_hosts + 1] = v
    elseif FLAGS[a] then
      local k = FLAGS[a]
      o[k] = NUMBERS[k] and tonumber(v) or v
      if o[k] == nil then return nil, "mpns-worker: " .. a .. " expected a number, got " .. v end
    else return nil, "mpns-worker: unknown option " .. a .. " (see --help)" end
    i = i + 2
  end
  local at, err = conn.parse_address(addr)
  if not at then return nil, "mpns-worker: --redis " .. err end
  o.host, o.port = at.host, at.port
  if o.timeout then o.client = { timeout = o.timeout }; o.timeout = nil end
  return o
end

-- SIGTERM and SIGINT ask the worker to stop: the C core's handler only
-- sets a flag (no Lua runs inside it), which the worker polls each round;
-- the same under Lua 5.4 and LuaJIT. A second signal ends it at once.
local function on_signals(w)
  local core = require "mpns.core"
  if not core.trap_signals() then return false end
  w.check_stop = core.caught_signal
  return true
end

return function(worker)
  --- bin/mpns-worker: returns the exit code.
  return function(argv)
    local o, err = parse(argv)
    if o == "help" then print(USAGE); return 0 end
    if not o then io.stderr:write(err, "\n"); return 2 end
    local w
    w, err = worker.new(o)
    if not w then io.stderr:write("mpns-worker: ", tostring(err), "\n"); return 1 end
    on_signals(w)
    local ok, rerr = w:run()
    w:close()
    if not ok then io.stderr:write("mpns-worker: ", tostring(rerr), "\n"); return 1 end
    return 0
  end
end
