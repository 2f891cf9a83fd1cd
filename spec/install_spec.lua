-- Installing: make install / uninstall (PREFIX, DESTDIR), make env, and the
-- rockspecs, each checked by requiring mpns from another folder with this
-- spec's own interpreter (Lua 5.4, or LuaJIT for the 5.1 ABI).
local lu = require "luaunit"

local JIT = jit ~= nil
local LUA = JIT and "luajit" or "lua5.4"
local V = JIT and "5.1" or "5.4"
local REPO = io.popen("pwd"):read("*l")

local proc = require "proc"

-- ok (exit code 0) and the output with its errors.
local function sh(cmd)
  local out, rc = proc.run("{ " .. cmd .. "; } 2>&1")
  return rc == 0, out
end

local function tmpdir() return proc.tmpdir("install") end
local function read(path) return assert(proc.read_file(path)) end

local function lines(cmd)
  local out, p = {}, io.popen(cmd)
  for l in p:lines() do out[#out + 1] = l end
  p:close()
  return out
end

-- Runs `code` with the given search paths from /, far from the repository.
local function require_from(lpath, cpath, code)
  local var = JIT and "" or "_5_4"
  return sh(("cd / && LUA_PATH%s='%s' LUA_CPATH%s='%s' %s -e '%s'"):format(
    var, lpath, var, cpath, LUA, code))
end

local PROBE = [[local m = require "mpns"; assert(m.toast{ text1 = "x" }:body():find("Text1")); ]]
  .. [[assert(type(m.client) == "function"); assert(require "mpns.client"); ]]
  .. [[assert(m.image.tile{ text = "x" }:sub(2, 4) == "PNG"); ]]
  .. [[assert(require("mpns.sqlite_wal").register() == "mpns-wal"); print("ok")]]

local function make(args) return sh(("make -C '%s' --no-print-directory %s"):format(REPO, args)) end

TestMakeInstall = {}

function TestMakeInstall:test_prefix_and_destdir_then_uninstall()
  local dest = tmpdir()
  local ok, out = make(("install PREFIX=/opt/pfx DESTDIR='%s'"):format(dest))
  lu.assertTrue(ok, out)
  local root = dest .. "/opt/pfx"
  ok, out = require_from(root .. "/share/lua/" .. V .. "/?.lua", root .. "/lib/lua/" .. V .. "/?.so", PROBE)
  lu.assertTrue(ok, out)
  lu.assertStrContains(out, "ok")
  lu.assertEquals(#lines("find '" .. root .. "/share/lua' -name '*.lua'"),
    2 * #lines("cd '" .. REPO .. "' && find lua -name '*.lua'"))
  ok, out = make(("uninstall PREFIX=/opt/pfx DESTDIR='%s'"):format(dest))
  lu.assertTrue(ok, out)
  lu.assertEquals(lines("find '" .. dest .. "' -type f -o -name mpns"), {})
  sh("rm -rf '" .. dest .. "'")
end

function TestMakeInstall:test_default_prefix_is_usr_local_where_lua_looks()
  local dest = tmpdir()
  local ok, out = make(("install DESTDIR='%s'"):format(dest))
  lu.assertTrue(ok, out)
  for _, f in ipairs { "/usr/local/share/lua/" .. V .. "/mpns.lua", "/usr/local/lib/lua/" .. V .. "/mpns/core.so" } do
    lu.assertTrue(io.open(dest .. f) ~= nil, f .. " not installed")
  end
  sh("rm -rf '" .. dest .. "'")
  -- the interpreter searches there without any LUA_PATH
  lu.assertStrContains(package.path, "/usr/local/share/lua/" .. V .. "/?.lua")
  lu.assertStrContains(package.cpath, "/usr/local/lib/lua/" .. V .. "/?.so")
end

function TestMakeInstall:test_make_env_makes_the_checkout_findable()
  local ok, out = sh(("cd '%s' && eval \"$(make -s env)\" && cd / && %s -e '%s'"):format(REPO, LUA, PROBE))
  lu.assertTrue(ok, out)
  lu.assertEquals(out:gsub("exit=0%s*$", ""), "ok\n")
end

-- The rockspecs, loaded as the Lua they are.
local function rockspec(name)
  local env = {}
  local chunk = assert((loadstring or load)(read(REPO .. "/rockspec/" .. name), name))
  if setfenv then setfenv(chunk, env) else chunk = assert(load(read(REPO .. "/rockspec/" .. name), name, "t", env)) end
  chunk()
  return env
end

local RELEASE, SCM = "mpns-0.1.0-1.rockspec", "mpns-scm-1.rockspec"

TestRockspec = {}

function TestRockspec:test_every_lua_file_and_c_file_is_listed()
  for _, name in ipairs { RELEASE, SCM } do
    local mods = rockspec(name).build.modules
    for _, file in ipairs(lines("cd '" .. REPO .. "' && find lua -name '*.lua' | sort")) do
      local mod = file:gsub("^lua/", ""):gsub("/init%.lua$", ""):gsub("%.lua$", ""):gsub("/", ".")
      lu.assertEquals(mods[mod], file, ('%s: add  ["%s"] = "%s",'):format(name, mod, file))
    end
    local listed, seen = {}, {}  -- a file two C modules share counts once
    for _, m in pairs(mods) do
      for _, src in ipairs(type(m) == "table" and m.sources or {}) do
        if not seen[src] then seen[src] = true; listed[#listed + 1] = src end
      end
    end
    table.sort(listed)
    lu.assertEquals(listed, lines("cd '" .. REPO .. "' && ls csrc/*.c | sort"), name)
    for mod, file in pairs(mods) do
      if type(file) == "string" then lu.assertTrue(io.open(REPO .. "/" .. file) ~= nil, mod .. ": no " .. file) end
    end
  end
end

function TestRockspec:test_release_and_scm_build_the_same()
  local r, s = rockspec(RELEASE), rockspec(SCM)
  lu.assertEquals(s.build, r.build)
  lu.assertEquals(s.test, r.test)
  lu.assertEquals(s.external_dependencies, r.external_dependencies)
  lu.assertEquals(s.description, r.description)
end

function TestRockspec:test_release_metadata()
  local r = rockspec(RELEASE)
  lu.assertEquals(r.package, "mpns")
  lu.assertEquals(r.version, "0.1.0-1")
  lu.assertEquals(r.source.url, "git+https://github.com/lua-mpns/lua-mpns.git")
  lu.assertEquals(r.source.tag, "v0.1.0")
  lu.assertEquals(r.description.homepage, "https://github.com/lua-mpns/lua-mpns")
  lu.assertEquals(r.description.license, "MIT")
  lu.assertEquals(r.external_dependencies.CURL, { header = "curl/curl.h" })
  local core = r.build.modules["mpns.core"]
  lu.assertEquals(core.incdirs, { "$(CURL_INCDIR)" })
  lu.assertEquals(core.libdirs, { "$(CURL_LIBDIR)" })
  lu.assertEquals(r.test.type, "command")
  lu.assertStrContains(read(REPO .. "/lua/mpns.lua"), '_VERSION = "mpns 0.1.0"')
  lu.assertStrContains(read(REPO .. "/LICENSE"), "MIT License\n\nCopyright (c) 2026 the lua-mpns authors")
end

-- The README's luarocks make line for this interpreter's Lua version, run
-- in a git copy of the sources into a temp tree: it installs a working
-- module and leaves nothing git would see.
function TestRockspec:test_the_readmes_luarocks_make_into_a_temp_tree()
  local cmd = read(REPO .. "/README.md"):match("\n%s*(luarocks make %-%-lua%-version " .. V:gsub("%.", "%%.") .. " [^\n]+)")
  lu.assertNotNil(cmd, "README.md shows no luarocks make --lua-version " .. V)
  lu.assertStrContains(cmd, "rockspec/" .. RELEASE)
  local work, tree = tmpdir(), tmpdir()
  local ok, out = sh(("cp -r '%s/csrc' '%s/lua' '%s/bin' '%s/rockspec' '%s/.gitignore' '%s/' && cd '%s' && "
    .. "git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm t && "
    .. "%s --tree '%s' --deps-mode none"):format(REPO, REPO, REPO, REPO, REPO, work, work,
    cmd, tree))
  lu.assertTrue(ok, out)
  local _, status = sh("cd '" .. work .. "' && git status --porcelain")
  lu.assertEquals(status, "", "git sees files the build left")
  ok, out = require_from(tree .. "/share/lua/" .. V .. "/?.lua", tree .. "/lib/lua/" .. V .. "/?.so", PROBE)
  sh("rm -rf '" .. work .. "' '" .. tree .. "'")
  lu.assertTrue(ok, out)
  lu.assertStrContains(out, "ok")
end

os.exit(lu.LuaUnit.run() == 0)
