-- User-space instructions per send of the libcurl client (callgrind) for
-- each way of making the messages, per checkout: what a send costs the
-- queue's worker beyond what it costs the client alone. Per mode and
-- checkout, one client sends N1 and then N2 toasts to the emulator's
-- channels (50 in flight) under callgrind; (I(N2) - I(N1)) / (N2 - N1).
--   luajit bench/send_instructions.lua [VM] [N1] [N2] [MODES] [ROOT ...]
--   (luajit 1000 3000 shared,idshared,perchannel,worker .)
-- Modes: shared (one toast for every send: bench/queue.lua's client),
-- idshared (one toast carrying an X-MessageID), perchannel (a toast built
-- per send, no id), worker (a toast per send with the queue's id for its
-- channel: mpns.queue.build, as the worker sends).
if arg[1] == "--child" then  -- one client run: --child MODE N PREFIX
  local mpns, queue = require "mpns", require "mpns.queue"
  local mode, n, prefix = arg[2], tonumber(arg[3]), arg[4]
  local fields = { text1 = "Fan-out", text2 = "one toast to every channel" }
  local shared = mpns.toast(fields)
  local with_id = mpns.toast { text1 = fields.text1, text2 = fields.text2,
    message_id = "0f8fad5b-d9cb-469f-a165-70867728950e" }
  local c, ok = mpns.client { max_connections = 50 }, 0
  local function done(res) if res and res.ok then ok = ok + 1 end end
  for i = 1, n do
    local uri, m = prefix .. i, nil
    if mode == "shared" then m = shared
    elseif mode == "idshared" then m = with_id
    elseif mode == "perchannel" then m = mpns.toast(fields)
    elseif mode == "worker" then m = queue.build("toast", fields, "job1", uri)
    else error("unknown mode " .. mode) end
    c:send_async(m, uri, done)
  end
  c:run()
  assert(ok == n, ok .. " of " .. n .. " received")
  return
end

local emu = require "emu"           -- spec/emu.lua (bench/run's LUA_PATH)
local proc = require "proc"

local VM, N1, N2 = arg[1] or "luajit", tonumber(arg[2]) or 1000, tonumber(arg[3]) or 3000
local modes, roots = arg[4] or "shared,idshared,perchannel,worker", {}
for i = 5, #arg do roots[#roots + 1] = arg[i] end
if #roots == 0 then roots[1] = "." end
local here = debug.getinfo(1, "S").source:match("^@(.*)$")
if here:sub(1, 1) ~= "/" then here = proc.sh("pwd"):gsub("%s+$", "") .. "/" .. here end

local dir = proc.sh("mktemp -d /tmp/mpns-send-callgrind.XXXXXX"):gsub("%s+$", "")
local e = assert(emu.start { keep = 4 })
local runs = 0

-- Instructions callgrind counted for one client run.
local function instructions(root, mode, n)
  runs = runs + 1
  local prefix = e.http_prefix .. ("s%03d-"):format(runs)   -- one length: URI lengths change libcurl's work
  local env = VM == "luajit" and "LUA_CPATH='%s/build/jit/?.so;;' LUA_PATH='%s/lua/?.lua;;'"
    or "LUA_CPATH_5_4='%s/build/5.4/?.so;;' LUA_PATH_5_4='%s/lua/?.lua;;'"
  local out = proc.sh(("env " .. env .. " valgrind --tool=callgrind --callgrind-out-file=%s/%d.cg %s %s --child %s %d %s 2>&1")
    :format(root, root, dir, runs, VM, here, mode, n, prefix))
  return tonumber((assert(out:match("Collected : (%d+)"), out)))
end

local ok, err = pcall(function()
  print(("client instructions per send, %s, %d and %d sends, load %s"):format(VM, N1, N2,
    (proc.read_file("/proc/loadavg") or ""):match("^(%S+)")))
  for mode in modes:gmatch("[^,]+") do
    for _, root in ipairs(roots) do
      local a, b = instructions(root, mode, N1), instructions(root, mode, N2)
      print(("  %-11s %-30s %8.0f"):format(mode, root, (b - a) / (N2 - N1)))
    end
  end
end)
e:stop()
os.execute("rm -rf " .. dir)
if not ok then error(err, 0) end
