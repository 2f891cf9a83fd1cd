-- luarocks make rockspec/mpns-scm-1.rockspec   (from the repository root)
rockspec_format = "3.0"
package = "mpns"
version = "scm-1"
source = { url = "git+file://." }
description = {
  summary = "Push notifications to Windows Phone (MPNS) from Lua, with a C core on libcurl",
  detailed = [[
Toast, tile, flip/iconic/cycle tile and raw messages built, escaped and
validated in C, downgraded per device OS; blocking and callback-based
delivery over libcurl's multi interface; MPNS answers turned into advice.]],
  license = "MIT",
}
dependencies = { "lua >= 5.1" }
-- libcurl's headers and library come from the system (libcurl4-openssl-dev
-- on Debian keeps curl.h in a multiarch folder the compiler already searches).
build = {
  type = "builtin",
  modules = {
    mpns = "lua/mpns.lua",
    ["mpns.client"] = "lua/mpns/client.lua",
    -- every csrc/*.c (spec/install_spec.lua keeps this list honest)
    ["mpns.core"] = {
      sources = {
        "csrc/check.c", "csrc/client.c", "csrc/escape.c", "csrc/failure.c",
        "csrc/fields.c", "csrc/lclient.c", "csrc/lmessage.c", "csrc/lmpns.c",
        "csrc/lresponse.c", "csrc/message.c", "csrc/poller.c", "csrc/queue.c", "csrc/response.c",
        "csrc/timers.c", "csrc/xfer.c",
      },
      defines = { "_POSIX_C_SOURCE=200809L" },
      libraries = { "curl" },
    },
  },
}
