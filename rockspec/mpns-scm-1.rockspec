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
-- mpns.image renders with cairo, libpng and libjpeg (libcairo2-dev,
-- libpng-dev, libjpeg-dev and fonts-dejavu-core on Debian).
external_dependencies = { CAIRO = { header = "cairo/cairo.h" } }
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
  },
}
