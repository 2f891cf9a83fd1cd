--- mpns.patterns.one_time: any mix of toast, tile and raw to every channel
-- matching a filter, each in its channel's OS form (seed 003, "One-Time Push").
--   local p = mpns.patterns.one_time.new{ registry = reg, sender = s }
--   local summary = p:send({ mpns.toast{ text1 = "Hi" }, mpns.raw "sync" }, { tag = "news" })
local P = require "mpns.patterns"

local type, ipairs, error = type, ipairs, error

local M = {}
local mt = { __index = M }

-- What a send reads of a channel (its uri comes with every record).
local SENDS_READ = { "os" }

--- options: registry, sender, on_result(channel, res, err), batch.
function M.new(opts)
  return P.object(mt, P.check_options("mpns.patterns.one_time.new", opts))
end

--- Sends each message to every channel matching filter (a registry filter:
-- user, tag, os, device). A message a channel's OS cannot show is counted
-- as skipped. Returns the summary (counts per outcome; tostring reads well).
---@param messages userdata|userdata[] one mpns message or a list
---@param filter table|nil
function M:send(messages, filter)
  if type(messages) == "userdata" then messages = { messages } end
  if type(messages) ~= "table" or #messages == 0 then
    error("mpns.patterns.one_time: send expects a message or a list of messages", 2)
  end
  local list, n = {}, 0   -- a copy: the caller's list may change while the run sends
  for i, m in ipairs(messages) do
    if type(m) ~= "userdata" then error("mpns.patterns.one_time: message " .. i .. " is not an mpns message", 2) end
    n = n + 1
    list[n] = m
  end
  local run = P.run(self, "one_time.send")
  local one = n == 1 and list[1]  -- the usual case, without a one-turn loop LuaJIT would try to trace
  run:each(filter, one and function(ch) run:send_for_os(ch, one) end or function(ch)
    for i = 1, n do run:send_for_os(ch, list[i]) end
  end, not self.on_result and SENDS_READ or nil)  -- on_result is given the whole channel
  return run:finish()
end

return M
