-- The LuaCATS definitions cannot drift from the code: every function the C
-- module, its clients and its messages expose is declared in
-- types/mpns/core.lua, every public field of mpns in lua/mpns.lua's class,
-- and make doc builds the API page from the same comments.
local lu = require "luaunit"
local proc = require "proc"
local mpns = require "mpns"
local core = require "mpns.core"

local TYPES = assert(proc.read_file("types/mpns/core.lua"))
local MPNS = assert(proc.read_file("lua/mpns.lua"))

local function declared(pattern) return TYPES:find(pattern) ~= nil end
local function esc(s) return (s:gsub("%p", "%%%0")) end

TestTypes = {}

function TestTypes:test_every_core_export_is_declared()
  local n = 0
  for name in pairs(core) do
    lu.assertTrue(declared("\nfunction core%." .. esc(name) .. "%(") or declared("\ncore%." .. esc(name) .. " ="),
      "types/mpns/core.lua does not declare core." .. name)
    n = n + 1
  end
  lu.assertTrue(n >= 10)
end

function TestTypes:test_every_client_method_is_declared()
  local c = core.client()
  local _, methods = debug.getupvalue(getmetatable(c).__index, 1)
  lu.assertEquals(type(methods), "table")
  local n = 0
  for name in pairs(methods) do
    lu.assertTrue(declared("\nfunction Client:" .. esc(name) .. "%("), "mpns.Client:" .. name .. " is not declared")
    n = n + 1
  end
  c:close()
  lu.assertTrue(n >= 11)
end

function TestTypes:test_every_message_method_is_declared()
  local n = 0
  for name in pairs(core.message_methods) do
    lu.assertTrue(declared("\nfunction Message:" .. esc(name) .. "%("), "mpns.Message:" .. name .. " is not declared")
    n = n + 1
  end
  lu.assertTrue(n >= 5)    -- body, headers, for_os, and send / send_async from mpns.client
end

function TestTypes:test_every_public_mpns_field_is_in_its_class()
  for name in pairs(mpns) do
    lu.assertNotNil(MPNS:find("\n%-%-%-@field " .. esc(name) .. " "), "lua/mpns.lua: no ---@field " .. name)
  end
end

function TestTypes:test_public_lua_functions_carry_param_or_return()
  local n, doc = 0, {}
  for line in io.lines("lua/mpns/client.lua") do
    local name = line:match("^%s*function (M%.[%w_]+)%(") or line:match("^%s*function (methods%.[%w_]+)%(")
    if name then
      lu.assertNotNil(table.concat(doc, "\n"):find("%-%-%-@[pr][ae][rt]"), name .. " has no ---@param / ---@return")
      n = n + 1
    end
    if line:match("^%s*%-%-") then doc[#doc + 1] = line else doc = {} end
  end
  lu.assertEquals(n, 5)
end

function TestTypes:test_make_doc_builds_the_api_page()
  local p = io.popen("make -s doc 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  lu.assertStrContains(out, "exit=0")
  local page = assert(proc.read_file("build/doc/modules/mpns.core.html"), out)
  for _, word in ipairs { "parse_response", "send_async", "for_os", "ClientOptions" } do
    lu.assertStrContains(page, word)
  end
  lu.assertStrContains(assert(proc.read_file("build/doc/modules/mpns.client.html")), "default_client")
end

os.exit(lu.LuaUnit.run() == 0)
