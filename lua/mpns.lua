--- mpns: push notifications to Windows Phone through MPNS.
-- The C core (mpns.core) builds, validates and escapes messages, parses
-- responses and delivers over libcurl; this module is what users require.
-- Types: types/mpns/core.lua (LuaCATS); the protocol: doc/protocol.md.
-- @module mpns
local core = require "mpns.core"

---@class mpns
---@field _VERSION string "mpns 0.1.0"
---@field CLEAR mpns.Clear a tile property given this is cleared on the phone
---@field toast fun(fields: mpns.ToastFields): mpns.Message
---@field tile fun(fields: mpns.TileFields): mpns.Message
---@field flip_tile fun(fields: mpns.FlipTileFields): mpns.Message
---@field iconic_tile fun(fields: mpns.IconicTileFields): mpns.Message
---@field cycle_tile fun(fields: mpns.CycleTileFields): mpns.Message
---@field raw fun(fields: mpns.RawFields|string): mpns.Message
---@field callback fun(fields: mpns.CallbackFields): mpns.Message
---@field parse_response fun(status: integer, headers: table<string, string>): mpns.Result
---@field set_limits fun(limits: {payload?: integer, headers?: integer}): {payload: integer, headers: integer}
---@field client fun(opts?: mpns.ClientOptions): mpns.Client
---@field default_client fun(opts?: mpns.ClientOptions): mpns.Client
---@field run fun(): true|nil, string?
---@field registry table loaded on first use (require "mpns.registry")
---@field patterns table loaded on first use
---@field sender table loaded on first use
---@field store table loaded on first use
---@field image table loaded on first use
---@field queue table loaded on first use
local M = {
  _VERSION = "mpns 0.1.0",
  CLEAR = core.CLEAR,
  toast = core.toast,
  tile = core.tile,
  flip_tile = core.flip_tile,
  iconic_tile = core.iconic_tile,
  cycle_tile = core.cycle_tile,
  raw = core.raw,
  callback = core.callback,
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
