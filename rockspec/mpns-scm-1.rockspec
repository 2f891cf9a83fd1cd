-- The development rockspec: the newest commit of the main branch. From a
-- checkout, luarocks make uses the files in it (README.md, "Install").
-- spec/install_spec.lua checks that it and mpns-0.1.0-1 build the same.
rockspec_format = "3.0"
package = "mpns"
version = "scm-1"
source = {
  url = "git+https://github.com/lua-mpns/lua-mpns.git",
  branch = "main",
}
description = {
  summary = "Push notifications to Windows Phone (MPNS) from Lua, with a C core on libcurl",
  detailed = [[
Toast, tile, flip/iconic/cycle tile and raw messages built, escaped and
validated in C, downgraded per device OS; blocking and callback-based
delivery over libcurl's multi interface; MPNS answers turned into advice;
an OpenResty cosocket sender. Lua 5.4 and LuaJIT (OpenResty).]],
  homepage = "https://github.com/lua-mpns/lua-mpns",
  issues_url = "https://github.com/lua-mpns/lua-mpns/issues",
  license = "MIT",
  labels = { "push", "notifications", "windows-phone", "mpns", "curl", "openresty" },
}
dependencies = { "lua >= 5.1" }
-- Debian's libcurl4-openssl-dev keeps curl.h in a multiarch folder:
--   luarocks make ... CURL_INCDIR=/usr/include/x86_64-linux-gnu
-- mpns.image renders with cairo, libpng and libjpeg (libcairo2-dev,
-- libpng-dev, libjpeg-dev and fonts-dejavu-core on Debian).
external_dependencies = {
  SQLITE = { header = "sqlite3.h" },
  CURL = { header = "curl/curl.h" },
  CAIRO = { header = "cairo/cairo.h" },
}
build = {
  type = "builtin",
  install = { bin = { ["mpns-worker"] = "bin/mpns-worker" } },
  modules = {
    mpns = "lua/mpns.lua",
    ["mpns.client"] = "lua/mpns/client.lua",
    ["mpns.metrics"] = "lua/mpns/metrics.lua",
    ["mpns.options"] = "lua/mpns/options.lua",
    ["mpns.patterns"] = "lua/mpns/patterns.lua",
    ["mpns.patterns.ask_to_pin"] = "lua/mpns/patterns/ask_to_pin.lua",
    ["mpns.patterns.counter"] = "lua/mpns/patterns/counter.lua",
    ["mpns.patterns.custom_image"] = "lua/mpns/patterns/custom_image.lua",
    ["mpns.patterns.one_time"] = "lua/mpns/patterns/one_time.lua",
    ["mpns.patterns.schedule"] = "lua/mpns/patterns/schedule.lua",
    ["mpns.queue"] = "lua/mpns/queue.lua",
    ["mpns.registry"] = "lua/mpns/registry.lua",
    ["mpns.resty"] = "lua/mpns/resty.lua",
    ["mpns.sender"] = "lua/mpns/sender.lua",
    ["mpns.sender.client"] = "lua/mpns/sender/client.lua",
    ["mpns.sender.resty"] = "lua/mpns/sender/resty.lua",
    ["mpns.store"] = "lua/mpns/store.lua",
    ["mpns.store.memory"] = "lua/mpns/store/memory.lua",
    ["mpns.store.redis"] = "lua/mpns/store/redis.lua",
    ["mpns.store.redis.conn"] = "lua/mpns/store/redis/conn.lua",
    ["mpns.store.redis.scripts"] = "lua/mpns/store/redis/scripts.lua",
    ["mpns.store.sqlite"] = "lua/mpns/store/sqlite.lua",
    ["mpns.worker"] = "lua/mpns/worker.lua",
    ["mpns.worker.cli"] = "lua/mpns/worker/cli.lua",
    ["mpns.worker.scripts"] = "lua/mpns/worker/scripts.lua",
    ["mpns.worker.status"] = "lua/mpns/worker/status.lua",
    ["mpns.core"] = {
      sources = {
        "csrc/check.c", "csrc/client.c", "csrc/escape.c", "csrc/failure.c",
        "csrc/fields.c", "csrc/lclient.c", "csrc/lmessage.c", "csrc/lmpns.c",
        "csrc/lresponse.c", "csrc/lsignal.c", "csrc/message.c", "csrc/message_id.c",
        "csrc/poller.c", "csrc/queue.c", "csrc/response.c", "csrc/timers.c", "csrc/xfer.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      incdirs = { "$(CURL_INCDIR)" },
      libdirs = { "$(CURL_LIBDIR)" },
      libraries = { "curl" },
    },
    -- the tile renderer, a module of its own so that only those who render
    -- load cairo; check.c and fields.c bring it the core's UTF-8 check
    ["mpns.image"] = {
      sources = {
        "csrc/image.c", "csrc/image_draw.c", "csrc/image_load.c", "csrc/image_palette.c",
        "csrc/image_png.c", "csrc/limage.c", "csrc/check.c", "csrc/fields.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      incdirs = { "$(CAIRO_INCDIR)/cairo" },
      libraries = { "cairo", "png16", "jpeg", "m" },
    },
    -- the SQLite store's WAL-gathering VFS (a module of its own: libsqlite3)
    ["mpns.sqlite_wal"] = {
      sources = { "csrc/lsqlite_wal.c" },
      incdirs = { "$(SQLITE_INCDIR)" },
      libdirs = { "$(SQLITE_LIBDIR)" },
      libraries = { "sqlite3" },
    },
  },
}
-- luarocks test: every suite under Lua 5.4 and LuaJIT against the emulator
-- (needs nginx with the Lua module; `make deps` installs what is missing).
test = {
  type = "command",
  command = "make test",
}
