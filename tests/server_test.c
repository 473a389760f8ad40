/* The protocol suite every step's server must pass, plus what each kind of
 * server promises: `server_test BINARY KIND`, KIND one of
 *   blocking  (step 1: serves one client at a time, on purpose)
 *   select    (step 2: everyone at once, up to select()'s FD_SETSIZE)
 *   scalable  (steps 3-6: everyone at once, thousands of clients) */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static const char *binary;
static struct server srv;

static int start_server(void **state)
{
    (void)state;
    return server_start(&srv, binary, NULL);
}

/* Every test ends by stopping the server: a crash or an unclean exit (or a
 * leak, under the sanitizers) fails the test that caused it. */
static int stop_server(void **state)
{
    (void)state;
    return server_stop(&srv) == 0 ? 0 : -1;
}

/* The server still answers a new client. */
static void assert_serving(void)
{
    int fd = client_connect(srv.port);
    assert_true(fd >= 0);
    assert_int_equal(client_exchange(fd, "still there?\n", 13, 1, MUST_MS), 0);
    close(fd);
}

static char *repeat(char c, size_t n)
{
    char *buf = malloc(n);
    assert_non_null(buf);
    memset(buf, c, n);
    return buf;
}

/* --- the protocol, for every step --- */

static void test_basic_reply(void **state)
{
    int fd = client_connect(srv.port);
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(client_exchange(fd, "hello\n", 6, 1, MUST_MS), 0);
    assert_true(client_quiet(fd, QUIET_MS)); /* one line, one reply */
    close(fd);
}

static void test_line_split_across_packets(void **state)
{
    int fd = client_connect(srv.port);
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(client_send(fd, "hel", 3, MUST_MS), 3);
    assert_true(client_quiet(fd, QUIET_MS)); /* no newline yet: no reply */
    assert_int_equal(client_exchange(fd, "lo\n", 3, 1, MUST_MS), 0);
    close(fd);
}

static void test_10000_pipelined_lines(void **state)
{
    static const char line[] = "line\n";
    size_t n = 10000, len = n * (sizeof line - 1);
    char *buf = malloc(len);
    int fd = client_connect(srv.port);
    (void)state;
    assert_non_null(buf);
    assert_true(fd >= 0);
    for (size_t i = 0; i < n; i++)
        memcpy(buf + i * (sizeof line - 1), line, sizeof line - 1);
    assert_int_equal(client_exchange(fd, buf, len, n, MUST_MS), 0);
    assert_true(client_quiet(fd, QUIET_MS)); /* exactly n replies, not more */
    free(buf);
    close(fd);
}

static void test_binary_garbage(void **state)
{
    size_t len = 256 * 1024, lines = 0;
    unsigned char *buf = malloc(len);
    uint32_t x = 2463534242u; /* xorshift: the same "random" bytes every run */
    int fd = client_connect(srv.port);
    (void)state;
    assert_non_null(buf);
    assert_true(fd >= 0);
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
        lines += buf[i] == '\n';
    }
    assert_true(lines > 0);
    assert_int_equal(client_exchange(fd, buf, len, lines, MUST_MS), 0);
    assert_true(client_quiet(fd, QUIET_MS));
    free(buf);
    close(fd);
}

static void test_20mib_without_newline(void **state)
{
    size_t chunk = 1024 * 1024;
    char *buf = repeat('a', chunk);
    long before = server_rss_kib(&srv), after;
    int fd = client_connect(srv.port);
    (void)state;
    assert_true(fd >= 0);
    for (int i = 0; i < 20; i++)
        assert_int_equal(client_send(fd, buf, chunk, MUST_MS), chunk);
    assert_true(client_quiet(fd, QUIET_MS));
    after = server_rss_kib(&srv);
    /* Bytes that are not newlines are counted, never kept. */
    if (before > 0)
        assert_true(after - before < 2048);
    assert_int_equal(client_exchange(fd, "\n", 1, 1, MUST_MS), 0);
    free(buf);
    close(fd);
}

static void test_half_close_gets_every_reply(void **state)
{
    char *buf = repeat('\n', 10000);
    int fd = client_connect(srv.port);
    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(client_send(fd, buf, 10000, MUST_MS), 10000);
    assert_int_equal(shutdown(fd, SHUT_WR), 0); /* "I'm done sending" */
    assert_int_equal(client_expect_replies(fd, 10000, MUST_MS), 0);
    assert_true(client_wait_close(fd, MUST_MS)); /* then the server closes */
    free(buf);
    close(fd);
}

