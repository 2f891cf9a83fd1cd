--- mpns.client: the delivery half of the Lua face. lua/mpns.lua calls
--   require("mpns.client")(M, core)
-- which installs mpns.client, mpns.default_client, mpns.run and the
-- msg:send / msg:send_async methods that go through a default client.
local setmetatable, getmetatable, type, error, next, pcall, tostring, rawget =
  setmetatable, getmetatable, type, error, next, pcall, tostring, rawget
local pairs, ipairs, concat, sort, format = pairs, ipairs, table.concat, table.sort, string.format

-- At most this many clients made for distinct send options; past it, idle
-- ones are closed (a program that varies options per send still reuses).
local MAX_KEYED = 32

-- nginx phases where blocking is harmless: no request and no timer waits.
local NGINX_OK_PHASES = { init = true, init_worker = true, exit_worker = true }

--- Raises (at `level` above the caller) inside an nginx request or timer:
-- there the libcurl client would block the worker and never run async sends.
local function refuse_in_nginx(what, level)
  local ngx = rawget(_G, "ngx")
  if type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then return end
  local phase = ngx.get_phase()
  if NGINX_OK_PHASES[phase] then return end
  error(format("mpns: %s would block this nginx worker (phase '%s'); inside nginx use "
    .. "require(\"mpns.resty\").new{...}:send(msg, uri), which yields instead", what, phase),
    level + 1)
end

