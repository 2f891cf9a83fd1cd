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

return M