static void test_50_clients_reset_mid_stream(void **state)
{
    int fds[50];
    char *buf = repeat('\n', 5000);
    (void)state;
    for (int i = 0; i < 50; i++) {
        fds[i] = client_connect(srv.port);
        assert_true(fds[i] >= 0);
        assert_int_equal(client_send(fds[i], buf, 5000, MUST_MS), 5000);
    }
    /* In connection order, so the blocking step 1 can serve them one by one. */
    for (int i = 0; i < 50; i++) {
        assert_int_equal(client_expect_replies(fds[i], 1, MUST_MS), 0);
        client_reset(fds[i]);
    }
    assert_serving();
    assert_true(server_alive(&srv));
    free(buf);
}

static void test_2000_connect_close_cycles(void **state)
{
    (void)state;
    for (int i = 0; i < 2000; i++) {
        int fd = client_connect(srv.port);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_serving();
}

/* A client nobody here wrote: netcat sends two lines, half-closes (-N), and
 * prints what came back before the server closed. */
static void test_netcat(void **state)
{
    char cmd[128], out[256];
    const char *args[] = { "-c", cmd, NULL };
    (void)state;
    snprintf(cmd, sizeof cmd, "printf 'one\\ntwo\\n' | nc -N 127.0.0.1 %d", srv.port);
    assert_int_equal(run_program("/bin/sh", args, out, sizeof out), 0);
    assert_string_equal(out, "Hello world\nHello world\n");
}

/* --- the command line --- */

static void expect_run(const char *arg, int status, const char *text)
{
    assert_true(run_expect(binary, arg, status, text));
}

static void test_help(void **state)
{
    (void)state;
    expect_run("-h", 0, "usage:");
    expect_run("--help", 0, "usage:");
}

static void test_bad_arguments(void **state)
{
    (void)state;
    expect_run("abc", 2, "usage:");
    expect_run("70000", 2, "not a port number");
    expect_run("-x", 2, "unknown option");
    {
        const char *two_ports[] = { "5000", "5001", NULL };
        char out[4096];
        assert_int_equal(run_program(binary, two_ports, out, sizeof out), 2);
        assert_non_null(strstr(out, "only one PORT"));
    }
}

static void test_port_in_use(void **state)
{
    char port[16];
    (void)state;
    snprintf(port, sizeof port, "%d", srv.port);
    expect_run(port, 1, "is in use; try:");
}

/* --- step 1: one client at a time --- */

static void test_second_client_waits(void **state)
{
    int first = client_connect(srv.port), second;
    (void)state;
    assert_true(first >= 0);
    assert_int_equal(client_exchange(first, "hi\n", 3, 1, MUST_MS), 0);
    second = client_connect(srv.port); /* the kernel accepts it into the backlog */
    assert_true(second >= 0);
    assert_int_equal(client_send(second, "hi\n", 3, MUST_MS), 3);
    assert_true(client_quiet(second, QUIET_MS * 2)); /* the lesson: nobody serves it */
    close(first);
    assert_int_equal(client_expect_replies(second, 1, MUST_MS), 0);
    close(second);
}

/* --- steps 2-6: everyone at once --- */

static void test_second_client_served_while_first_idles(void **state)
{
    int first = client_connect(srv.port), second = client_connect(srv.port);
    (void)state;
    assert_true(first >= 0 && second >= 0);
    assert_int_equal(client_send(first, "half a line", 11, MUST_MS), 11);
    assert_int_equal(client_exchange(second, "hi\n", 3, 1, MUST_MS), 0);
    assert_int_equal(client_exchange(first, "\n", 1, 1, MUST_MS), 0);
    close(first);
    close(second);
}

static void test_non_reader_does_not_stall_others(void **state)
{
    size_t chunk = 64 * 1024, sent = 0, total = 2000000;
    char *buf = repeat('\n', total);
    int flood = client_connect(srv.port), other = client_connect(srv.port);
    (void)state;
    assert_true(flood >= 0 && other >= 0);
    /* Send newlines and never read, until the server stops taking them (its
     * owed output is bounded) or all 2,000,000 are sent. */
    while (sent < total) {
        size_t len = total - sent < chunk ? total - sent : chunk, n = client_send(flood, buf, len, QUIET_MS);
        sent += n;
        if (n < len)
            break; /* no room for a while: the server stopped reading us */
    }
    assert_int_equal(client_exchange(other, "hi\nhi\n", 6, 2, MUST_MS), 0);
    /* Nothing owed to the flooding client is lost once it reads. */
    assert_int_equal(client_exchange(flood, buf + sent, total - sent, total, MUST_MS * 3), 0);
    free(buf);
    close(flood);
    close(other);
}

/* Opens n clients, sends each a line; returns how many got their reply and
 * checks that every other one was closed by the server. */
static int open_many(int *fds, int n)
{
    int answered = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = client_connect(srv.port);
        assert_true(fds[i] >= 0);
    }
    for (int i = 0; i < n; i++)
        client_send(fds[i], "hi\n", 3, MUST_MS); /* a refused client may be closed already */
    for (int i = 0; i < n; i++) {
        char reply[REPLY_LEN];
        if (client_recv(fds[i], reply, REPLY_LEN, MUST_MS) == REPLY_LEN && !memcmp(reply, REPLY, REPLY_LEN))
            answered++;
        else
            assert_true(client_wait_close(fds[i], 0));
    }
    return answered;
}

