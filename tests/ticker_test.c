/* Tests of step 6's ticker (`ticker_test BINARY`): what it prints and in which
 * order, how it stops, its command line. Counts are checked with slack: they
 * depend on real time, the order does not. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static const char *binary;

/* Runs the ticker with args; returns its exit status, output in out. */
static int run_ticker(const char *const *args, char *out, size_t size)
{
    int status = run_program(binary, args, out, size);
    if (status != 0)
        fprintf(stderr, "# %s: exit %d, printed:\n%s", binary, status, out);
    return status;
}

static void test_four_seconds(void **state)
{
    const char *args[] = { "--seconds", "4", NULL };
    static char out[4096];
    int expected = 1, seen_time[10] = { 0 }, after_number[10] = { 0 }, line_no = 0;
    (void)state;
    assert_int_equal(run_ticker(args, out, sizeof out), 0);
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        int n, end = 0;
        line_no++;
        if (sscanf(line, "%d seconds have passed%n", &n, &end) == 1 && line[end] == '\0') {
            assert_in_range(n, 0, 9);
            seen_time[n]++;
            after_number[n] = expected - 1;
        } else {
            /* Otherwise only the next number, alone on its line. */
            assert_int_equal(sscanf(line, "%d%n", &n, &end), 1);
            assert_int_equal(line[end], '\0');
            assert_int_equal(n, expected);
            expected++;
        }
        if (line_no == 1)
            assert_string_equal(line, "1"); /* print_nums' task was created first */
        if (line_no == 2)
            assert_string_equal(line, "0 seconds have passed");
    }
    /* 0.1 s apart for 4 s: at most 41 numbers (1 at once, then 40 more); fewer
     * on a slow machine, but not far fewer. */
    assert_in_range(expected - 1, 20, 41);
    /* Every third second only, once each: 0 and 3 (not 1, 2, or 6). */
    assert_int_equal(seen_time[0], 1);
    assert_int_equal(seen_time[3], 1);
    for (int i = 0; i < 10; i++)
        if (i != 0 && i != 3)
            assert_int_equal(seen_time[i], 0);
    /* 3 seconds come after about 30 numbers, and before the last ones. */
    assert_in_range(after_number[3], 15, 31);
    assert_true(after_number[3] < expected - 1);
}

static void test_zero_seconds_stops_at_once(void **state)
{
    const char *args[] = { "--seconds", "0", NULL };
    char out[256];
    (void)state;
    assert_int_equal(run_ticker(args, out, sizeof out), 0);
    assert_null(strstr(out, "2\n")); /* no time for a second number */
}

static void test_ctrl_c_stops_cleanly(void **state)
{
    char script[512], out[4096];
    const char *args[] = { "-c", script, NULL };
    (void)state;
    /* A shell starts the ticker, interrupts it after a second, and exits with
     * its status. */
    snprintf(script, sizeof script, "\"%s\" & pid=$!; sleep 1; kill -INT $pid; wait $pid", binary);
    assert_int_equal(run_program("/bin/sh", args, out, sizeof out), 0);
    assert_non_null(strstr(out, "1\n0 seconds have passed\n2\n"));
}

static void expect_run(const char *const *args, int status, const char *text)
{
    char out[4096];
    int got = run_program(binary, args, out, sizeof out);
    if (got != status || !strstr(out, text))
        fprintf(stderr, "# %s %s: exit %d, printed:\n%s", binary, args[0], got, out);
    assert_int_equal(got, status);
    assert_non_null(strstr(out, text));
}

static void test_command_line(void **state)
{
    const char *help[] = { "-h", NULL }, *long_help[] = { "--help", NULL }, *bad[] = { "--seconds", "x", NULL },
               *negative[] = { "--seconds", "-1", NULL }, *missing[] = { "--seconds", NULL },
               *unknown[] = { "--bogus", NULL };
    (void)state;
    expect_run(help, 0, "usage:");
    expect_run(long_help, 0, "usage:");
    expect_run(bad, 2, "usage:");
    expect_run(negative, 2, "not a number of seconds");
    expect_run(missing, 2, "missing value");
    expect_run(unknown, 2, "unknown argument");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_four_seconds),
        cmocka_unit_test(test_zero_seconds_stops_at_once),
        cmocka_unit_test(test_ctrl_c_stops_cleanly),
        cmocka_unit_test(test_command_line),
    };
    if (argc != 2) {
        fprintf(stderr, "usage: %s TICKER_BINARY\n", argv[0]);
        return 2;
    }
    binary = argv[1];
    return cmocka_run_group_tests_name(binary, tests, NULL, NULL);
}
