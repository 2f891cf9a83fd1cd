--- bench/messages.lua: how fast a personalised toast (its own text2 each
-- time) is built from Lua (constructor + body), beside a plain-Lua
-- string.format builder that escapes with gsub, and beside the VM's floor: a
-- C constructor that builds nothing (bench/floor.c), given the same table.
-- Prints the median of 5 runs of N messages each, and mpns as a ratio to the
-- floor (issue 10's target: >= 0.6 on both VMs).
-- Usage: lua5.4 bench/messages.lua [N]   (make bench runs it for both ABIs)
local mpns = require "mpns"

local N = tonumber(arg and arg[1]) or 1000000
local RUNS = 5

local ESC = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&apos;" }
local function esc(s) return (s:gsub("[&<>\"']", ESC)) end

local FORMAT = '<?xml version="1.0" encoding="utf-8"?><wp:Notification xmlns:wp="WPNotification">'
  .. "<wp:Toast><wp:Text1>%s</wp:Text1><wp:Text2>%s</wp:Text2><wp:Param>%s</wp:Param>"
  .. "</wp:Toast></wp:Notification>"

-- Personalised, as real toasts are: every message differs (issue 10).
local function text2(i) return "Alice, your order " .. i .. " shipped" end

local function plain_lua(i)
  local t = { text1 = "Score", text2 = text2(i), param = "/Match.xaml?id=7&tab=live" }
  return FORMAT:format(esc(t.text1), esc(t.text2), esc(t.param)), i
end

local toast = mpns.toast
local function c_core(i)
  return toast{ text1 = "Score", text2 = text2(i), param = "/Match.xaml?id=7&tab=live" }:body(), i
end

local function rate(fn)
  collectgarbage()
  local t0 = os.clock()
  for i = 1, N do fn(i) end
  return N / (os.clock() - t0)
end

local function median(fn)
  local r = {}
  for i = 1, RUNS do r[i] = rate(fn) end
  table.sort(r)
  return r[math.floor((RUNS + 1) / 2)]
end

local new_floor = require "floor"
local function floor(i)
  return new_floor{ text1 = "Score", text2 = text2(i), param = "/Match.xaml?id=7&tab=live" }:body(), i
end

assert(plain_lua(1) == c_core(1), "the two builders must build the same payload")
local c_rate, lua_rate, floor_rate = median(c_core), median(plain_lua), median(floor)
print(("%-20s mpns.toast{}:body() %9.0f msg/s | plain Lua %9.0f msg/s (mpns %.2fx) | "
  .. "VM floor %9.0f msg/s (mpns %.2fx the floor; target >= 0.6: %s)"):format(
  jit and jit.version or _VERSION, c_rate, lua_rate, c_rate / lua_rate, floor_rate,
  c_rate / floor_rate, c_rate / floor_rate >= 0.6 and "met" or "NOT met"))
