-- User-space instructions per notification of bin/mpns-worker (callgrind),
-- for one or more checkouts: the steady figure on a shared machine, where
-- the CPU seconds of bench/queue.lua swing with the load. Per checkout, a
-- job of N1 and one of N2 channels of one emulator (a toast, as
-- bench/queue.lua pushes it) are each sent by one worker under callgrind
-- (50 in flight, --idle-exit 1); (I(N2) - I(N1)) / (N2 - N1) leaves out
-- start-up and the idle second. Each checkout's own lua/ and build/ run.
--   luajit bench/worker_instructions.lua [VM] [N1] [N2] [ROOT ...]
--   (luajit 1000 3000 .: compare with `git worktree add /tmp/base <commit>`
--   built there, passed as a second ROOT)
local emu = require "emu"           -- spec/emu.lua (bench/run's LUA_PATH)
local rs = require "redis"          -- spec/redis.lua
local proc = require "proc"
local check = require "queue_check"
local queue = require "mpns.queue"

local VM, N1, N2 = arg[1] or "luajit", tonumber(arg[2]) or 1000, tonumber(arg[3]) or 3000
local roots = {}
for i = 4, #arg do roots[#roots + 1] = arg[i] end
if #roots == 0 then roots[1] = "." end

local dir = proc.sh("mktemp -d /tmp/mpns-worker-callgrind.XXXXXX"):gsub("%s+$", "")
local e = assert(emu.start { keep = 4 })
local server = assert(rs.start())
local runs = 0

-- Instructions callgrind counted for one worker sending one n-channel job.
local function instructions(root, n)
  runs = runs + 1
  local tag = ("w%03d"):format(runs)    -- one length: URI lengths change libcurl's work
  local q = assert(queue.open { port = server.port, batch_size = 500, allowed_hosts = { "127.0.0.1:*" } })
  local id = assert(q:push { message = { kind = "toast", text1 = "Fan-out", text2 = "one toast to every channel" },
    audience = { uris = check.uris(e, tag, n) } })
  local lib = VM == "luajit" and "jit" or "5.4"
  local env = VM == "luajit" and "LUA_CPATH='%s/build/jit/?.so;;' LUA_PATH='%s/lua/?.lua;;'"
    or "LUA_CPATH_5_4='%s/build/5.4/?.so;;' LUA_PATH_5_4='%s/lua/?.lua;;'"
  local out = proc.sh(("cd %s && env " .. env .. " valgrind --tool=callgrind --callgrind-out-file=%s/%s.cg "
    .. "%s bin/mpns-worker --redis 127.0.0.1:%s --group g --consumer %s --concurrency 50 "
    .. "--allow-host '127.0.0.1:*' --status none --idle-exit 1 2>&1"):format(root, root, root, dir, tag, VM,
    server.port, tag))
  local got = q:summary(id).outcomes.received
  q:close()
  assert(got == n, root .. ": " .. tostring(got) .. " of " .. n .. " received (" .. lib .. ")")
  return tonumber((assert(out:match("Collected : (%d+)"), out)))
end

local ok, err = pcall(function()
  print(("worker instructions per notification, %s, jobs of %d and %d channels, load %s"):format(VM, N1, N2,
    (proc.read_file("/proc/loadavg") or ""):match("^(%S+)")))
  for _, root in ipairs(roots) do
    local a, b = instructions(root, N1), instructions(root, N2)
    print(("  %-30s %8.0f"):format(root, (b - a) / (N2 - N1)))
  end
end)
server:stop()
e:stop()
os.execute("rm -rf " .. dir)
if not ok then error(err, 0) end
