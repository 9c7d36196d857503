# memprof: build, test, demo and install.
#   make            build ./memprof and ./libmemprof-agent.so
#   make check      install missing packages, build, run the Check suite
#   make demo       install missing packages, build, profile tests/fixtures/demo.c
#   make install    PREFIX=/usr/local DESTDIR= (and BINDIR LIBDIR MANDIR ...)
#   make uninstall  remove what install put there
#   make deb        the Debian package (build/deb/), lintian-clean
#   SANITIZE=1      build memprof and the tests with ASan+UBSan (objects in build-san/)
# CFLAGS, CPPFLAGS and LDFLAGS are honoured (Debian's hardening flags apply).

PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
PKGLIBDIR  ?= $(LIBDIR)/memprof
INCLUDEDIR ?= $(PREFIX)/include
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
CC      ?= gcc
VERSION := 0.1.0
CFLAGS  ?= -O2 -g
CPPFLAGS ?=
LDFLAGS ?=

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD    := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    := build
SANFLAGS :=
endif

WARN     := -std=c11 -Wall -Wextra -Werror
# Recursively expanded on purpose: pkg-config runs when a recipe needs it,
# after the `deps` step had the chance to install the packages.
DW_CFLAGS   = $(shell pkg-config --cflags libdw jansson zlib)
DW_LIBS     = $(shell pkg-config --libs libdw jansson zlib) -lm
UNW_LIBS    = $(shell pkg-config --libs libunwind)
CHECK_CFLAGS = $(shell pkg-config --cflags check libpng)
CHECK_LIBS  = $(shell pkg-config --libs check libpng)
CPPFLAGS_ALL = -Iinclude -Isrc -DMEMPROF_VERSION='"$(VERSION)"'

