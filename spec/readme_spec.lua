-- README.md cannot drift from the code: every fenced block is executed.
--   ```lua      run as a script by this spec's interpreter (Lua 5.4 or LuaJIT)
--               in a fresh temp folder, after the earlier ```lua blocks of
--               its own section (so an example may build on the one before);
--               a block that uses `ngx` is loaded as a module into nginx and
--               requested instead
--   ```sh       run by sh -e
--   ```console  a `make repl` transcript, replayed into make repl
-- against an emulator and a redis-server: README's 127.0.0.1:8080 / :8443 / 6379 become their ports.
-- A `--> text` (or `# --> text`) comment is output the run must print, in
-- order. Indented blocks (commands, output) are not run: every `make X` the
-- README names must be a Makefile target, and relative links must exist.
local lu = require "luaunit"
local cjson = require "cjson"
local emu = require "emu"
local redis = require "redis"
local nginx_lua = require "nginx_lua"
local proc = require "proc"

local ROOT = nginx_lua.ROOT
local LUA = jit and "luajit" or "lua5.4"
local README = assert(proc.read_file(ROOT .. "/README.md"))

-- The exit code and the output with its errors.
local function sh(cmd)
  local out, rc = proc.run("{ " .. cmd .. "; } 2>&1")
  return rc, out
end

local write = proc.write_file