static void close_many(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        close(fds[i]);
}

static void test_1100_connections_past_fd_setsize(void **state)
{
    int fds[1100], answered;
    (void)state;
    assert_true(raise_fd_limit() > 1200);
    answered = open_many(fds, 1100);
    /* Those past FD_SETSIZE are refused (closed and logged), the rest served. */
    assert_in_range(answered, 1000, 1099);
    assert_true(server_log_count(&srv, "Refused") > 0);
    assert_true(server_alive(&srv));
    close_many(fds, 1100);
    /* Until the server has seen those closes its fds are still taken, so a new
     * client may be refused for a moment; then it must be served. */
    for (int tries = 0; answered != 1 && tries < 100; tries++)
        answered = open_many(fds, 1);
    assert_int_equal(answered, 1);
    close(fds[0]);
}

static void test_5000_concurrent_clients(void **state)
{
    static int fds[5000];
    (void)state;
    assert_true(raise_fd_limit() > 5100);
    assert_int_equal(open_many(fds, 5000), 5000);
    assert_serving(); /* promptly, with 5,000 others connected */
    close_many(fds, 5000);
}

/* The lines of the server's log that say it stopped or started accepting
 * again, in order: 'o' for "out of file descriptors", 'a' for "accepting
 * again". */
static void accepting_story(const struct server *s, char *out, size_t size)
{
    FILE *f = fopen(s->log, "r");
    char line[512];
    size_t n = 0;
    assert_non_null(f);
    while (fgets(line, sizeof line, f) && n + 1 < size) {
        if (strstr(line, "out of file descriptors"))
            out[n++] = 'o';
        else if (strstr(line, "accepting again"))
            out[n++] = 'a';
    }
    out[n] = '\0';
    fclose(f);
}

/* Out of fds, accept() fails at once while the listening socket stays
 * readable. Started with 40 fds and 80 clients connecting, the server must
 * say so once, not spin, keep answering the clients it has, and accept the
 * others once some leave. */
static void test_out_of_fds_no_spin(void **state)
{
    struct server limited = { .fd_limit = 40 };
    int fds[80], tries = 0;
    double cpu;
    char story[64];
    (void)state;
    /* Under valgrind a connection accepted past the fd limit is accepted by the
     * kernel, then closed by valgrind itself, which reports EMFILE: that client
     * loses its connection, and no server can prevent it. */
    if (getenv("SERVER_WRAPPER"))
        skip();
    assert_int_equal(server_start(&limited, binary, NULL), 0);
    for (int i = 0; i < 80; i++) {
        fds[i] = client_connect(limited.port); /* the kernel's backlog takes those not accepted */
        assert_true(fds[i] >= 0);
    }
    while (server_log_count(&limited, "out of file descriptors") == 0 && tries++ < MUST_MS / 10)
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    assert_int_equal(server_log_count(&limited, "out of file descriptors"), 1);
    /* A second of doing nothing but waiting: a loop that spins burns all of it. */
    cpu = server_cpu_seconds(&limited);
    nanosleep(&(struct timespec){ 1, 0 }, NULL);
    if (cpu >= 0)
        assert_true(server_cpu_seconds(&limited) - cpu < 0.3);
    assert_int_equal(server_log_count(&limited, "accept:"), 0);
    assert_int_equal(client_exchange(fds[0], "hi\n", 3, 1, MUST_MS), 0); /* those it has are answered */
    /* 60 leave: the last 20, waiting in the backlog, are accepted and answered. */
    close_many(fds, 60);
    for (int i = 60; i < 80; i++)
        assert_int_equal(client_exchange(fds[i], "hi\n", 3, 1, MUST_MS), 0);
    /* Said once per episode: each "out of file descriptors" is followed by
     * one "accepting again" before the next. */
    accepting_story(&limited, story, sizeof story);
    assert_true(strncmp(story, "oa", 2) == 0);
    for (size_t i = 0; story[i]; i++)
        assert_int_equal(story[i], i % 2 ? 'a' : 'o');
    close_many(fds + 60, 20);
    assert_int_equal(server_stop(&limited), 0);
}

