--- mpns: push notifications to Windows Phone through MPNS.
-- The C core (mpns.core) builds, validates and escapes messages, parses
-- responses and delivers over libcurl; this module is what users require.
local core = require "mpns.core"

local M = {
  _VERSION = "mpns 0.1.0",
  CLEAR = core.CLEAR,
  toast = core.toast,
  tile = core.tile,
  flip_tile = core.flip_tile,
  iconic_tile = core.iconic_tile,
  cycle_tile = core.cycle_tile,
  raw = core.raw,
  parse_response = core.parse_response,
  set_limits = core.set_limits,
}

-- Delivery: mpns.client, mpns.run, msg:send and msg:send_async.
require("mpns.client")(M, core)

-- The pure-Lua parts load on first use: mpns.registry is require "mpns.registry".
local LAZY = { registry = true, patterns = true, sender = true, store = true,
  image = true, queue = true }
return setmetatable(M, { __index = function(t, k)
  if LAZY[k] then
    local mod = require("mpns." .. k)
    rawset(t, k, mod)
    return mod
  end
end })
