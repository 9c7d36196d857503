# memprof: build, test, demo and install.
#   make            build ./memprof and ./libmemprof-agent.so
#   make check      install missing packages, build, run the Check suite
#   make demo       install missing packages, build, profile tests/fixtures/demo.c
#   make install    PREFIX=/usr/local DESTDIR=
#   SANITIZE=1      build memprof and the tests with ASan+UBSan (objects in build-san/)

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= gcc
VERSION := 0.1.0

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
BUILD    := build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    := build
SANFLAGS :=
endif

WARN     := -std=c11 -Wall -Wextra -Werror
OPT      := -O2 -g
# Recursively expanded on purpose: pkg-config runs when a recipe needs it,
# after the `deps` step had the chance to install the packages.
DW_CFLAGS   = $(shell pkg-config --cflags libdw jansson)
DW_LIBS     = $(shell pkg-config --libs libdw jansson)
UNW_LIBS    = $(shell pkg-config --libs libunwind)
CHECK_CFLAGS = $(shell pkg-config --cflags check)
CHECK_LIBS  = $(shell pkg-config --libs check)
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

.PHONY: all deps check demo install uninstall clean bench
all: $(PROGRAM) $(AGENT)

deps:
	@pkg-config --exists libdw libunwind check jansson 2>/dev/null && command -v valgrind >/dev/null \
	  && command -v g++ >/dev/null && command -v gdb >/dev/null || scripts/install-deps

$(BUILD)/%.o: src/%.c $(HEADERS) | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(WARN) $(OPT) $(SANFLAGS) $(CPPFLAGS_ALL) $(DW_CFLAGS) -c -o $@ $<

# The breakpoint engine's code that runs inside the target (bp_stubs.h).
$(BUILD)/%.o: src/%.S $(HEADERS) | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS_ALL) -c -o $@ $<

$(PROGRAM): $(OBJS) $(MAIN_OBJ)
	$(CC) $(SANFLAGS) -o $@ $^ $(DW_LIBS) -lstdc++ -pthread

# The agent lives inside the target: never sanitized, only its entry points exported.
$(AGENT): $(AGENT_SRCS) $(HEADERS)
	$(CC) $(WARN) $(OPT) -fPIC -shared -fvisibility=hidden $(CPPFLAGS_ALL) -o $@ $(AGENT_SRCS) $(UNW_LIBS) -pthread

$(BUILD)/tests/%: tests/%.c tests/harness.c $(OBJS) $(HEADERS) | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(WARN) -O0 -g $(SANFLAGS) $(CPPFLAGS_ALL) -Itests $(DW_CFLAGS) $(CHECK_CFLAGS) -o $@ $< tests/harness.c $(OBJS) $(DW_LIBS) $(CHECK_LIBS) -lstdc++ -pthread

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

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/memprof $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 memprof $(DESTDIR)$(PREFIX)/bin/memprof
	install -m 644 $(AGENT) $(DESTDIR)$(PREFIX)/lib/memprof/$(AGENT)
	install -m 644 man/memprof.1 $(DESTDIR)$(PREFIX)/share/man/man1/memprof.1

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/memprof $(DESTDIR)$(PREFIX)/lib/memprof/$(AGENT) \
	  $(DESTDIR)$(PREFIX)/share/man/man1/memprof.1

clean:
	rm -rf build build-san memprof $(AGENT)