/* Sanitizers and valgrind hold freed memory back for a while (to catch its
 * use after free): there, the memory test would measure them, not the server
 * (SANITIZED, harness.h). They find leaks their own way. */

/* Opens n clients, has each answered, closes them all, and waits until the
 * server has closed them too (its log says so). */
static void wave_of_clients(int *fds, int n)
{
    int closed = server_log_count(&srv, "Connection closed");
    assert_int_equal(open_many(fds, n), n);
    close_many(fds, n);
    for (int tries = 0; server_log_count(&srv, "Connection closed") < closed + n && tries < MUST_MS / 10; tries++)
        nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    assert_int_equal(server_log_count(&srv, "Connection closed"), closed + n);
}

/* Nothing stays allocated for a client that has left: a second wave of
 * clients reuses the memory of the first instead of adding to it. */
static void test_memory_comes_back_after_clients_leave(void **state)
{
    static int fds[3000];
    long after_first, after_second;
    (void)state;
    assert_true(raise_fd_limit() > 3100);
    wave_of_clients(fds, 3000);
    after_first = server_rss_kib(&srv);
    wave_of_clients(fds, 3000);
    wave_of_clients(fds, 3000);
    after_second = server_rss_kib(&srv);
    if (after_first > 0)
        assert_true(after_second - after_first < 256); /* 6,000 more clients: a leak of 48 bytes each would show */
}

#define SERVER_TEST(f) cmocka_unit_test_setup_teardown(f, start_server, stop_server)

int main(int argc, char **argv)
{
    const struct CMUnitTest protocol[] = {
        SERVER_TEST(test_basic_reply),
        SERVER_TEST(test_line_split_across_packets),
        SERVER_TEST(test_10000_pipelined_lines),
        SERVER_TEST(test_binary_garbage),
        SERVER_TEST(test_20mib_without_newline),
        SERVER_TEST(test_half_close_gets_every_reply),
        SERVER_TEST(test_50_clients_reset_mid_stream),
        SERVER_TEST(test_2000_connect_close_cycles),
        SERVER_TEST(test_netcat),
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_bad_arguments),
        SERVER_TEST(test_port_in_use),
    };
    const struct CMUnitTest blocking[] = {
        SERVER_TEST(test_second_client_waits),
    };
    const struct CMUnitTest concurrent[] = {
        SERVER_TEST(test_second_client_served_while_first_idles),
        SERVER_TEST(test_non_reader_does_not_stall_others),
    };
    const struct CMUnitTest out_of_fds[] = {
        cmocka_unit_test(test_out_of_fds_no_spin),
    };
    const struct CMUnitTest select_limit[] = {
        SERVER_TEST(test_1100_connections_past_fd_setsize),
    };
    const struct CMUnitTest scalable[] = {
        SERVER_TEST(test_5000_concurrent_clients),
    };
    const struct CMUnitTest memory[] = {
        SERVER_TEST(test_memory_comes_back_after_clients_leave),
    };
    const char *kind = argc == 3 ? argv[2] : "";
    int failed;
    if (strcmp(kind, "blocking") != 0 && strcmp(kind, "select") != 0 && strcmp(kind, "scalable") != 0) {
        fprintf(stderr, "usage: %s SERVER_BINARY blocking|select|scalable\n", argv[0]);
        return 2;
    }
    binary = argv[1];
    failed = cmocka_run_group_tests_name(binary, protocol, NULL, NULL);
    if (strcmp(kind, "blocking") == 0)
        return failed + cmocka_run_group_tests_name("one client at a time", blocking, NULL, NULL);
    failed += cmocka_run_group_tests_name("every client at once", concurrent, NULL, NULL);
    failed += cmocka_run_group_tests_name("out of file descriptors", out_of_fds, NULL, NULL);
    if (strcmp(kind, "select") == 0)
        return failed + cmocka_run_group_tests_name("FD_SETSIZE", select_limit, NULL, NULL);
    failed += cmocka_run_group_tests_name("thousands of clients", scalable, NULL, NULL);
    if (!SANITIZED && !getenv("SERVER_WRAPPER"))
        failed += cmocka_run_group_tests_name("memory", memory, NULL, NULL);
    return failed;
}
