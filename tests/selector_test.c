/* Unit tests of the selector (3_selectors_callbacks/selector.h), built once
 * per backend this platform has. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "selector.h"

#if defined(SEL_USE_POLL)
#define EXPECTED_BACKEND "poll"
#elif defined(SEL_USE_KQUEUE)
#define EXPECTED_BACKEND "kqueue"
#else
#define EXPECTED_BACKEND "epoll"
#endif

static void nothing(struct selector *sel, int fd, int events, void *data)
{
    (void)sel, (void)fd, (void)events, (void)data;
}

static struct selector *sel;
static int pair[2]; /* a connected socket pair: write to [1], [0] becomes readable */

static int setup(void **state)
{
    (void)state;
    sel = sel_create();
    return sel && socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    sel_close(sel);
    close(pair[0]);
    close(pair[1]);
    return 0;
}

/* One sel_select() with a zero timeout; returns the events reported for fd
 * (0 if none), checking that no other fd is reported. */
static int poll_once(int fd)
{
    struct sel_event ready[8];
    int n = sel_select(sel, ready, 8, 0), events = 0;
    assert_true(n >= 0);
    for (int i = 0; i < n; i++) {
        assert_int_equal(ready[i].fd, fd);
        events |= ready[i].events;
    }
    return events;
}

static void test_backend_name(void **state)
{
    (void)state;
    assert_string_equal(sel_backend(), EXPECTED_BACKEND);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    errno = 0;
    assert_int_equal(sel_register(sel, -1, SEL_READ, nothing, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(sel_register(sel, pair[0], 4, nothing, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, NULL, NULL), -1);
    assert_int_equal(errno, EINVAL);
    assert_int_equal(sel_modify(sel, pair[0], SEL_READ, nothing, NULL), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(sel_unregister(sel, pair[0]), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, nothing, NULL), 0);
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, nothing, NULL), -1);
    assert_int_equal(errno, EEXIST);
    assert_int_equal(sel_modify(sel, pair[0], SEL_READ | 8, nothing, NULL), -1);
    assert_int_equal(errno, EINVAL);
}

static void test_key_holds_what_was_registered(void **state)
{
    int data;
    const struct sel_key *key;
    (void)state;
    assert_null(sel_get_key(sel, pair[0]));
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, nothing, &data), 0);
    key = sel_get_key(sel, pair[0]);
    assert_non_null(key);
    assert_int_equal(key->fd, pair[0]);
    assert_int_equal(key->events, SEL_READ);
    assert_ptr_equal(key->callback, nothing);
    assert_ptr_equal(key->data, &data);
    assert_int_equal(sel_unregister(sel, pair[0]), 0);
    assert_null(sel_get_key(sel, pair[0]));
}

static void test_readable_only_when_data_arrives(void **state)
{
    char c;
    (void)state;
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, nothing, NULL), 0);
    assert_int_equal(poll_once(pair[0]), 0);
    assert_int_equal(write(pair[1], "x", 1), 1);
    assert_int_equal(poll_once(pair[0]), SEL_READ);
    assert_int_equal(poll_once(pair[0]), SEL_READ); /* level-triggered: still there */
    assert_int_equal(read(pair[0], &c, 1), 1);
    assert_int_equal(poll_once(pair[0]), 0);
}

static void test_writable_at_once(void **state)
{
    (void)state;
    assert_int_equal(sel_register(sel, pair[0], SEL_WRITE, nothing, NULL), 0);
    assert_int_equal(poll_once(pair[0]), SEL_WRITE);
}

