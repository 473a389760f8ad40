# Tests: build/ holds the test programs; tests/run.sh runs them and counts.

SELECTOR_BACKENDS := $(if $(filter Linux,$(shell uname -s)),epoll poll,kqueue poll)
# Unit tests: tests/NAME_test.c, linked with the step sources it tests
# (UNIT_NAME) and the harness.
UNIT_TESTS := build_alone copies gen coro coro_programs http http_suites bmp asyncio ticker async_server image
UNIT_gen := 4_generators/gen.c
UNIT_coro := 5_coroutines/gen.c
UNIT_http := 6_async_await/http.c
UNIT_http_suites := 6_async_await/http.c
UNIT_bmp := 6_async_await/bmp.c
UNIT_asyncio := $(addprefix 6_async_await/,tasks.c futures.c loop.c signals.c sockets.c gen.c selector.c)
UNIT_image := 6_async_await/http.c 6_async_await/bmp.c

TEST_PROGRAMS := build/tour build/server_test $(SELECTOR_BACKENDS:%=build/selector_test_%) $(UNIT_TESTS:%=build/%_test)
SERVER_RUNS := \
	"build/server_test 1_intro/server blocking" \
	"build/server_test 2_select/server select" \
	"build/server_test 3_selectors_callbacks/server scalable" \
	"build/server_test 4_generators/server scalable" \
	"build/server_test 5_coroutines/server scalable" \
	"build/server_test 6_async_await/server scalable"
TEST_RUNS := $(SERVER_RUNS) \
	$(SELECTOR_BACKENDS:%=build/selector_test_%) \
	build/build_alone_test build/copies_test build/gen_test build/coro_test "build/coro_programs_test 5_coroutines" build/http_test build/http_suites_test build/bmp_test build/asyncio_test \
	"build/ticker_test 6_async_await/ticker" "build/async_server_test 6_async_await/server" build/image_test \
	$(foreach n,1 2 3 4 5 6,"build/tour $(n) .")

# Where kqueue cannot run, make cross builds it against the macOS SDK headers.
test: all $(TEST_PROGRAMS)
	@sh tests/peers.sh
	@sh tests/run.sh $(TEST_RUNS)

# The server suites again, each server run under valgrind's memcheck: any error
# or leak makes its exit status 99, which fails the test that stopped it.
valgrind: all build/server_test build/image_test
	@sh tests/peers.sh
	@SERVER_WRAPPER="valgrind -q --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect --error-exitcode=99" \
		sh tests/run.sh $(SERVER_RUNS) build/image_test

build/cmocka.flags: tests/cmocka.sh
	@mkdir -p build
	CC="$(CC)" sh tests/cmocka.sh > $@.tmp && mv $@.tmp $@

HARNESS := tests/harness.c tests/harness.h

# Each step's scene (make tour STEP=N), played and checked: libc only, no harness.
build/tour: tests/tour.c build/flags
	$(CC) $(BASE_CFLAGS) -o $@ tests/tour.c $(LDFLAGS)

build/server_test: tests/server_test.c $(HARNESS) build/cmocka.flags build/flags
	$(CC) $(ALL_CFLAGS) -Itests -o $@ tests/server_test.c tests/harness.c $(LDFLAGS) $$(cat build/cmocka.flags)

build/selector_test_%: tests/selector_test.c $(wildcard 3_selectors_callbacks/*.[ch]) build/cmocka.flags build/flags
	$(CC) $(BASE_CFLAGS) $(BACKEND_FLAG_$*) -I3_selectors_callbacks -o $@ tests/selector_test.c \
		3_selectors_callbacks/selector.c $(LDFLAGS) $$(cat build/cmocka.flags)

.SECONDEXPANSION:
build/%_test: tests/%_test.c $$(UNIT_$$*) $$(wildcard $$(addsuffix *.h,$$(dir $$(UNIT_$$*)))) $(HARNESS) \
		build/cmocka.flags build/flags
	$(CC) $(BASE_CFLAGS) -Itests $(addprefix -I,$(sort $(dir $(UNIT_$*)))) -o $@ $< $(UNIT_$*) tests/harness.c \
		$(LDFLAGS) $$(cat build/cmocka.flags)
# The suites' messages live in a data file of their own.
build/http_suites_test: tests/http_suites.inc
