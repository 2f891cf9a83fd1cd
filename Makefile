# lua-mpns: one C core, built for Lua 5.4 and for LuaJIT (OpenResty).
#   make            build both modules into build/
#   make test       install what is missing, build, run every suite under both
#   make demo       install, build, start the emulator, push one of each kind
#   make stories    each seed's story (examples/stories/) against the emulator
#   make bench      the benchmarks (bench/README.md)
#   make emulator   the MPNS emulator in the foreground (PORT=, TLS_PORT=)
#   make repl       Lua 5.4 with mpns loaded, for trying push logic
#   make install    install for Lua 5.4 and LuaJIT (PREFIX=/usr/local, DESTDIR)
#   make uninstall  remove what install put there
#   make env        eval "$(make -s env)": use this checkout from any folder
#   make doc        the API page into build/doc (ldoc)
#   make fuzz       each libFuzzer harness for FUZZ_TIME s (spec/fuzz/README.md)
#   make check-asan the C test and every Lua 5.4 suite under ASan + UBSan

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
# The tile renderer (csrc/image*.c under csrc/limage.c) is a module of its
# own, mpns.image, so that only programs that render tiles load cairo.
IMAGE_SRC = $(wildcard csrc/image*.c)
IMAGE_OBJ = $(IMAGE_SRC:csrc/%.c=build/core/%.o)
IMAGE_CFLAGS = $(shell $(PKG) --cflags cairo libpng 2>/dev/null)
IMAGE_LIBS = $(shell $(PKG) --libs cairo libpng 2>/dev/null || echo -lcairo -lpng16) -ljpeg -lm
# The SQLite store's WAL-gathering VFS (csrc/lsqlite_wal.c) is one too,
# mpns.sqlite_wal, so that only the SQLite store loads libsqlite3.
SQLITE_LIBS = $(shell $(PKG) --libs sqlite3 2>/dev/null || echo -lsqlite3)
BIND_SRC = $(filter-out csrc/limage.c csrc/lsqlite_wal.c,$(wildcard csrc/l*.c))
CORE_SRC = $(filter-out $(BIND_SRC) csrc/limage.c csrc/lsqlite_wal.c $(IMAGE_SRC),$(wildcard csrc/*.c))
HEADERS  = $(wildcard csrc/*.h)
CORE_OBJ = $(CORE_SRC:csrc/%.c=build/core/%.o)

MOD54  = build/5.4/mpns/core.so
MODJIT = build/jit/mpns/core.so
IMG54  = build/5.4/mpns/image.so
IMGJIT = build/jit/mpns/image.so
WAL54  = build/5.4/mpns/sqlite_wal.so
WALJIT = build/jit/mpns/sqlite_wal.so

# Debian packages the build, the tests, the emulator and the demo need.
DEB_PKGS = gcc make pkg-config lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev \
	libcurl4-openssl-dev lua-unit lua-cjson lua-expat nginx libnginx-mod-http-lua \
	openssl curl valgrind luarocks \
	lua-dbi-sqlite3 sqlite3 libsqlite3-dev redis-server lua-redis lua-nginx-redis lua-socket lua-sec \
	libcairo2-dev libpng-dev libjpeg-dev fonts-dejavu-core chromium clang lua-ldoc strace \
	libexpat1-dev
BENCH_PKGS = wrk nodejs npm
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build deps bench-deps test check-memory demo stories bench emulator repl install \
	uninstall env doc clean fuzz fuzz-build check-asan asan-build

all: build
build: $(MOD54) $(MODJIT) build/libmpns.a build/core_test build/embed \
	$(IMG54) $(IMGJIT) build/image_test $(WAL54) $(WALJIT)

# examples/embed.c: the engine driven from a host's own poll() loop.
build/embed: examples/embed.c build/libmpns.a
	$(CC) $(WARN) $(CFLAGS) -Icsrc -o $@ $^ $(CURL_LIBS)

# The C core's own test: a C caller with no Lua (spec/run runs it under valgrind).
build/core_test: spec/c/core_test.c build/libmpns.a
	$(CC) $(WARN) $(CFLAGS) -Icsrc -o $@ $^ $(CURL_LIBS)

# The renderer's C test, and the fixtures (noisy PNG, JPEG) image_spec reads.
build/image_test: spec/c/image_test.c $(IMAGE_OBJ) build/libmpns.a
	$(CC) $(WARN) $(CFLAGS) -Icsrc $(IMAGE_CFLAGS) -o $@ $^ $(IMAGE_LIBS)

$(IMAGE_OBJ): build/core/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(IMAGE_CFLAGS) -c $< -o $@

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

# mpns.image: the renderer, and from libmpns.a only what it uses (UTF-8 check).
$(IMG54): build/5.4/limage.o $(IMAGE_OBJ) build/libmpns.a
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-z,nodelete -o $@ $^ $(IMAGE_LIBS)

$(IMGJIT): build/jit/limage.o $(IMAGE_OBJ) build/libmpns.a
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-z,nodelete -o $@ $^ $(IMAGE_LIBS)

$(WAL54): build/5.4/lsqlite_wal.o
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-z,nodelete -o $@ $^ $(SQLITE_LIBS)

$(WALJIT): build/jit/lsqlite_wal.o
	@mkdir -p $(@D)
	$(CC) -shared -Wl,-z,nodelete -o $@ $^ $(SQLITE_LIBS)

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
	@$(MAKE) --no-print-directory build fuzz-build
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

# ---- sanitizers: Debian's clang; expat is the message fuzzer's XML referee.
SAN_CC   = clang
SAN      = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_TIME ?= 60
FUZZERS  = message response
MSG_SRC  = csrc/message.c csrc/check.c csrc/escape.c csrc/fields.c csrc/response.c
# response_fuzz includes xfer.c itself, to reach its static header parser.
RESP_SRC = $(filter-out csrc/xfer.c,$(CORE_SRC))

build/fuzz/message_fuzz: spec/fuzz/message_fuzz.c spec/fuzz/fuzz_util.h $(MSG_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(SAN_CC) $(WARN) $(SAN) -fsanitize=fuzzer -Icsrc -o $@ $< $(MSG_SRC) -lexpat

build/fuzz/response_fuzz: spec/fuzz/response_fuzz.c spec/fuzz/fuzz_util.h $(CORE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(SAN_CC) $(WARN) $(SAN) -fsanitize=fuzzer -Icsrc $(CURL_CFLAGS) -o $@ $< $(RESP_SRC) $(CURL_LIBS)

fuzz-build: $(FUZZERS:%=build/fuzz/%_fuzz)

# Fuzzes each harness for FUZZ_TIME seconds, then minimises its corpus back
# into spec/fuzz/corpus/ (commit it when it grew).
fuzz: deps
	@$(MAKE) --no-print-directory fuzz-build
	@spec/fuzz/run $(FUZZ_TIME) $(FUZZERS)

# The module and a Lua 5.4 host built with ASan + UBSan (spec/c/lua_asan.c):
# the runtime is in the host, so no LD_PRELOAD reaches the specs' children.
ASAN_OBJ = $(CORE_SRC:csrc/%.c=build/asan/core/%.o) $(BIND_SRC:csrc/%.c=build/asan/core/%.o)

build/asan/core/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(SAN_CC) $(WARN) $(SAN) -fPIC -fvisibility=hidden $(CURL_CFLAGS) $(LUA54_CFLAGS) -c $< -o $@

build/asan/mpns/core.so: $(ASAN_OBJ)
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN) -shared -o $@ $^ $(CURL_LIBS)

build/asan/lua_asan: spec/c/lua_asan.c
	@mkdir -p $(@D)
	$(SAN_CC) $(WARN) $(SAN) $(LUA54_CFLAGS) -o $@ $< $(shell $(PKG) --libs lua5.4)

build/asan/core_test: spec/c/core_test.c $(CORE_SRC) $(HEADERS)
	@mkdir -p $(@D)
	$(SAN_CC) $(WARN) $(SAN) -Icsrc $(CURL_CFLAGS) -o $@ $< $(CORE_SRC) $(CURL_LIBS)

# mpns.image too, so the suites that render see the same module as make test.
ASAN_IMG_OBJ = $(IMAGE_SRC:csrc/%.c=build/asan/img/%.o) build/asan/img/limage.o

build/asan/img/%.o: csrc/%.c $(HEADERS)
	@mkdir -p $(@D)
	$(SAN_CC) $(WARN) $(SAN) -fPIC -fvisibility=hidden $(IMAGE_CFLAGS) $(LUA54_CFLAGS) -c $< -o $@

build/asan/mpns/image.so: $(ASAN_IMG_OBJ) build/asan/core/check.o build/asan/core/fields.o
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN) -shared -o $@ $^ $(IMAGE_LIBS)

build/asan/mpns/sqlite_wal.so: build/asan/core/lsqlite_wal.o
	@mkdir -p $(@D)
	$(SAN_CC) $(SAN) -shared -o $@ $^ $(SQLITE_LIBS)

asan-build: build/asan/mpns/core.so build/asan/mpns/image.so build/asan/mpns/sqlite_wal.so build/asan/lua_asan build/asan/core_test

check-asan: deps
	@$(MAKE) --no-print-directory build asan-build
	@spec/run --asan

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

# make install: both modules under PREFIX (default /usr/local, where Lua 5.4
# and LuaJIT look by default), staged under DESTDIR when given.
PREFIX ?= /usr/local
LMOD54  = $(PREFIX)/share/lua/5.4
CMOD54  = $(PREFIX)/lib/lua/5.4
LMODJIT = $(PREFIX)/share/lua/5.1
CMODJIT = $(PREFIX)/lib/lua/5.1
LUA_FILES = $(shell find lua -name '*.lua' | sort)

install: build
	install -d $(DESTDIR)$(CMOD54)/mpns $(DESTDIR)$(CMODJIT)/mpns
	install -m 644 $(MOD54) $(DESTDIR)$(CMOD54)/mpns/core.so
	install -m 644 $(MODJIT) $(DESTDIR)$(CMODJIT)/mpns/core.so
	install -m 644 $(IMG54) $(DESTDIR)$(CMOD54)/mpns/image.so
	install -m 644 $(IMGJIT) $(DESTDIR)$(CMODJIT)/mpns/image.so
	install -m 644 $(WAL54) $(DESTDIR)$(CMOD54)/mpns/sqlite_wal.so
	install -m 644 $(WALJIT) $(DESTDIR)$(CMODJIT)/mpns/sqlite_wal.so
	for d in $(DESTDIR)$(LMOD54) $(DESTDIR)$(LMODJIT); do \
	  for f in $(LUA_FILES:lua/%=%); do install -D -m 644 lua/$$f $$d/$$f || exit 1; done; done
	install -D -m 755 bin/mpns-worker $(DESTDIR)$(PREFIX)/bin/mpns-worker

# Removes exactly what install put there, then the folders left empty.
uninstall:
	for d in $(DESTDIR)$(LMOD54) $(DESTDIR)$(LMODJIT); do \
	  rm -f $(addprefix $$d/,$(LUA_FILES:lua/%=%)); \
	  [ ! -d $$d/mpns ] || find $$d/mpns -depth -type d -empty -delete; done
	rm -f $(DESTDIR)$(CMOD54)/mpns/core.so $(DESTDIR)$(CMODJIT)/mpns/core.so \
	  $(DESTDIR)$(CMOD54)/mpns/image.so $(DESTDIR)$(CMODJIT)/mpns/image.so \
	  $(DESTDIR)$(CMOD54)/mpns/sqlite_wal.so $(DESTDIR)$(CMODJIT)/mpns/sqlite_wal.so
	rm -f $(DESTDIR)$(PREFIX)/bin/mpns-worker
	-rmdir $(DESTDIR)$(CMOD54)/mpns $(DESTDIR)$(CMODJIT)/mpns 2>/dev/null

# eval "$$(make -s env)": builds, then prints the exports that let lua5.4
# and luajit find mpns in this checkout (build output goes to stderr).
env:
	@$(MAKE) --no-print-directory build >&2
	@echo 'export LUA_PATH_5_4="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;"'
	@echo 'export LUA_CPATH_5_4="$(CURDIR)/build/5.4/?.so;;"'
	@echo 'export LUA_PATH="$(CURDIR)/lua/?.lua;$(CURDIR)/lua/?/init.lua;;"'
	@echo 'export LUA_CPATH="$(CURDIR)/build/jit/?.so;;"'

# The API page, from the LuaCATS / ldoc comments (config.ld), into build/doc.
doc:
	ldoc -c config.ld -d build/doc .

# luarocks make builds in place: csrc/*.o and mpns/core.so (git ignores them).
clean:
	rm -rf build mpns csrc/*.o