# src/ is grouped by pipeline stage (src/README.md); the agent is a library of
# its own, linked into the target, never into memprof.
AGENT_DIR  := src/capture/agent
ALL_SRCS   := $(shell find src -name '*.c' -o -name '*.S' | LC_ALL=C sort)
AGENT_SRCS := $(filter $(AGENT_DIR)/%,$(ALL_SRCS))
SRCS       := $(filter-out $(AGENT_DIR)/% src/cli/main.c,$(ALL_SRCS))
OBJS       := $(patsubst src/%,$(BUILD)/%.o,$(basename $(SRCS)))
MAIN_OBJ   := $(BUILD)/cli/main.o
TEST_SRCS  := $(shell find tests -name 'test_*.c' | LC_ALL=C sort)
TEST_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRCS))
HEADERS    := $(wildcard include/memprof/*.h tests/*.h) $(shell find src -name '*.h')

PROGRAM := $(if $(filter 1,$(SANITIZE)),$(BUILD)/memprof,memprof)
AGENT   := libmemprof-agent.so

.PHONY: all deps check demo install uninstall clean bench deb FORCE
all: $(PROGRAM) $(AGENT)

# What the build and the tests need (scripts/install-deps says why each).
SPEEDSCOPE_INDEX = $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/memprof/speedscope/package/dist/release/index.html
deps:
	@pkg-config --exists libdw libunwind check jansson zlib libpng 2>/dev/null && command -v valgrind >/dev/null \
	  && command -v g++ >/dev/null && command -v gdb >/dev/null && command -v chromium >/dev/null \
	  && command -v go >/dev/null && command -v python3 >/dev/null && test -f "$(SPEEDSCOPE_INDEX)" \
	  && command -v python3-dbg >/dev/null && [ -x /usr/bin/python3 ] \
	  && [ "$$(dpkg-query -W -f='$${Status}\n' libjemalloc2 libtcmalloc-minimal4 libmimalloc2.0 2>/dev/null \
	       | grep -c 'install ok installed')" = 3 ] || scripts/install-deps

$(BUILD)/%.o: src/%.c $(HEADERS) | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(CFLAGS) $(SANFLAGS) $(CPPFLAGS_ALL) $(CPPFLAGS) $(DW_CFLAGS) -c -o $@ $<

# Where an installed memprof looks for its agent (besides its own directory
# and ../lib/memprof); main.o is rebuilt when it changes.
$(MAIN_OBJ): CPPFLAGS_ALL += -DMEMPROF_PKGLIBDIR='"$(PKGLIBDIR)"'
$(MAIN_OBJ): $(BUILD)/pkglibdir.stamp
$(BUILD)/pkglibdir.stamp: FORCE | $(BUILD)
	@echo '$(PKGLIBDIR)' | cmp -s - $@ || echo '$(PKGLIBDIR)' > $@
FORCE:

# The breakpoint engine's code that runs inside the target (bp_stubs.h).
$(BUILD)/%.o: src/%.S $(HEADERS) | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) $(CPPFLAGS) -c -o $@ $<

$(PROGRAM): $(OBJS) $(MAIN_OBJ)
	$(CC) $(CFLAGS) $(SANFLAGS) $(LDFLAGS) -o $@ $^ $(DW_LIBS) -lstdc++ -pthread

# The agent lives inside the target: never sanitized, only its entry points exported;
# -fexceptions: a C++ exception thrown by operator new unwinds through it (agent_cxx.c).
$(AGENT): $(AGENT_SRCS) $(HEADERS)
	$(CC) $(WARN) $(CFLAGS) -fPIC -shared -fvisibility=hidden -fexceptions $(CPPFLAGS_ALL) $(CPPFLAGS) $(LDFLAGS) -o $@ \
	  $(AGENT_SRCS) $(UNW_LIBS) -pthread

$(BUILD)/tests/%: tests/%.c tests/harness.c tests/py_harness.c $(OBJS) $(HEADERS) | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O0 -g $(SANFLAGS) $(CPPFLAGS_ALL) -Itests $(DW_CFLAGS) $(CHECK_CFLAGS) -o $@ $< tests/harness.c \
	  tests/py_harness.c $(OBJS) $(DW_LIBS) $(CHECK_LIBS) -lstdc++ -pthread

$(BUILD):
	mkdir -p $(BUILD)/tests

check: deps
	@scripts/check-layout
	@$(MAKE) --no-print-directory $(PROGRAM) $(AGENT) $(TEST_BINS)
	@MEMPROF=$(abspath $(PROGRAM)) MEMPROF_AGENT=$(abspath $(AGENT)) \
	  MEMPROF_TEST_TMP=$(abspath $(BUILD))/tmp scripts/run-tests $(TEST_BINS)

demo: deps
	@$(MAKE) --no-print-directory $(PROGRAM) $(AGENT) $(BUILD)/demo
	./$(PROGRAM) $(BUILD)/demo

$(BUILD)/demo: tests/fixtures/demo.c | $(BUILD)
	$(CC) -O0 -g -o $@ $<

bench: all
	scripts/bench

# The Debian package (debian/), checked with lintian, into build/deb/.
deb:
	scripts/build-deb build/deb

# Everything install puts in place, so uninstall removes exactly that.
# memprof.h (the annotation API, header only) and its pkg-config file go
# along: pkg-config --cflags memprof.
PKGCONFIGDIR ?= $(DATADIR)/pkgconfig
INSTALLED := $(BINDIR)/memprof $(PKGLIBDIR)/$(AGENT) $(MANDIR)/man1/memprof.1 $(BASHCOMPDIR)/memprof \
  $(INCLUDEDIR)/memprof/memprof.h $(PKGCONFIGDIR)/memprof.pc

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR) \
	  $(DESTDIR)$(INCLUDEDIR)/memprof $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 memprof $(DESTDIR)$(BINDIR)/memprof
	install -m 644 $(AGENT) $(DESTDIR)$(PKGLIBDIR)/$(AGENT)
	install -m 644 man/memprof.1 $(DESTDIR)$(MANDIR)/man1/memprof.1
	install -m 644 scripts/completion/memprof.bash $(DESTDIR)$(BASHCOMPDIR)/memprof
	install -m 644 include/memprof/memprof.h $(DESTDIR)$(INCLUDEDIR)/memprof/memprof.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' memprof.pc.in \
	  > $(DESTDIR)$(PKGCONFIGDIR)/memprof.pc
	chmod 644 $(DESTDIR)$(PKGCONFIGDIR)/memprof.pc

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(PKGLIBDIR) $(DESTDIR)$(INCLUDEDIR)/memprof 2>/dev/null

clean:
	rm -rf build build-san memprof $(AGENT)
