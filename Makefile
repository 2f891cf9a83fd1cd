# lua-mpns: one C core, built for Lua 5.4 and for LuaJIT (OpenResty).
#   make            build both modules into build/
#   make test       install what is missing, build, run every suite under both
#   make demo       install, build, start the emulator, push one of each kind
#   make stories    each seed's story (examples/stories/) against the emulator
#   make bench      the benchmarks (bench/README.md)
#   make emulator   the MPNS emulator in the foreground (PORT=, TLS_PORT=)
#   make repl       Lua 5.4 with mpns loaded, for trying push logic
#   make install    install for Lua 5.4 and LuaJIT (honours DESTDIR)

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror -std=c99 -D_POSIX_C_SOURCE=200809L
ALL_CFLAGS = $(WARN) $(CFLAGS) -fPIC -fvisibility=hidden

PKG      = pkg-config
CURL_CFLAGS = $(shell $(PKG) --cflags libcurl 2>/dev/null)
CURL_LIBS   = $(shell $(PKG) --libs libcurl 2>/dev/null || echo -lcurl)
LUA54_CFLAGS = $(shell $(PKG) --cflags lua5.4 2>/dev/null)
JIT_CFLAGS   = $(shell $(PKG) --cflags luajit 2>/dev/null)

# Binding files start with "l" (lmpns.c, lmessage.c, ...); the rest is the
# plain C library, built once and linked into both modules.
BIND_SRC = $(wildcard csrc/l*.c)
CORE_SRC = $(filter-out $(BIND_SRC),$(wildcard csrc/*.c))
HEADERS  = $(wildcard csrc/*.h)
CORE_OBJ = $(CORE_SRC:csrc/%.c=build/core/%.o)

MOD54  = build/5.4/mpns/core.so
MODJIT = build/jit/mpns/core.so

# Debian packages the build, the tests, the emulator and the demo need.
DEB_PKGS = gcc make pkg-config lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev \
	libcurl4-openssl-dev lua-unit lua-cjson lua-expat nginx libnginx-mod-http-lua \
	openssl curl valgrind luarocks \
	lua-dbi-sqlite3 sqlite3 redis-server lua-redis lua-nginx-redis lua-socket \
	libcairo2-dev fonts-dejavu-core chromium clang lua-ldoc strace
BENCH_PKGS = wrk nodejs npm
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build deps bench-deps test check-memory demo stories bench emulator repl install clean

all: build
build: $(MOD54) $(MODJIT) build/libmpns.a build/core_test build/embed

# examples/embed.c: the engine driven from a host's own poll() loop.
build/embed: examples/embed.c build/libmpns.a
	$(CC) $(WARN) $(CFLAGS) -Icsrc -o $@ $^ $(CURL_LIBS)

# The C core's own test: a C caller with no Lua (spec/run runs it under valgrind).
build/core_test: spec/c/core_test.c build/libmpns.a
	$(CC) $(WARN) $(CFLAGS) -Icsrc -o $@ $^ $(CURL_LIBS)

build/core/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(CURL_CFLAGS) -c $< -o $@

build/5.4/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LUA54_CFLAGS) -c $< -o $@

build/jit/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(JIT_CFLAGS) -c $< -o $@

# No -llua: the interpreter exports the API the module uses.
$(MOD54): $(BIND_SRC:csrc/%.c=build/5.4/%.o) $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $^ $(CURL_LIBS)

$(MODJIT): $(BIND_SRC:csrc/%.c=build/jit/%.o) $(CORE_OBJ)
	@mkdir -p $(@D)
	$(CC) -shared -o $@ $^ $(CURL_LIBS)

build/libmpns.a: $(CORE_OBJ)
	ar rcs $@ $^

# Installs only what is missing, so a warm machine pays nothing.
deps:
	@missing=$$(for p in $(DEB_PKGS) $(EXTRA_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

bench-deps:
	@$(MAKE) --no-print-directory deps EXTRA_PKGS="$(if $(shell command -v npm),wrk,$(BENCH_PKGS))"

test: deps
	@$(MAKE) --no-print-directory build
	@spec/run

check-memory: deps
	@$(MAKE) --no-print-directory build
	@spec/run --memory

demo: deps
	@$(MAKE) --no-print-directory build
	@examples/demo

stories: deps
	@$(MAKE) --no-print-directory build
	@examples/stories/run

bench: bench-deps
	@$(MAKE) --no-print-directory build build/5.4/floor.so build/jit/floor.so
	@bench/run

# The VM's floor for bench/messages.lua: a constructor that builds nothing.
build/5.4/floor.so: bench/floor.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -fPIC $(LUA54_CFLAGS) -shared -o $@ $<

build/jit/floor.so: bench/floor.c
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) -fPIC $(JIT_CFLAGS) -shared -o $@ $<

emulator: deps
	@emulator/run $(PORT) $(TLS_PORT)

# Lua 5.4 with mpns loaded, straight from the build tree.
repl: build
	@LUA_PATH_5_4="./lua/?.lua;;" LUA_CPATH_5_4="./build/5.4/?.so;;" lua5.4 -i \
	  -e 'mpns = require "mpns"; print(mpns._VERSION .. " loaded as mpns; try  mpns.toast{ text1 = \"hi\" }")'

LMOD54  = $(shell $(PKG) --variable=INSTALL_LMOD lua5.4)
CMOD54  = $(shell $(PKG) --variable=INSTALL_CMOD lua5.4)
LMODJIT = $(shell $(PKG) --variable=INSTALL_LMOD luajit)
CMODJIT = $(shell $(PKG) --variable=INSTALL_CMOD luajit)

install: build
	install -d $(DESTDIR)$(CMOD54)/mpns $(DESTDIR)$(CMODJIT)/mpns \
	  $(DESTDIR)$(LMOD54)/mpns $(DESTDIR)$(LMODJIT)/mpns
	install -m 644 $(MOD54) $(DESTDIR)$(CMOD54)/mpns/core.so
	install -m 644 $(MODJIT) $(DESTDIR)$(CMODJIT)/mpns/core.so
	for d in $(DESTDIR)$(LMOD54) $(DESTDIR)$(LMODJIT); do \
	  install -m 644 lua/mpns.lua $$d/mpns.lua && \
	  install -m 644 $(wildcard lua/mpns/*.lua) $$d/mpns/; done

clean:
	rm -rf build
