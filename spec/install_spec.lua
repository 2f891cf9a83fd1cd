-- Installing: make install (DESTDIR) and the rockspec, each checked by
-- requiring mpns from another folder with this spec's own interpreter.
local lu = require "luaunit"

local JIT = jit ~= nil
local LUA = JIT and "luajit" or "lua5.4"
local ABI = JIT and "luajit" or "lua5.4"
local REPO = io.popen("pwd"):read("*l")

local function sh(cmd)
  local p = io.popen("(" .. cmd .. ") 2>&1; echo \"exit=$?\"")
  local out = p:read("*a")
  p:close()
  return out:match("exit=(%d+)%s*$") == "0", out
end

local function tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("*l")
  p:close()
  return d
end

-- Runs `code` with the given search paths from /, far from the repository.
local function require_from(lpath, cpath, code)
  local var = JIT and "" or "_5_4"
  return sh(("cd / && LUA_PATH%s='%s' LUA_CPATH%s='%s' %s -e '%s'"):format(
    var, lpath, var, cpath, LUA, code))
end

local PROBE = [[local m = require "mpns"; assert(m.toast{ text1 = "x" }:body():find("Text1")); ]]
  .. [[assert(type(m.client) == "function"); ]]
  .. [[assert(m.image.tile{ text = "x" }:sub(2, 4) == "PNG"); print("ok")]]

TestInstall = {}

function TestInstall:test_make_install_honours_destdir()
  local dest = tmpdir()
  local ok, out = sh(("make -C '%s' --no-print-directory install DESTDIR='%s'"):format(REPO, dest))
  lu.assertTrue(ok, out)
  local function var(name)
    local p = io.popen(("pkg-config --variable=%s %s"):format(name, JIT and "luajit" or "lua5.4"))
    local v = p:read("*l")
    p:close()
    return dest .. v
  end
  ok, out = require_from(var("INSTALL_LMOD") .. "/?.lua", var("INSTALL_CMOD") .. "/?.so", PROBE)
  sh("rm -rf '" .. dest .. "'")
  lu.assertTrue(ok, out)
  lu.assertStrContains(out, "ok")
end

function TestInstall:test_rockspec_lists_every_c_file()
  local f = assert(io.open(REPO .. "/rockspec/mpns-scm-1.rockspec"))
  local spec = f:read("*a")
  f:close()
  local listed, n = {}, 0
  for file in spec:gmatch('"(csrc/[%w_]+%.c)"') do  -- a file two modules share counts once
    if not listed[file] then n = n + 1 end
    listed[file] = true
  end
  local p = io.popen("cd '" .. REPO .. "' && ls csrc/*.c")
  local on_disk = 0
  for file in p:lines() do
    on_disk = on_disk + 1
    lu.assertTrue(listed[file], file .. " is missing from the rockspec")
  end
  p:close()
  lu.assertEquals(n, on_disk)
end

function TestInstall:test_luarocks_make_builds_the_rockspec()
  local work, tree = tmpdir(), tmpdir()
  local version = JIT and "--lua-version 5.1 LUA_INCDIR=/usr/include/luajit-2.1" or "--lua-version 5.4"
  local ok, out = sh(("cp -r '%s/csrc' '%s/lua' '%s/rockspec' '%s/' && cd '%s' && "
    .. "luarocks --tree '%s' make rockspec/mpns-scm-1.rockspec %s"):format(
    REPO, REPO, REPO, work, work, tree, version:gsub("(%-%-lua%-version %S+)(.*)", "%1 --deps-mode none%2")))
  lu.assertTrue(ok, out)
  local v = JIT and "5.1" or "5.4"
  ok, out = require_from(tree .. "/share/lua/" .. v .. "/?.lua", tree .. "/lib/lua/" .. v .. "/?.so", PROBE)
  sh("rm -rf '" .. work .. "' '" .. tree .. "'")
  lu.assertTrue(ok, out)
  lu.assertStrContains(out, "ok")
end

os.exit(lu.LuaUnit.run() == 0)
