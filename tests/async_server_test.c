/* What step 6's server promises beyond the protocol suite (`async_server_test
 * BINARY`): -v tells the lesson's story in order, and out of file descriptors
 * it stops accepting until a client leaves, says so once, and burns no CPU. */
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
#include <time.h>
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

#ifdef __linux__
/* The server's CPU time so far, in clock ticks (Linux /proc). */
static long cpu_ticks(pid_t pid)
{
    char path[64];
    unsigned long utime = 0, stime = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    /* Fields 14 and 15; the name (field 2) has no space in it here. */
    if (fscanf(f, "%*d %*s %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        utime = stime = 0;
    fclose(f);
    return (long)(utime + stime);
}
#endif

static void pause_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

#define CLIENTS 80

static void test_out_of_fds_waits_for_a_client_to_leave(void **state)
{
    char script[512];
    const char *args[] = { "-c", script, NULL };
    int fds[CLIENTS], answered[CLIENTS] = { 0 }, nanswered = 0, closed = 0, more = 0;
    (void)state;
    if (raise_fd_limit() < CLIENTS + 20)
        skip();
    /* sh -c SCRIPT 0: the server gets 40 fds, and the port (0) as $0. */
    snprintf(script, sizeof script, "ulimit -n 40 && exec \"%s\" \"$0\"", binary);
    start("/bin/sh", args);
    for (int i = 0; i < CLIENTS; i++) {
        fds[i] = client_connect(srv.port);
        assert_true(fds[i] >= 0);
        assert_int_equal(client_send(fds[i], "x\n", 2, MUST_MS), 2);
    }
    /* Those it could accept are answered; the others wait. */
    for (int i = 0; i < CLIENTS; i++) {
        char buf[REPLY_LEN];
        answered[i] = client_recv(fds[i], buf, sizeof buf, i == 0 ? MUST_MS : QUIET_MS / 10) == REPLY_LEN;
        nanswered += answered[i];
    }
    assert_in_range(nanswered, 20, 39);
    assert_int_equal(server_log_count(&srv, "out of file descriptors: not accepting until a client leaves"), 1);
#ifdef __linux__
    {
        long before = cpu_ticks(srv.pid);
        pause_ms(1000);
        /* Waiting, not spinning: far under 10% of a core (10 ticks of 100). */
        assert_in_range(cpu_ticks(srv.pid) - before, 0, 5);
    }
#endif
    /* Ten clients leave: ten of those waiting are accepted and answered. */
    for (int i = 0; i < CLIENTS && closed < 10; i++)
        if (answered[i]) {
            close(fds[i]);
            fds[i] = -1;
            closed++;
        }
    for (int i = 0; i < CLIENTS; i++)
        if (fds[i] >= 0 && !answered[i] && more < 10)
            more += client_expect_replies(fds[i], 1, MUST_MS) == 0;
    assert_int_equal(more, 10);
    assert_int_equal(server_log_count(&srv, "out of file descriptors"), 1); /* the same episode */
    /* Everyone leaves: once all waiting are accepted, room again. */
    for (int i = 0; i < CLIENTS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    fds[0] = -1;
    for (int tries = 0; tries < MUST_MS / 10 && server_log_count(&srv, "accepting again") == 0; tries++)
        pause_ms(10);
    fds[0] = client_connect(srv.port);
    assert_true(fds[0] >= 0);
    assert_int_equal(client_exchange(fds[0], "back\n", 5, 1, MUST_MS), 0);
    close(fds[0]);
    assert_int_equal(server_log_count(&srv, "accepting again"), 1);
    assert_int_equal(server_log_count(&srv, "out of file descriptors"), 1);
    stop();
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_trace_tells_one_ping_pong, stop_if_running),
        cmocka_unit_test_teardown(test_out_of_fds_waits_for_a_client_to_leave, stop_if_running),
    };
    if (argc != 2) {
        fprintf(stderr, "usage: %s SERVER_BINARY\n", argv[0]);
        return 2;
    }
    binary = argv[1];
    return cmocka_run_group_tests_name(binary, tests, NULL, NULL);
}