--- Raises "bad argument #n to 'name' (...)" `level` frames above the
-- caller (default 1: the caller's caller, whose line is blamed).
local function argcheck(ok, n, name, expected, got, level)
  if not ok then
    error(format("bad argument #%d to '%s' (%s expected, got %s)", n, name, expected,
      type(got)), (level or 1) + 2)
  end
end

local serialize
--- A stable text for an option value: equal tables give equal text; nil
-- for a value with no stable text (a function, a userdata).
local function serialize_table(t)
  local keys, parts = {}, {}
  for k in pairs(t) do
    if type(k) ~= "string" and type(k) ~= "number" then return nil end
    keys[#keys + 1] = k
  end
  sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  for i, k in ipairs(keys) do
    local v = serialize(t[k])
    if v == nil then return nil end
    parts[i] = format("%q=%s", tostring(k), v)
  end
  return "{" .. concat(parts, ",") .. "}"
end

function serialize(v)
  local t = type(v)
  if t == "string" then return format("%q", v)
  elseif t == "number" then return format("%.17g", v)
  elseif t == "boolean" then return tostring(v)
  elseif t == "table" then return serialize_table(v) end
  return nil
end

--- Wraps the blocking and loop methods of every client so they refuse to
-- run inside an nginx request (a client made at load time is still caught).
-- Only done when `ngx` exists, so plain Lua pays nothing.
local function guard_methods(sample)
  local mt = getmetatable(sample)
  local index = mt.__index
  local guarded = {}
  for _, name in ipairs { "send", "send_async", "run", "step" } do
    local f = index(sample, name)
    guarded[name] = function(...)
      refuse_in_nginx("mpns.client:" .. name, 2)
      return f(...)
    end
  end
  mt.__index = function(c, k) return guarded[k] or index(c, k) end
end

return function(M, core)
  local new_client = core.client
  local default                                  -- made on first use
  local by_table = setmetatable({}, { __mode = "k" })  -- opts table -> client
  local by_key, keyed = {}, 0                          -- serialized opts -> client

  local function usable(c) return c and not c:closed() end

  --- Makes a client; an option error blames the caller `level` frames up.
  local function make(opts, level)
    refuse_in_nginx("mpns.client", level + 1)
    local ok, c = pcall(new_client, opts)
    if not ok then error(c, level + 1) end
    return c
  end

  if rawget(_G, "ngx") ~= nil then
    local sample = new_client()
    guard_methods(sample)
    sample:close()
  end

  --- Keeps at most MAX_KEYED option clients: drops closed and idle ones.
  local function sweep()
    for key, c in pairs(by_key) do
      if not usable(c) or c:pending() == 0 then
        if usable(c) then c:close() end
        by_key[key], keyed = nil, keyed - 1
      end
    end
  end

  --- The client for send options: one per distinct set of values, so a
  -- literal table per call reuses one client and its connections.
  local function client_for_opts(opts)
    local key = serialize(opts)
    local c = key and by_key[key] or by_table[opts]
    if usable(c) then return c end
    c = make(opts, 4)
    if key then
      if by_key[key] == nil then
        if keyed >= MAX_KEYED then sweep() end
        keyed = keyed + 1
      end
      by_key[key] = c
    else
      by_table[opts] = c
    end
    return c
  end

  --- The client msg:send uses: the default one, opts.client, or one client
  -- per distinct set of options.
  local function client_for(opts)
    if opts == nil then
      if not usable(default) then default = make(nil, 3) end
      return default
    end
    argcheck(type(opts) == "table", 2, "send", "options table or nil", opts, 2)
    if opts.client ~= nil then
      if next(opts, nil) ~= "client" or next(opts, "client") ~= nil then
        error("mpns: send options take either 'client' or client options", 3)
      end
      return opts.client
    end
    local c = client_for_opts(opts)     -- not a tail call: levels count frames
    return c
  end

  --- Makes a libcurl client (see README "Delivery" for the options).
  -- Refused inside an nginx request or timer: use mpns.resty there.
  ---@param opts? mpns.ClientOptions
  ---@return mpns.Client
  function M.client(opts)
    local c = make(opts, 2)              -- not a tail call: levels count frames
    return c
  end

  --- The default client; with opts, a new one replaces (and closes) it.
  ---@param opts? mpns.ClientOptions
  ---@return mpns.Client
  function M.default_client(opts)
    if opts ~= nil then
      local c = make(opts, 2)
      if usable(default) then default:close() end
      default = c
    end
    if not usable(default) then default = make(nil, 2) end
    return default
  end

  --- Runs the default client, and those msg:send made for send options,
  -- until nothing is pending.
  ---@return true|nil ok
  ---@return string? err
  function M.run()
    refuse_in_nginx("mpns.run", 2)
    local all = { default }
    for _, c in pairs(by_key) do all[#all + 1] = c end
    for _, c in next, by_table do all[#all + 1] = c end
    for i = 1, #all do
      local c = all[i]
      if usable(c) then
        local ok, err = c:run()
        if not ok then return nil, err end
      end
    end
    return true
  end

  local methods = core.message_methods

  --- Sends on the default client (or the one for `opts`); blocks until done.
  ---@param msg mpns.Message
  ---@param uri string the channel URI
  ---@param opts? mpns.ClientOptions|{client: mpns.Client}
  ---@return mpns.Result|nil res
  ---@return mpns.SendError? err
  function methods.send(msg, uri, opts)
    argcheck(type(uri) == "string", 1, "send", "channel URI string", uri)
    refuse_in_nginx("msg:send", 2)
    return client_for(opts):send(msg, uri)
  end

  --- Queues a send on the default client; mpns.run() delivers it.
  ---@param msg mpns.Message
  ---@param uri string the channel URI
  ---@param on_result fun(res: mpns.Result|nil, err: mpns.SendError?, ctx: any)
  ---@param on_error? fun(err: mpns.SendError, ctx: any)
  ---@param ctx? any given back as the callback's last argument
  ---@return true
  function methods.send_async(msg, uri, on_result, on_error, ctx)
    argcheck(type(uri) == "string", 1, "send_async", "channel URI string", uri)
    argcheck(type(on_result) == "function", 2, "send_async", "function (on_result)", on_result)
    argcheck(on_error == nil or type(on_error) == "function", 3, "send_async",
      "function or nil (on_error)", on_error)
    refuse_in_nginx("msg:send_async", 2)
    return client_for(nil):send_async(msg, uri, on_result, on_error, ctx)
  end
end
