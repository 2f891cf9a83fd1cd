--- What the stories share: where the emulator is, a registry that accepts
-- its host, a sender, and the emulator's control API playing the phone.
--   local phone = require "phone"       -- package.path has examples/stories
--   local kit = phone.kit()             -- { registry, sender, prefix }
--   phone.set("alice-phone", { app_running = false })
local mpns = require "mpns"
local emu = require "emu"               -- spec/emu.lua: curl and the control API
local cjson = require "cjson"

local M = {}

-- The emulator's base URL: EMULATOR in the environment, or make emulator's default.
M.base = os.getenv("EMULATOR") or "http://127.0.0.1:8080"
M.prefix = M.base .. "/throttledthirdparty/01.00/"

local function control(method, id, body)
  local r = emu.request { method = method, url = M.base .. "/control/channels/" .. id,
    headers = { ["Content-Type"] = "application/json" }, body = body and cjson.encode(body) }
  assert(r.status == 200 or (method == "GET" and r.status == 404),
    "emulator control " .. method .. " " .. id .. ": " .. tostring(r.status) .. " " .. r.body)
  return r.status == 200 and cjson.decode(r.body) or nil
end

--- The phone behind channel `id` changes: app_running, tile_pinned, device...
function M.set(id, state) return control("PUT", id, state) end

--- What the phone behind `id` received (the emulator's record), or nil.
function M.get(id) return control("GET", id) end

--- A registry (SQLite in a temp file unless STORE=memory) that allows the
-- emulator's host, and a libcurl sender.
function M.kit()
  local store = os.getenv("STORE") or "sqlite"
  local path = store == "sqlite" and os.tmpname() or nil
  local reg = assert(mpns.registry.open { store = store, path = path,
    allowed_hosts = { M.base:match("^https?://([^/]+)") } })  -- host:port
  local sender = mpns.sender.new("client", { max_connections = 16, retry = { max_attempts = 1 } })
  return { registry = reg, sender = sender, path = path }
end

--- Channel id -> channel URI on the emulator.
function M.uri(id) return M.prefix .. id end

--- One line on what the phone behind `id` shows now: the tile (every tile
-- push merged, as the phone would), the last toast, the raws the app got.
function M.describe(id)
  local st = M.get(id)
  if not st then return id .. ": never pushed to" end
  local tile, toast, raws = {}, nil, {}
  for _, n in ipairs(st.notifications or {}) do
    if n.kind == "toast" then toast = n.fields
    elseif n.kind == "raw" then raws[#raws + 1] = (require("mime").unb64(n.raw))
    else for k, v in pairs(n.fields or {}) do tile[k] = v end end
  end
  local parts = {}
  local keys = {}
  for k in pairs(tile) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tile[k] end
  return ("%-22s tile{%s} toast{%s} raw{%s}%s"):format(id, table.concat(parts, " "),
    toast and ((toast.Text1 or "") .. (toast.Text2 and " / " .. toast.Text2 or "")) or "",
    table.concat(raws, ", "), st.device ~= "Connected" and " [" .. st.device .. "]" or "")
end

return M