-- The fenced blocks: { lang, code, line, section }.
local function blocks()
  local out, n, cur, section = {}, 0, nil, ""
  for line in (README .. "\n"):gmatch("([^\n]*)\n") do
    n = n + 1
    local fence = line:match("^```(%w*)%s*$")
    if not cur and line:find("^#+ ") then section = line end
    if fence and not cur then cur = { lang = fence, code = {}, line = n + 1, section = section }
    elseif fence then out[#out + 1] = cur; cur.code = table.concat(cur.code, "\n") .. "\n"; cur = nil
    elseif cur then cur.code[#cur.code + 1] = line end
  end
  assert(cur == nil, "README.md: a fenced block is not closed")
  return out
end

local e = assert(emu.start { daily_limit = 500 })
local r = assert(redis.start {})  -- for the Redis examples: their 6379 becomes its port

local function localize(code)
  return (code:gsub("http://127%.0%.0%.1:8080", "http://127.0.0.1:" .. e.port)
    :gsub("https://127%.0%.0%.1:8443", "https://127.0.0.1:" .. e.tls_port)
    :gsub('"127%.0%.0%.1:8080"', '"127.0.0.1:' .. e.port .. '"')  -- allowed_hosts entries
    :gsub("port = 6379", "port = " .. r.port):gsub("127%.0%.0%.1:6379", "127.0.0.1:" .. r.port))
end

-- Every expected line, in order, in `out`; a run of blanks in the README
-- stands for any run of white space (print separates with tabs).
local function assert_expected(b, out, marker)
  local at = 1
  for want in b.code:gmatch(marker .. " ([^\n]+)") do
    local pattern = want:gsub("%s+$", ""):gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("%s+", "%%s+")
    local i, j = out:find(pattern, at)
    lu.assertNotNil(i, ("README.md:%d: expected %q in order in:\n%s"):format(b.line, want, out))
    at = j + 1
  end
end

local ENV = ("LUA_PATH_5_4='%s/lua/?.lua;;' LUA_CPATH_5_4='%s/build/5.4/?.so;;' "
  .. "LUA_PATH='%s/lua/?.lua;;' LUA_CPATH='%s/build/jit/?.so;;' "):format(ROOT, ROOT, ROOT, ROOT)

local function run_script(b, before)
  local file = os.tmpname()
  write(file, localize(before .. b.code))
  -- files it writes (push.db) go to a fresh folder; the paths it names
  -- (emulator/state/certs, examples/) are links to the repository's
  local dir = proc.tmpdir("readme")
  os.execute(("ln -s '%s/emulator' '%s/examples' '%s/'"):format(ROOT, ROOT, dir))
  local rc, out = sh(("cd '%s' && %s%s '%s'"):format(dir, ENV, LUA, file))
  os.remove(file)
  os.execute("rm -rf '" .. dir .. "'")
  lu.assertEquals(rc, 0, ("README.md:%d failed:\n%s"):format(b.line, out))
  assert_expected(b, out, "%-%->")
end

local function run_sh(b)
  local file = os.tmpname()
  write(file, localize(b.code))
  local rc, out = sh("cd '" .. ROOT .. "' && sh -e " .. file)
  os.remove(file)
  lu.assertEquals(rc, 0, ("README.md:%d failed:\n%s"):format(b.line, out))
  assert_expected(b, out, "# %-%->")
end

-- The transcript's "> " lines go into make repl; the other lines must come out.
local function run_console(b)
  local inputs, expected = {}, {}
  for line in b.code:gmatch("([^\n]*)\n") do
    if line:sub(1, 2) == "> " then inputs[#inputs + 1] = line:sub(3)
    elseif line:sub(1, 2) ~= "$ " and line ~= "" then expected[#expected + 1] = line end
  end
  local file = os.tmpname()
  write(file, table.concat(inputs, "\n") .. "\n")
  local rc, out = sh(("make -s -C '%s' repl < '%s'"):format(ROOT, file))
  os.remove(file)
  lu.assertEquals(rc, 0, out)
  local at = 1
  for _, want in ipairs(expected) do
    local i, j = out:find(want, at, true)
    lu.assertNotNil(i, ("README.md:%d: expected %q in order in:\n%s"):format(b.line, want, out))
    at = j + 1
  end
end

-- A block using ngx is a content handler module: nginx serves it at /push.
local function run_in_nginx(b)
  local dir = os.tmpname()
  os.remove(dir)
  os.execute("mkdir -p " .. dir)
  write(dir .. "/readme_push.lua", localize(b.code))
  local n, why = nginx_lua.start { lua_path = dir .. "/?.lua;",
    server = 'location = /push { content_by_lua_block { require("readme_push")() } }' }
  if not n then os.execute("rm -rf " .. dir) end
  lu.assertNotNil(n, why)
  local status, body = n:get("/push?text1=Hi&text2=there&uri=" .. e.http_prefix .. "readme-resty")
  -- a host the handler does not allow is refused, and nothing is sent
  local refused = n:get("/push?text1=Hi&uri=http://127.0.0.2:" .. e.port .. "/throttledthirdparty/01.00/x")
  local log = n:log()
  n:stop()
  os.execute("rm -rf " .. dir)
  lu.assertEquals(status, 200, log)
  lu.assertEquals(refused, 403, log)
  lu.assertEquals(cjson.decode(body).outcome, "received", body)
  local got = assert(e:get("readme-resty")).notifications
  lu.assertEquals(got[#got].fields, { Text1 = "Hi", Text2 = "there" })
end

TestReadme = {}

function TestReadme:test_every_fenced_block_runs()
  local ran, earlier = {}, {}
  for _, b in ipairs(blocks()) do
    if b.lang == "lua" and b.code:find("ngx%.") then run_in_nginx(b)
    elseif b.lang == "lua" then
      run_script(b, earlier[b.section] or "")
      earlier[b.section] = (earlier[b.section] or "") .. b.code
    elseif b.lang == "sh" then run_sh(b)
    elseif b.lang == "console" then run_console(b)
    else lu.fail(("README.md:%d: a ```%s block this spec cannot run"):format(b.line, b.lang)) end
    ran[b.lang] = (ran[b.lang] or 0) + 1
  end
  lu.assertTrue((ran.lua or 0) >= 5, "fewer Lua blocks than expected: did the parser break?")
  lu.assertEquals(ran.console, 1)
  lu.assertEquals(ran.sh, 1)
end

function TestReadme:test_the_examples_run_from_anywhere_with_make_env()
  local rc, out = sh(("cd / && %s%s '%s/examples/push.lua' '%smy-phone'"):format(ENV, LUA, ROOT, e.http_prefix))
  lu.assertEquals(rc, 0, out)
  lu.assertStrContains(out, "toast\treceived")
  lu.assertStrContains(out, "tile\treceived")
  rc, out = sh(("cd / && %s%s '%s/examples/bulk.lua' '%sbulk-' 12"):format(ENV, LUA, ROOT, e.http_prefix))
  lu.assertEquals(rc, 0, out)
  lu.assertStrMatches(out, "received +12\n0 channels forgotten, 0 rescheduled\n")
end

function TestReadme:test_every_make_target_named_exists()
  local makefile = assert(proc.read_file(ROOT .. "/Makefile"))
  local seen = 0
  for target in README:gsub("luarocks make", ""):gmatch("make ([%a][%w%-]*)") do
    lu.assertNotNil(makefile:find("\n" .. target:gsub("%-", "%%-") .. ":"), "no make target " .. target)
    seen = seen + 1
  end
  lu.assertTrue(seen >= 8)
end

function TestReadme:test_relative_links_stay_inside_the_repository()
  for target in README:gmatch("%]%(([^)#]+)[^)]*%)") do
    if not target:find("^%a+://") then
      lu.assertNil(target:find("%.%./"), "link leaves the repository: " .. target)
      lu.assertTrue(os.rename(ROOT .. "/" .. target, ROOT .. "/" .. target), "no such file: " .. target)
    end
  end
end

local rc = lu.LuaUnit.run()
e:stop()
r:stop()
os.exit(rc == 0)
