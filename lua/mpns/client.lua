--- mpns.client: the delivery half of the Lua face. lua/mpns.lua calls
--   require("mpns.client")(M, core)
-- which installs mpns.client, mpns.default_client, mpns.run and the
-- msg:send / msg:send_async methods that go through a default client.
local setmetatable, type, error, next = setmetatable, type, error, next

return function(M, core)
  local new_client = core.client
  local default                                  -- made on first use
  local by_opts = setmetatable({}, { __mode = "k" })  -- opts table -> client

  local function usable(c) return c and not c:closed() end

  --- The client msg:send uses: the default one, opts.client, or one client
  -- per options table (so passing the same table reuses its connections).
  local function client_for(opts)
    if opts == nil then
      if not usable(default) then default = new_client() end
      return default
    end
    if type(opts) ~= "table" then error("mpns: send options must be a table", 3) end
    if opts.client ~= nil then
      if next(opts, nil) ~= "client" or next(opts, "client") ~= nil then
        error("mpns: send options take either 'client' or client options", 3)
      end
      return opts.client
    end
    local c = by_opts[opts]
    if not usable(c) then c = new_client(opts); by_opts[opts] = c end
    return c
  end

  M.client = new_client

  --- The default client; with opts, a new one replaces (and closes) it.
  function M.default_client(opts)
    if opts ~= nil then
      if usable(default) then default:close() end
      default = new_client(opts)
    end
    return client_for(nil)
  end

  --- Runs the default client, and those msg:send made for option tables,
  -- until nothing is pending.
  function M.run()
    if usable(default) then
      local ok, err = default:run()
      if not ok then return nil, err end
    end
    for _, c in next, by_opts do
      if usable(c) then
        local ok, err = c:run()
        if not ok then return nil, err end
      end
    end
    return true
  end

  local methods = core.message_methods
  function methods.send(msg, uri, opts)
    return client_for(opts):send(msg, uri)
  end
  function methods.send_async(msg, uri, on_result, on_error)
    return client_for(nil):send_async(msg, uri, on_result, on_error)
  end
end
