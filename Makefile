# asyncio from the ground up, in C: build every step, run them, test them.
#   make                 build all steps          make test        run every test
#   make run STEP=2      build and run a server   make diff STEP=3 what step 3 changed
#   make tour STEP=1     play step 1's scene with clients A, B, C, and check it shows the lesson
#   make bench           measure every server     make fuzz        fuzz the parsers (FUZZ_SECONDS=60)
#   make valgrind        the server tests, each server under valgrind
#   make cross           build for macOS (arm64, x86-64) and musl with zig cc; test the musl servers
#   CC=clang  WERROR=1  SANITIZE=1  BACKEND=poll|epoll|kqueue  change how it is built

CC ?= cc
CFLAGS ?= -O2 -g
WARN := -std=c11 -Wall -Wextra -Wpedantic
ifeq ($(WERROR),1)
WARN += -Werror
endif
ifeq ($(SANITIZE),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
# The selector backend stays the one the tree was last built with (make
# BACKEND=poll, then make run STEP=3 runs the poll build); BACKEND= goes back
# to the platform's best.
ifeq ($(origin BACKEND),undefined)
BACKEND := $(shell cat build/backend 2>/dev/null)
endif
BACKEND_FLAG_ :=
BACKEND_FLAG_epoll := -DSEL_USE_EPOLL
BACKEND_FLAG_kqueue := -DSEL_USE_KQUEUE
BACKEND_FLAG_poll := -DSEL_USE_POLL
ifeq ($(filter $(BACKEND),epoll kqueue poll),)
ifneq ($(BACKEND),)
$(error BACKEND must be epoll, kqueue or poll, not '$(BACKEND)')
endif
endif
BASE_CFLAGS = $(WARN) $(CFLAGS)
ALL_CFLAGS = $(BASE_CFLAGS) $(BACKEND_FLAG_$(BACKEND))

STEPS := 1_intro 2_select 3_selectors_callbacks 4_generators 5_coroutines 6_async_await

# Each program and its sources: the same files as the `cc` line at the top of
# each program gives, to build it alone.
SRC_1_intro/server := $(addprefix 1_intro/,server.c net.c)
SRC_2_select/server := $(addprefix 2_select/,server.c net.c)
SRC_3_selectors_callbacks/server := $(addprefix 3_selectors_callbacks/,server.c net.c selector.c)
SRC_4_generators/server := $(addprefix 4_generators/,server.c net.c gen.c selector.c)
SRC_4_generators/round_robin := $(addprefix 4_generators/,round_robin.c gen.c)
SRC_5_coroutines/server := $(addprefix 5_coroutines/,server.c net.c gen.c selector.c)
SRC_5_coroutines/coroutines := $(addprefix 5_coroutines/,coroutines.c gen.c)
SRC_5_coroutines/delegation := $(addprefix 5_coroutines/,delegation.c gen.c)
RUNTIME := tasks.c futures.c loop.c signals.c sockets.c gen.c selector.c
SRC_6_async_await/server := $(addprefix 6_async_await/,server.c common.c $(RUNTIME))
SRC_6_async_await/ticker := $(addprefix 6_async_await/,ticker.c $(RUNTIME))
SRC_6_async_await/image_server := $(addprefix 6_async_await/,image_server.c common.c $(RUNTIME) http.c bmp.c)
SRC_6_async_await/downloader := $(addprefix 6_async_await/,downloader.c downloads.c common.c $(RUNTIME) http.c)

PROGRAMS := 1_intro/server 2_select/server 3_selectors_callbacks/server \
	4_generators/server 4_generators/round_robin \
	5_coroutines/server 5_coroutines/coroutines 5_coroutines/delegation \
	6_async_await/server 6_async_await/ticker 6_async_await/image_server 6_async_await/downloader

.PHONY: all test valgrind cross print-programs run tour diff bench fuzz print-fuzzers clean FORCE
all: $(PROGRAMS)

# Rebuild everything when the flags change (say, after SANITIZE=1).
build/flags: FORCE
	@mkdir -p build
	@echo '$(BACKEND)' | cmp -s - build/backend || echo '$(BACKEND)' > build/backend
	@echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' > $@

# A program depends on every source of its step (selector.c includes its
# backend files, for one).
define PROGRAM_RULE
$(1): $$(wildcard $(dir $(1))*.[ch]) build/flags
	$$(CC) $$(ALL_CFLAGS) -o $$@ $$(SRC_$(1)) $$(LDFLAGS)
endef
$(foreach p,$(PROGRAMS),$(eval $(call PROGRAM_RULE,$(p))))

STEP ?= 1
PORT ?= 5000
STEP_DIR = $(firstword $(wildcard $(STEP)_*))
run:
	@test -n "$(STEP_DIR)" || { echo "no step $(STEP): try STEP=1 to STEP=$(words $(STEPS))"; exit 2; }
	@$(MAKE) -s $(STEP_DIR)/server
	@test -z "$(BACKEND)" -o "$(STEP)" -lt 3 || echo "(selector backend: $(BACKEND); BACKEND= for the default)"
	./$(STEP_DIR)/server $(PORT)

# The lesson's scene, played by tests/tour.c: one timeline of the clients and
# the server, checked against what the lesson claims (exit 1 if it does not show).
tour: all build/tour
	@build/tour $(STEP) .

PREV_DIR = $(firstword $(wildcard $(shell expr $(STEP) - 1 2>/dev/null)_*))
# Every source file of step N next to the same file of step N-1; new files are named.
diff:
	@test -n "$(STEP_DIR)" -a -n "$(PREV_DIR)" || { echo "make diff STEP=N shows what step N changed, N from 2 to $(words $(STEPS))"; exit 2; }
	@for f in $(notdir $(wildcard $(STEP_DIR)/*.[ch])); do \
		if [ -f $(PREV_DIR)/$$f ]; then diff -u $(PREV_DIR)/$$f $(STEP_DIR)/$$f; else echo "new in $(STEP_DIR): $$f"; fi; \
	done; true

# --- other platforms ---
# Every program built against another C library's headers, each target in an
# output folder of its own (build/cross/TARGET/1_intro/server, ...) so the
# in-place Linux binaries stay as they are. zig cc ships the macOS SDK headers
# and musl; tests/cross.sh installs it into build/zig when ZIG is not given.
CROSS_TARGETS := aarch64-macos x86_64-macos x86_64-linux-musl
cross:
	@sh tests/cross.sh $(CROSS_TARGETS)
print-programs:
	@$(foreach p,$(PROGRAMS),echo '$(p) $(SRC_$(p))';)

# --- tests, benchmarks, fuzzing ---
include tests/tests.mk

# BENCH_PARTS: some of servers cpu pictures downloader (default all); more settings in bench/run.
bench: all
	bash bench/run $(BENCH_PARTS)

# libFuzzer harnesses (clang only). New inputs go to build/fuzz/NAME.corpus; the
# seeds in fuzz/corpus/NAME are read, never written; a crash is written to
# build/fuzz/NAME-crash-* and fails the run.
FUZZERS := http_response http_request http_url command
FUZZ_SECONDS ?= 60
FUZZ_SOURCES_http_response := 6_async_await/http.c
FUZZ_SOURCES_http_request := 6_async_await/http.c
FUZZ_SOURCES_http_url := 6_async_await/http.c
FUZZ_SOURCES_command := 5_coroutines/gen.c
print-fuzzers:
	@echo $(FUZZERS)
fuzz: $(FUZZERS:%=build/fuzz/%)
	@for f in $(FUZZERS); do \
		mkdir -p build/fuzz/$$f.corpus; \
		printf 'fuzz %-14s %ss ... ' $$f $(FUZZ_SECONDS); \
		if build/fuzz/$$f -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/$$f- \
			build/fuzz/$$f.corpus fuzz/corpus/$$f > build/fuzz/$$f.log 2>&1; then \
			grep -o 'Done [0-9]* runs' build/fuzz/$$f.log || echo done; \
		else echo "FAILED: see build/fuzz/$$f.log"; tail -n 30 build/fuzz/$$f.log; exit 1; fi; \
	done
build/fuzz/%: fuzz/%_fuzz.c $$(FUZZ_SOURCES_$$*) $$(wildcard $$(dir $$(FUZZ_SOURCES_$$*))*.h)
	@mkdir -p build/fuzz
	clang $(WARN) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-I$(dir $(FUZZ_SOURCES_$*)) -o $@ $< $(FUZZ_SOURCES_$*)

clean:
	rm -rf build $(PROGRAMS)
