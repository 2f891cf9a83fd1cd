--- bench/registry.lua: the SQLite registry's figures (issue 11).
--   1. reg:subscribe of N distinct channels, one call (one transaction) each;
--   2. the same N again: all duplicates, the row count must stay N;
--   3. reg:subscribe_many of N distinct channels, 1,000 a call;
--   4. reg:record of N outcomes (buffered, the default flush_every);
--   5. reg:set_tile on the first N channels, one call (one commit) each: rows
--      of ~600 bytes, what a stored tile costs;
--   6. reg:record of another outcome on those N: updates of rows with a tile;
--   7. reading all 2N back through reg:channels{};
--   8. the floor: the same distinct writes as 1. through LuaDBI alone (one
--      INSERT each, its own transaction; the schema's trigger adds the tag row).
-- Each into a fresh database file in a temp dir; wall time from socket.gettime,
-- CPU from os.clock. Prints one line per step: the median of ROUNDS rounds,
-- the SQL statements each call ran (LuaDBI executes, counted), and the write
-- system calls and bytes a call (/proc/self/io: syscw, wchar; the first round's).
--   lua5.4 bench/registry.lua [N] [ROUNDS]   (or luajit; run from the repo root)
--   lua5.4 bench/registry.lua N 1 sync       step 1 only, under synchronous = OFF, NORMAL, FULL
--   lua5.4 bench/registry.lua N R sqlite-vfs every step through SQLite's own VFS (gather_wal = false)
local mpns = require "mpns"

local N = tonumber(arg[1]) or 100000
local ROUNDS = tonumber(arg[2]) or 3
local PREFIX = "http://sn1.notify.live.net/throttledthirdparty/01.00/"

local wall = require("socket").gettime  -- wall clock (lua-socket, both ABIs)

-- A realistic channel id: 60-odd URL-safe characters, distinct per i.
local function uri(i) return PREFIX .. string.format("AAF%09dQAAAAQUZm52OkJCMjg1QTg1QkZDMkUxREQFBlVTTkMwMQ", i) end

local function fields(i)
  return { uri = uri(i), user = "user" .. (i % 20000), os = (i % 3 == 0) and "7.1" or "8.0",
    tags = { "news" } }
end

local function answer(status)
  return mpns.parse_response(200, { ["X-NotificationStatus"] = status,
    ["X-DeviceConnectionStatus"] = "Connected", ["X-SubscriptionStatus"] = "Active" })
end
local RESULT, SUPPRESSED = answer("Received"), answer("Suppressed")

-- A flip tile of ~400 bytes of JSON, distinct per channel.
local function tile(i)
  return { kind = "flip_tile", title = "Scores " .. i, count = i % 99,
    background_image = "http://img.example.com/tiles/" .. i .. "/front-background-image.png",
    back_title = "Latest", back_content = "Home 2 - 1 Away, 87th minute, corner kick pending " .. i,
    back_background_image = "http://img.example.com/tiles/" .. i .. "/back.png" }
end

local STEPS = {
  { "subscribe, distinct", function(reg)
    for i = 1, N do assert(reg:subscribe(fields(i))) end
  end },
  { "subscribe, all duplicates", function(reg)
    for i = 1, N do
      local _, is_new = assert(reg:subscribe(fields(i)))
      assert(is_new == false)
    end
  end, function(reg) assert(reg:count{ all = true } == N, "row count changed") end },
  { "subscribe_many, 1,000 a call", function(reg)
    local k = 0
    for from = 1, N, 1000 do
      local list = {}
      for i = from, math.min(from + 999, N) do list[#list + 1] = fields(N + i) end
      k = k + assert(reg:subscribe_many(list))
    end
    assert(k == N)
  end },
  { "record, buffered", function(reg)
    for i = 1, N do reg:record(uri(i), RESULT, "raw") end
    assert(reg:flush())
  end, function(reg) assert(reg:get(uri(N)).app_running == true) end },
  { "set_tile, one a call", function(reg)
    for i = 1, N do assert(reg:set_tile(uri(i), tile(i))) end
  end },
  { "record, rows with a tile", function(reg)
    for i = 1, N do reg:record(uri(i), SUPPRESSED, "raw") end
    assert(reg:flush())
  end, function(reg) assert(reg:get(uri(N)).app_running == false) end },
  { "channels{} read back", function(reg)
    local n = 0
    for _ in reg:channels{ all = true } do n = n + 1 end
    assert(n == 2 * N)
    return n
  end },
  -- The floor: what the same distinct writes cost through LuaDBI alone: one
  -- INSERT each, its own transaction (the schema's trigger writes the tag row).
  { "floor: bare LuaDBI, distinct", function(reg)
    local db = reg.store.db
    local ins = assert(db:prepare("INSERT INTO channels (uri, user, os, tags, created_at, "
      .. "updated_at) VALUES (?, ?, ?, ?, 1, 1)"))
    for i = 1, N do
      local f = fields(2 * N + i)
      assert(ins:execute(f.uri, f.user, f.os, '["news"]'))
    end
    ins:close()
  end },
}

-- Counts the statements LuaDBI executes (every statement object shares one metatable).
local executed = 0
local function count_statements(db)
  local st = assert(db:prepare("SELECT 1"))
  local mt = getmetatable(st)
  st:close()
  local execute = mt.execute
  mt.execute = function(...) executed = executed + 1; return execute(...) end
end

-- Write system calls and bytes so far (Linux; zeros elsewhere).
local function written()
  local f = io.open("/proc/self/io")
  if not f then return 0, 0 end
  local s = f:read("a")
  f:close()
  return tonumber(s:match("syscw: (%d+)")), tonumber(s:match("wchar: (%d+)"))
end

local function run_round(dir)
  local reg = assert(mpns.registry.open{ path = dir .. "/push.db", gather_wal = arg[3] ~= "sqlite-vfs" })
  if executed == 0 then count_statements(reg.store.db) end
  local out = {}
  for s, step in ipairs(STEPS) do
    collectgarbage()
    local sw, sb = written()
    local w, c, e = wall(), os.clock(), executed
    local n = step[2](reg) or N
    local ew, eb = written()
    out[s] = { n / (wall() - w), n / (os.clock() - c), (executed - e) / n, (ew - sw) / n, (eb - sb) / n / 1024 }
    if step[3] then step[3](reg) end
  end
  reg:close()
  return out
end

-- Step 1 under each `synchronous` setting, one fresh file each.
if arg[3] == "sync" then
  for _, sync in ipairs { "OFF", "NORMAL", "FULL" } do
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. dir))
    local reg = assert(mpns.registry.open{ path = dir .. "/push.db", synchronous = sync })
    local w, c = wall(), os.clock()
    STEPS[1][2](reg)
    print(string.format("synchronous = %-6s subscribe, distinct %7.0f /s  (%7.0f /s CPU)", sync,
      N / (wall() - w), N / (os.clock() - c)))
    reg:close()
    os.execute("rm -rf " .. dir)
  end
  return
end

local rounds = {}
for r = 1, ROUNDS do
  local dir = os.tmpname()
  os.remove(dir)
  assert(os.execute("mkdir -p " .. dir))
  rounds[r] = run_round(dir)
  os.execute("rm -rf " .. dir)
end

local vm = jit and jit.version or _VERSION
print(string.format("%s, N = %d, median of %d rounds (wall; CPU in brackets):", vm, N, ROUNDS))
for s, step in ipairs(STEPS) do
  local walls, cpus = {}, {}
  for r = 1, ROUNDS do walls[r], cpus[r] = rounds[r][s][1], rounds[r][s][2] end
  table.sort(walls)
  table.sort(cpus)
  local m = math.floor((ROUNDS + 1) / 2)
  print(string.format("  %-30s %9.0f /s  (%9.0f /s CPU)  %5.2f statements, %5.2f writes, %5.2f KB a call",
    step[1], walls[m], cpus[m], rounds[1][s][3], rounds[1][s][4], rounds[1][s][5]))
end
