--- bench/images.lua: how many tile images mpns.image renders a second: a
-- medium tile (336x336) on a colour, with two lines of text, a count badge
-- and a title, encoded as PNG. Prints the median of 5 runs of N renders.
-- Usage: lua5.4 bench/images.lua [N]   (make bench runs it for both ABIs)
local image = require "mpns.image"

local N = tonumber(arg and arg[1]) or 1000
local RUNS = 5
local TILE = { size = "medium", background = "#FF1BA1E2", count = 5, title = "Inbox",
  text = "Three new messages from Ana about Saturday" }

local function rate()
  collectgarbage()
  local t0 = os.clock()
  for _ = 1, N do image.tile(TILE) end
  return N / (os.clock() - t0)
end

local r = {}
for i = 1, RUNS do r[i] = rate() end
table.sort(r)
print(("%-20s mpns.image.tile{ medium, text, count, title } %6.0f renders/s "
  .. "(runs %.0f to %.0f; %d bytes each)"):format(jit and jit.version or _VERSION,
  r[math.floor((RUNS + 1) / 2)], r[1], r[RUNS], #image.tile(TILE)))
