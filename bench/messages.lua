--- bench/messages.lua: how fast a toast is built from Lua (constructor +
-- body), beside a plain-Lua string.format builder that escapes with gsub,
-- and beside the VM's floor: a C constructor that builds nothing
-- (bench/floor.c). Prints the medians of 5 rounds of N messages per
-- builder, and of each round's own ratios. Every toast is personalised (its
-- own text1), as a real app's are; --same builds one identical toast over
-- and over instead.
-- Usage: lua5.4 bench/messages.lua [N] [--same] [--only mpns|floor|lua]
-- (make bench runs both ABIs; --only builds N once with one builder and
-- prints nothing, for callgrind: instructions per toast are the difference
-- between two N divided by their difference).
local mpns = require "mpns"

local USAGE = "usage: messages.lua [N] [--same] [--only mpns|floor|lua]"
local N, SAME, ONLY = 1000000, false, nil
local args = arg or {}
for i, a in ipairs(args) do
  if a == "--same" then SAME = true
  elseif a == "--only" then ONLY = assert(args[i + 1], USAGE)
  elseif args[i - 1] ~= "--only" then N = assert(tonumber(a), USAGE) end
end
local RUNS = 5

-- text1 for message i: "Alice, your order 4711 shipped", or always "Score".
local function text1(i) return SAME and "Score" or "Alice, your order " .. i .. " shipped" end

local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }
local function esc(s) return (s:gsub("[&<>\"']", ESC)) end

local FORMAT = '<?xml version="1.0" encoding="utf-8"?><wp:Notification xmlns:wp="WPNotification">'
  .. "<wp:Toast><wp:Text1>%s</wp:Text1><wp:Text2>%s</wp:Text2><wp:Param>%s</wp:Param>"
  .. "</wp:Toast></wp:Notification>"

local function plain_lua(i)
  local t = { text1 = text1(i), text2 = "Home 2 – 1 Away", param = "/Match.xaml?id=7&tab=live" }
  return FORMAT:format(esc(t.text1), esc(t.text2), esc(t.param)), i
end

local toast = mpns.toast
local function c_core(i)
  return toast{ text1 = text1(i), text2 = "Home 2 – 1 Away",
    param = "/Match.xaml?id=7&tab=live" }:body(), i
end

local function rate(fn)
  collectgarbage()
  local t0 = os.clock()
  for i = 1, N do fn(i) end
  return N / (os.clock() - t0)
end

local function median(list)
  table.sort(list)
  return list[math.floor((#list + 1) / 2)]
end

local new_floor = require "floor"
local function floor(i)
  return new_floor{ text1 = text1(i), text2 = "Home 2 – 1 Away",
    param = "/Match.xaml?id=7&tab=live" }:body(), i
end

if ONLY then
  local fn = assert(({ mpns = c_core, floor = floor, lua = plain_lua })[ONLY], USAGE)
  for i = 1, N do fn(i) end
  return
end

-- Each round times the three builders back to back, and the ratios are the
-- medians of each round's own: on a shared machine load moves a round's
-- three rates together, while rounds far apart see different loads.
assert(plain_lua(1) == c_core(1), "the two builders must build the same payload")
local r = { c = {}, lua = {}, floor = {}, vs_lua = {}, vs_floor = {} }
for i = 1, RUNS do
  r.c[i], r.lua[i], r.floor[i] = rate(c_core), rate(plain_lua), rate(floor)
  r.vs_lua[i], r.vs_floor[i] = r.c[i] / r.lua[i], r.c[i] / r.floor[i]
end
print(("%-20s %s mpns.toast{}:body() %9.0f msg/s | plain Lua %9.0f msg/s (mpns %.2fx) | "
  .. "VM floor %9.0f msg/s (mpns at %.2fx)"):format(jit and jit.version or _VERSION,
  SAME and "same     " or "distinct ", median(r.c), median(r.lua), median(r.vs_lua),
  median(r.floor), median(r.vs_floor)))