static void test_modify_changes_what_is_watched(void **state)
{
    (void)state;
    assert_int_equal(write(pair[1], "x", 1), 1);
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, nothing, NULL), 0);
    assert_int_equal(poll_once(pair[0]), SEL_READ);
    assert_int_equal(sel_modify(sel, pair[0], SEL_WRITE, nothing, NULL), 0);
    assert_int_equal(poll_once(pair[0]), SEL_WRITE);
    assert_int_equal(sel_modify(sel, pair[0], SEL_READ | SEL_WRITE, nothing, NULL), 0);
    assert_int_equal(poll_once(pair[0]), SEL_READ | SEL_WRITE);
    /* Watching nothing keeps the key but reports nothing. */
    assert_int_equal(sel_modify(sel, pair[0], 0, nothing, NULL), 0);
    assert_non_null(sel_get_key(sel, pair[0]));
    assert_int_equal(poll_once(pair[0]), 0);
    assert_int_equal(sel_modify(sel, pair[0], SEL_READ, nothing, NULL), 0);
    assert_int_equal(poll_once(pair[0]), SEL_READ);
}

static void test_unregistered_fd_is_not_reported(void **state)
{
    (void)state;
    assert_int_equal(write(pair[1], "x", 1), 1);
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, nothing, NULL), 0);
    assert_int_equal(sel_unregister(sel, pair[0]), 0);
    assert_int_equal(poll_once(pair[0]), 0);
    /* and it can be registered again */
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, nothing, NULL), 0);
    assert_int_equal(poll_once(pair[0]), SEL_READ);
}

static void test_peer_close_is_readable(void **state)
{
    (void)state;
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, nothing, NULL), 0);
    close(pair[1]);
    pair[1] = -1;
    assert_true(poll_once(pair[0]) & SEL_READ); /* the read will return end of stream */
}

static void test_timeout_waits(void **state)
{
    struct sel_event ready[1];
    struct timespec t0, t1;
    long ms;
    (void)state;
    assert_int_equal(sel_register(sel, pair[0], SEL_READ, nothing, NULL), 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(sel_select(sel, ready, 1, 50), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(ms >= 45); /* a lower bound only: a busy machine may wait longer */
}

/* More ready fds than the caller's array holds: each gets its turn. */
static void test_every_ready_fd_gets_its_turn(void **state)
{
    enum { N = 3000 };
    static int pairs[N][2];
    static char seen[N];
    struct rlimit lim;
    int reported = 0;
    (void)state;
    getrlimit(RLIMIT_NOFILE, &lim);
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    if (lim.rlim_cur < 2 * N + 100)
        skip(); /* this machine allows too few fds */
    for (int i = 0; i < N; i++) {
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, pairs[i]), 0);
        assert_int_equal(write(pairs[i][1], "x", 1), 1);
        assert_int_equal(sel_register(sel, pairs[i][0], SEL_READ, nothing, &seen[i]), 0);
    }
    for (int round = 0; round < 2 * N && reported < N; round++) {
        struct sel_event ready[64];
        int n = sel_select(sel, ready, 64, 1000);
        assert_true(n > 0 && n <= 64);
        for (int i = 0; i < n; i++) {
            char *flag = sel_get_key(sel, ready[i].fd)->data, c;
            assert_int_equal(ready[i].events, SEL_READ);
            assert_int_equal(read(ready[i].fd, &c, 1), 1); /* so it is not ready again */
            assert_int_equal(*flag, 0);
            *flag = 1;
            reported++;
        }
    }
    assert_int_equal(reported, N);
    for (int i = 0; i < N; i++) {
        sel_unregister(sel, pairs[i][0]);
        close(pairs[i][0]);
        close(pairs[i][1]);
    }
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_backend_name),
        T(test_bad_arguments),
        T(test_key_holds_what_was_registered),
        T(test_readable_only_when_data_arrives),
        T(test_writable_at_once),
        T(test_modify_changes_what_is_watched),
        T(test_unregistered_fd_is_not_reported),
        T(test_peer_close_is_readable),
        T(test_timeout_waits),
        T(test_every_ready_fd_gets_its_turn),
    };
    return cmocka_run_group_tests_name("selector (" EXPECTED_BACKEND ")", tests, NULL, NULL);
}
