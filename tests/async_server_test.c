/* What step 6's server promises beyond the protocol suite (`async_server_test
 * BINARY`): -v tells the lesson's story in order. (Out of file descriptors it
 * behaves as every server from step 2 on: tests/server_test.c checks that.) */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static const char *binary;
static struct server srv;
static int running;

/* A failed test must not leave its server behind. */
static int stop_if_running(void **state)
{
    (void)state;
    if (running)
        server_stop(&srv);
    running = 0;
    return 0;
}

static void start(const char *program, const char *const *args)
{
    assert_int_equal(server_start(&srv, program, args), 0);
    running = 1;
}

/* Stops it, and expects a clean exit. */
static void stop(void)
{
    running = 0;
    assert_int_equal(server_stop(&srv), 0);
}

/* The server's log, read whole. */
static char *read_log(const struct server *s)
{
    static char text[1 << 16];
    FILE *f = fopen(s->log, "r");
    size_t n;
    assert_non_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return text;
}

static void test_trace_tells_one_ping_pong(void **state)
{
    const char *args[] = { "-v", NULL };
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    char story[1024];
    const char *log, *first;
    int fd, n;
    (void)state;
    start(binary, args);
    fd = client_connect(srv.port);
    assert_true(fd >= 0);
    assert_int_equal(client_exchange(fd, "first\n", 6, 1, MUST_MS), 0);
    assert_int_equal(client_exchange(fd, "ping\n", 5, 1, MUST_MS), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&me, &len), 0);
    close(fd);
    stop();
    /* The server's fd for this client, from its line for the first exchange. */
    log = read_log(&srv);
    first = strstr(log, ": read 6 bytes, 1 lines");
    assert_non_null(first);
    while (first > log && first[-1] != '\n')
        first--;
    assert_int_equal(sscanf(first, "fd %d:", &n), 1);
    /* The second exchange, line after line with nothing in between: the loop
     * waits; the fd is ready and wakes the task; the task runs, reads, sends
     * (at once: no wait), and awaits the fd again; the loop waits. */
    snprintf(story, sizeof story,
             "loop: waiting for I/O\n"
             "fd %d readable: wakes task 127.0.0.1:%u\n"
             "task 127.0.0.1:%u runs\n"
             "fd %d: read 5 bytes, 1 lines, 12 bytes owed\n"
             "fd %d: sent 12 bytes, 0 still owed\n"
             "task 127.0.0.1:%u awaits fd %d readable\n"
             "loop: waiting for I/O\n",
             n, (unsigned)ntohs(me.sin_port), (unsigned)ntohs(me.sin_port), n, n, (unsigned)ntohs(me.sin_port), n);
    if (!strstr(first, story))
        fprintf(stderr, "# expected:\n%s# in:\n%s", story, first);
    assert_non_null(strstr(first, story));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_trace_tells_one_ping_pong, stop_if_running),
    };
    if (argc != 2) {
        fprintf(stderr, "usage: %s SERVER_BINARY\n", argv[0]);
        return 2;
    }
    binary = argv[1];
    return cmocka_run_group_tests_name(binary, tests, NULL, NULL);
}
