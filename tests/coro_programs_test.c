/* Step 5's demo programs, run whole: the coroutines playground fed a script on
 * stdin, and the delegation demo; their output is compared line for line.
 * `coro_programs_test [DIR]`, DIR holding both programs (default 5_coroutines). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char coroutines[256], delegation[256];

/* Runs binary with input on its stdin (then end of input), stdout and stderr
 * captured into out; returns the exit status, or -1 if it died (an alarm kills
 * it after MUST_MS, so a hang fails the test instead of blocking it). */
static int run_with_input(const char *binary, const char *input, char *out, size_t size)
{
    int in[2], result[2], status;
    size_t len = 0;
    ssize_t n;
    pid_t pid;
    /* The script is small: it fits in the pipe before the program starts. */
    assert_true(strlen(input) < 4096);
    assert_int_equal(pipe(in), 0);
    assert_int_equal(write(in[1], input, strlen(input)), (ssize_t)strlen(input));
    close(in[1]);
    assert_int_equal(pipe(result), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(result[1], 1);
        dup2(result[1], 2);
        close(in[0]);
        close(result[0]);
        close(result[1]);
        alarm(MUST_MS / 1000);
        execl(binary, binary, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", binary, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(result[1]);
    while (len + 1 < size) {
        n = read(result[0], out + len, size - 1 - len);
        if (n > 0)
            len += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    out[len] = '\0';
    close(result[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Feeds the playground a script and expects exactly this output, exit 0. */
static void expect_session(const char *script, const char *expected)
{
    char out[8192];
    int status = run_with_input(coroutines, script, out, sizeof out);
    if (strcmp(out, expected) != 0)
        fprintf(stderr, "# printed:\n%s# expected:\n%s", out, expected);
    assert_string_equal(out, expected);
    assert_int_equal(status, 0);
}

/* The lesson's session: average() is there, primed, from the start. */
static void test_average_session(void **state)
{
    (void)state;
    expect_session("state\n"
                   "send 4\n"
                   "send 5\n"
                   "throw\n"
                   "state\n"
                   "send 6\n",
                   "GEN_SUSPENDED\n"
                   "4.0\n"
                   "4.5\n"
                   "Done\n"
                   "returned 4.5\n"
                   "GEN_CLOSED\n"
                   "StopIteration\n");
}

static void test_average_rounds_and_rejects_none(void **state)
{
    (void)state;
    expect_session("use average\n"
                   "send 1\n"
                   "send 2\n"
                   "send 2\n"
                   "send 10\n"
                   "next\n"
                   "state\n"
                   "use average\n"
                   "throw\n",
                   "average() started with coro_start: GEN_SUSPENDED, ready for numbers\n"
                   "1.0\n"
                   "1.5\n"
                   "1.67\n"
                   "3.75\n"
                   "TypeError: unsupported operand type(s) for +=: 'int' and 'NoneType'\n"
                   "GEN_CLOSED\n"
                   "average() started with coro_start: GEN_SUSPENDED, ready for numbers\n"
                   "Done\n"
                   "returned None\n");
}

static void test_subgen_session(void **state)
{
    (void)state;
    expect_session("use subgen\n"
                   "state\n"
                   "send hi\n"
                   "state\n"
                   "next\n"
                   "state\n"
                   "send hello world\n"
                   "state\n"
                   "send again\n"
                   "next\n",
                   "subgen() created, not started: GEN_CREATED\n"
                   "GEN_CREATED\n"
                   "TypeError: can't send non-None value to a just-started generator\n"
                   "GEN_CREATED\n"
                   "'Ready to accept message'\n"
                   "GEN_SUSPENDED\n"
                   "Subgen received: hello world\n"
                   "returned None\n"
                   "GEN_CLOSED\n"
                   "StopIteration\n"
                   "StopIteration\n");
}

static void test_send_none_starts(void **state)
{
    (void)state;
    expect_session("use subgen\n"
                   "send None\n"
                   "send None\n",
                   "subgen() created, not started: GEN_CREATED\n"
                   "'Ready to accept message'\n"
                   "Subgen received: None\n"
                   "returned None\n");
}

static void test_throw_and_close(void **state)
{
    (void)state;
    expect_session("use average\n"
                   "send 3\n"
                   "throw error\n"
                   "state\n"
                   "throw\n"
                   "use average\n"
                   "close\n"
                   "state\n"
                   "close\n"
                   "send 1\n"
                   "use subgen\n"
                   "throw\n"
                   "state\n"
                   "use subgen\n"
                   "close\n"
                   "state\n",
                   "average() started with coro_start: GEN_SUSPENDED, ready for numbers\n"
                   "3.0\n"
                   "BlaBlaException\n"
                   "GEN_CLOSED\n"
                   "StopIteration\n" /* thrown into a finished one: it comes straight back */
                   "average() started with coro_start: GEN_SUSPENDED, ready for numbers\n"
                   "closed\n"
                   "GEN_CLOSED\n"
                   "closed\n"
                   "StopIteration\n"
                   "subgen() created, not started: GEN_CREATED\n"
                   "StopIteration\n" /* thrown into one not started: closes it */
                   "GEN_CLOSED\n"
                   "subgen() created, not started: GEN_CREATED\n"
                   "closed\n"
                   "GEN_CLOSED\n");
}

static void test_invalid_input_goes_on(void **state)
{
    (void)state;
    expect_session("state\n"
                   "fly away\n"
                   "\n"
                   "   \t \n"
                   "use\n"
                   "use something\n"
                   "use average\n"
                   "send\n"
                   "send four\n"
                   "send 4x\n"
                   "send 1e999\n"
                   "send nan\n"
                   "next now\n"
                   "throw up\n"
                   "state please\n"
                   "  send   4  \r\n"
                   "help\n"
                   "send 5", /* no newline at the end */
                   "GEN_SUSPENDED\n" /* average, ready from the start */
                   "error: unknown command 'fly' (try help)\n"
                   "error: use average or use subgen\n"
                   "error: use average or use subgen\n"
                   "average() started with coro_start: GEN_SUSPENDED, ready for numbers\n"
                   "error: send needs a value: send VALUE (or send None)\n"
                   "error: not a number: four\n"
                   "error: not a number: 4x\n"
                   "error: not a number: 1e999\n"
                   "error: not a number: nan\n"
                   "error: next takes no argument\n"
                   "error: throw takes nothing (StopIteration) or 'error' (BlaBlaException)\n"
                   "error: state takes no argument\n"
                   "4.0\n"
                   "commands: use average|subgen, send VALUE, next, throw [error], close, state, help, quit\n"
                   "4.5\n");
}

/* Numbers print as Python prints round(x, 2): 4.0, not 4; 4.33 for 13 / 3. */
static void test_numbers_print_as_python(void **state)
{
    (void)state;
    expect_session("send 4\nsend 5\nsend 4\nsend 0.1\nsend 1e20\n",
                   "4.0\n"
                   "4.5\n"
                   "4.33\n"
                   "3.27\n"
                   "2e+19\n");
}

static void test_long_lines(void **state)
{
    char script[1024], expected[1024];
    (void)state;
    /* A value longer than the parser keeps is refused, not cut. */
    snprintf(script, sizeof script, "use subgen\nnext\nsend %0200d\nsend %0127d\n", 1, 2);
    snprintf(expected, sizeof expected,
             "subgen() created, not started: GEN_CREATED\n"
             "'Ready to accept message'\n"
             "error: argument too long (at most 127 characters)\n"
             "Subgen received: %0127d\n"
             "returned None\n",
             2);
    expect_session(script, expected);
}

static void test_quit_stops_reading(void **state)
{
    (void)state;
    expect_session("use average\nquit\nsend 4\n",
                   "average() started with coro_start: GEN_SUSPENDED, ready for numbers\n");
    expect_session("", "");
}

static void test_delegation_output(void **state)
{
    static const char session[] = "delegator: GEN_SUSPENDED, subgen: GEN_SUSPENDED\n"
                                  "> send 'OK'\n"
                                  "Subgen received: OK\n"
                                  "> throw BlaBlaException\n"
                                  "Ku-ku!!! subgen caught BlaBlaException\n"
                                  "> send 'hello'\n"
                                  "Subgen received: hello\n"
                                  "> throw StopIteration\n"
                                  "Ku-ku!!! subgen caught StopIteration: no more messages\n"
                                  "Returned from subgen()\n"
                                  "delegator: GEN_CLOSED, subgen: GEN_CLOSED\n";
    char out[4096], expected[4096];
    (void)state;
    snprintf(expected, sizeof expected,
             "1. By hand: data = yield; g.send(data), and g.throw(e) for errors\n%s"
             "\n2. With yield from: result = yield from g\n"
             "subgen: GEN_CREATED (not primed: yield from starts it)\n%s",
             session, session);
    assert_int_equal(run_program(delegation, NULL, out, sizeof out), 0);
    assert_string_equal(out, expected);
}

/* Both take no arguments: -h explains, anything else is an error. */
static void test_command_lines(void **state)
{
    (void)state;
    assert_true(run_expect(coroutines, "-h", 0, "usage:"));
    assert_true(run_expect(coroutines, "average", 2, "usage:"));
    assert_true(run_expect(coroutines, "average", 2, "takes no arguments: average"));
    assert_true(run_expect(delegation, "--help", 0, "usage:"));
    assert_true(run_expect(delegation, "-x", 2, "usage:"));
    assert_true(run_expect(delegation, "-x", 2, "takes no arguments: -x"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_average_session),
        cmocka_unit_test(test_average_rounds_and_rejects_none),
        cmocka_unit_test(test_subgen_session),
        cmocka_unit_test(test_send_none_starts),
        cmocka_unit_test(test_throw_and_close),
        cmocka_unit_test(test_invalid_input_goes_on),
        cmocka_unit_test(test_numbers_print_as_python),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_quit_stops_reading),
        cmocka_unit_test(test_delegation_output),
        cmocka_unit_test(test_command_lines),
    };
    const char *dir = argc > 1 ? argv[1] : "5_coroutines";
    snprintf(coroutines, sizeof coroutines, "%s/coroutines", dir);
    snprintf(delegation, sizeof delegation, "%s/delegation", dir);
    return cmocka_run_group_tests_name("step 5's programs", tests, NULL, NULL);
}
