/* Unit tests of step 5's generators (5_coroutines/gen.h): every operation and
 * error case against what Python's generators do. Each generator records what
 * it does in a trace, and the tests assert the order. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* --- the trace --- */

static char trace[1024];

static void note(const char *fmt, ...)
{
    size_t len = strlen(trace);
    va_list ap;
    if (len > 0 && len < sizeof trace - 1)
        trace[len++] = ' ';
    va_start(ap, fmt);
    vsnprintf(trace + len, sizeof trace - len, fmt, ap);
    va_end(ap);
}

static const char *err_name(int err)
{
    switch (err) {
    case 0: return "none";
    case GEN_EXIT: return "EXIT";
    case GEN_STOP: return "STOP";
    case GEN_BAD_SEND: return "BAD_SEND";
    case GEN_IGNORED_EXIT: return "IGNORED_EXIT";
    case GEN_REENTERED: return "REENTERED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    default: return "?";
    }
}

static const char *text(const void *value)
{
    return value ? value : "None";
}

static int clear_trace(void **state)
{
    (void)state;
    trace[0] = '\0';
    return 0;
}

/* --- generators under test --- */

/* Yields "a" then "b", tracing what each yield receives, and returns "done". */
static int echo_body(struct gen *g)
{
    GEN_BEGIN(g);
    note("start");
    GEN_YIELD(g, "a");
    note("got:%s", text(g->sent));
    GEN_YIELD(g, "b");
    note("got:%s", text(g->sent));
    GEN_RETURN(g, "done");
    GEN_END(g);
}

/* Catches every error thrown in and yields "handled"; returns "bye" on
 * GEN_EXIT, as `except GeneratorExit: return 'bye'` does. */
static int handler_body(struct gen *g)
{
    GEN_BEGIN(g);
    for (;;) {
        GEN_YIELD_CATCH(g, g->thrown ? "handled" : "ready");
        if (g->thrown == GEN_EXIT) {
            note("exit");
            GEN_RETURN(g, "bye");
        }
        if (g->thrown)
            note("caught:%s", err_name(g->thrown));
        else
            note("got:%s", text(g->sent));
    }
    GEN_END(g);
}

/* try: yield / finally: cleanup, and what the yield saw. */
static int cleanup_body(struct gen *g)
{
    GEN_BEGIN(g);
    GEN_YIELD_CATCH(g, "x");
    note("sees:%s", err_name(g->thrown));
    note("cleanup");
    if (g->thrown)
        GEN_RAISE(g, g->thrown);
    GEN_END(g);
}

/* Ignores GEN_EXIT and yields again: what close() reports as
 * "generator ignored GeneratorExit". */
static int stubborn_body(struct gen *g)
{
    GEN_BEGIN(g);
    for (;;) {
        GEN_YIELD_CATCH(g, "still here");
        note("ignores:%s", err_name(g->thrown));
    }
    GEN_END(g);
}

/* Raises ECONNRESET instead of finishing when closed. */
static int bad_cleanup_body(struct gen *g)
{
    GEN_BEGIN(g);
    GEN_YIELD_CATCH(g, "x");
    GEN_RAISE(g, ECONNRESET);
    GEN_END(g);
}

/* Finishes at once, without yielding. */
static int instant_body(struct gen *g)
{
    GEN_BEGIN(g);
    note("instant");
    GEN_RETURN(g, "instant result");
    GEN_END(g);
}

/* Falls off its end: returns None. */
static int empty_body(struct gen *g)
{
    GEN_BEGIN(g);
    note("empty");
    GEN_END(g);
}

/* --- the generator protocol --- */

static void test_send_before_start_is_a_type_error(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, echo_body);
    assert_int_equal(gen_state(&g), GEN_CREATED);
    assert_int_equal(gen_send(&g, "x"), GEN_RAISED);
    assert_int_equal(g.error, GEN_BAD_SEND);
    assert_int_equal(gen_state(&g), GEN_CREATED); /* nothing ran, it can still start */
    assert_string_equal(trace, "");
    assert_int_equal(gen_send(&g, NULL), GEN_YIELDED);
    assert_string_equal(g.yielded, "a");
}

static void test_send_null_starts(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, echo_body);
    assert_int_equal(gen_send(&g, NULL), GEN_YIELDED);
    assert_int_equal(gen_state(&g), GEN_SUSPENDED);
    assert_string_equal(g.yielded, "a");
    assert_string_equal(trace, "start"); /* ran to the first yield, not past it */
}

static void test_send_is_the_value_of_the_yield(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, echo_body);
    gen_send(&g, NULL);
    assert_int_equal(gen_send(&g, "one"), GEN_YIELDED);
    assert_string_equal(g.yielded, "b");
    assert_string_equal(trace, "start got:one");
    assert_int_equal(gen_send(&g, NULL), GEN_RETURNED); /* next() is send(None) */
    assert_string_equal(trace, "start got:one got:None");
}

static void test_return_value(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, echo_body);
    gen_send(&g, NULL);
    gen_send(&g, "1");
    assert_int_equal(gen_send(&g, "2"), GEN_RETURNED);
    assert_string_equal(g.returned, "done"); /* StopIteration.value */
    assert_int_equal(gen_state(&g), GEN_CLOSED);
    /* Falling off the end returns None. */
    gen_init(&g, empty_body);
    assert_int_equal(gen_send(&g, NULL), GEN_RETURNED);
    assert_null(g.returned);
    assert_int_equal(gen_state(&g), GEN_CLOSED);
}

static void test_next_is_step_4s_iteration(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, echo_body);
    assert_string_equal(gen_next(&g), "a");
    assert_string_equal(gen_next(&g), "b");
    assert_ptr_equal(gen_next(&g), GEN_EXHAUSTED);
    assert_ptr_equal(gen_next(&g), GEN_EXHAUSTED); /* and stays exhausted */
    assert_string_equal(trace, "start got:None got:None");
}

static void test_after_finish(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, echo_body);
    while (gen_next(&g) != GEN_EXHAUSTED)
        ;
    clear_trace(NULL);
    /* send: StopIteration without a value; throw: the error comes straight back. */
    assert_int_equal(gen_send(&g, "late"), GEN_RETURNED);
    assert_null(g.returned);
    assert_int_equal(gen_throw(&g, EPIPE), GEN_RAISED);
    assert_int_equal(g.error, EPIPE);
    assert_int_equal(gen_close(&g), 0);
    assert_int_equal(gen_state(&g), GEN_CLOSED);
    assert_string_equal(trace, ""); /* the body never ran again */
}

static void test_throw_handled_yields_again(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, handler_body);
    gen_send(&g, NULL);
    assert_int_equal(gen_throw(&g, ECONNRESET), GEN_YIELDED);
    assert_string_equal(g.yielded, "handled");
    assert_int_equal(gen_state(&g), GEN_SUSPENDED);
    assert_int_equal(gen_send(&g, "after"), GEN_YIELDED);
    assert_string_equal(g.yielded, "ready");
    assert_string_equal(trace, "caught:ECONNRESET got:after");
}

static void test_throw_unhandled_comes_back(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, echo_body);
    gen_send(&g, NULL);
    assert_int_equal(gen_throw(&g, ECONNRESET), GEN_RAISED);
    assert_int_equal(g.error, ECONNRESET);
    assert_int_equal(gen_state(&g), GEN_CLOSED);
    assert_string_equal(trace, "start"); /* nothing after the yield ran */
}

static void test_throw_into_not_started(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, handler_body);
    /* It cannot catch anything yet: Python closes it and raises at once. */
    assert_int_equal(gen_throw(&g, EPIPE), GEN_RAISED);
    assert_int_equal(g.error, EPIPE);
    assert_int_equal(gen_state(&g), GEN_CLOSED);
    assert_ptr_equal(gen_next(&g), GEN_EXHAUSTED);
    assert_string_equal(trace, "");
}

static void test_close_runs_cleanup(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, cleanup_body);
    gen_send(&g, NULL);
    assert_int_equal(gen_close(&g), 0);
    assert_int_equal(gen_state(&g), GEN_CLOSED);
    assert_string_equal(trace, "sees:EXIT cleanup");
    /* A generator may also return on GEN_EXIT: still a clean close. */
    clear_trace(NULL);
    gen_init(&g, handler_body);
    gen_send(&g, NULL);
    assert_int_equal(gen_close(&g), 0);
    assert_int_equal(gen_state(&g), GEN_CLOSED);
    assert_string_equal(trace, "exit");
}

static void test_close_not_started_or_finished(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, cleanup_body);
    assert_int_equal(gen_close(&g), 0);
    assert_int_equal(gen_state(&g), GEN_CLOSED);
    assert_ptr_equal(gen_next(&g), GEN_EXHAUSTED); /* it never runs */
    assert_string_equal(trace, "");
    gen_init(&g, cleanup_body);
    gen_send(&g, NULL);
    assert_int_equal(gen_send(&g, NULL), GEN_RETURNED);
    assert_string_equal(trace, "sees:none cleanup");
    assert_int_equal(gen_close(&g), 0); /* closing twice is harmless */
    assert_int_equal(gen_close(&g), 0);
    assert_string_equal(trace, "sees:none cleanup");
}

static void test_yield_after_close(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, stubborn_body);
    gen_send(&g, NULL);
    assert_int_equal(gen_close(&g), GEN_IGNORED_EXIT); /* RuntimeError */
    assert_int_equal(gen_state(&g), GEN_CLOSED);
    assert_string_equal(trace, "ignores:EXIT");
    assert_ptr_equal(gen_next(&g), GEN_EXHAUSTED);
    assert_string_equal(trace, "ignores:EXIT");
}

static void test_close_raising_another_error(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, bad_cleanup_body);
    gen_send(&g, NULL);
    assert_int_equal(gen_close(&g), ECONNRESET);
    assert_int_equal(gen_state(&g), GEN_CLOSED);
}

/* Calls every operation on itself while running, and traces its state. */
static int reentrant_body(struct gen *g)
{
    GEN_BEGIN(g);
    note("%s", gen_state_name(gen_state(g)));
    note("send:%s", err_name(gen_send(g, "x") == GEN_RAISED ? g->error : 0));
    note("next:%s", gen_next(g) == GEN_EXHAUSTED ? "exhausted" : "?");
    note("throw:%s", err_name(gen_throw(g, EPIPE) == GEN_RAISED ? g->error : 0));
    note("close:%s", err_name(gen_close(g)));
    note("%s", gen_state_name(gen_state(g)));
    GEN_YIELD(g, "still fine");
    GEN_END(g);
}

static void test_reentering_a_running_generator(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, reentrant_body);
    assert_int_equal(gen_send(&g, NULL), GEN_YIELDED);
    /* Python: ValueError: generator already executing, every time. */
    assert_string_equal(trace, "GEN_RUNNING send:REENTERED next:exhausted throw:REENTERED "
                               "close:REENTERED GEN_RUNNING");
    assert_string_equal(g.yielded, "still fine");
    assert_int_equal(gen_state(&g), GEN_SUSPENDED);
    assert_int_equal(gen_send(&g, NULL), GEN_RETURNED);
}

/* Traces its own state each time it runs. */
static int state_body(struct gen *g)
{
    GEN_BEGIN(g);
    note("in:%s", gen_state_name(gen_state(g)));
    GEN_YIELD(g, NULL);
    note("in:%s", gen_state_name(gen_state(g)));
    GEN_END(g);
}

static void test_states_at_each_step(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, state_body);
    note("out:%s", gen_state_name(gen_state(&g)));
    gen_send(&g, NULL);
    note("out:%s", gen_state_name(gen_state(&g)));
    gen_send(&g, NULL);
    note("out:%s", gen_state_name(gen_state(&g)));
    assert_string_equal(trace, "out:GEN_CREATED in:GEN_RUNNING out:GEN_SUSPENDED "
                               "in:GEN_RUNNING out:GEN_CLOSED");
}

static void test_coro_start_primes(void **state)
{
    struct gen g;
    (void)state;
    gen_init(&g, echo_body);
    assert_ptr_equal(coro_start(&g), &g);
    assert_int_equal(gen_state(&g), GEN_SUSPENDED);
    assert_string_equal(trace, "start");
    assert_int_equal(gen_send(&g, "at once"), GEN_YIELDED); /* no TypeError: it is primed */
    assert_string_equal(trace, "start got:at once");
}

/* --- delegation: yield from --- */

/* Delegates to sub, traces sub's return value (or the error it caught with
 * catch set), yields "after" and returns "outer result". */
struct outer {
    struct gen gen;
    struct gen *sub;
    int catch_errors;
};

static int outer_body(struct gen *g)
{
    struct outer *self = (struct outer *)g;
    GEN_BEGIN(g);
    note("outer start");
    if (self->catch_errors) {
        GEN_YIELD_FROM_CATCH(g, self->sub);
        if (g->thrown) {
            note("outer caught:%s", err_name(g->thrown));
            GEN_RETURN(g, "recovered");
        }
    } else {
        GEN_YIELD_FROM(g, self->sub);
    }
    note("outer got:%s", text(g->sent));
    GEN_YIELD(g, "after");
    GEN_RETURN(g, "outer result");
    GEN_END(g);
}

static void outer_init(struct outer *o, struct gen *sub, int catch_errors)
{
    gen_init(&o->gen, outer_body);
    o->sub = sub;
    o->catch_errors = catch_errors;
}

static void test_delegation_passes_yields_and_sends(void **state)
{
    struct gen sub;
    struct outer o;
    (void)state;
    gen_init(&sub, echo_body);
    outer_init(&o, &sub, 0);
    assert_int_equal(gen_send(&o.gen, NULL), GEN_YIELDED); /* yield from starts sub */
    assert_string_equal(o.gen.yielded, "a");
    assert_int_equal(gen_state(&sub), GEN_SUSPENDED);
    assert_int_equal(gen_send(&o.gen, "one"), GEN_YIELDED);
    assert_string_equal(o.gen.yielded, "b");
    assert_int_equal(gen_send(&o.gen, "two"), GEN_YIELDED);
    assert_string_equal(o.gen.yielded, "after");
    assert_int_equal(gen_state(&sub), GEN_CLOSED);
    assert_string_equal(trace, "outer start start got:one got:two outer got:done");
    assert_int_equal(gen_send(&o.gen, NULL), GEN_RETURNED);
    assert_string_equal(o.gen.returned, "outer result");
}

static void test_delegation_forwards_throws(void **state)
{
    struct gen sub;
    struct outer o;
    (void)state;
    gen_init(&sub, handler_body);
    outer_init(&o, &sub, 0);
    gen_send(&o.gen, NULL);
    assert_int_equal(gen_throw(&o.gen, ECONNRESET), GEN_YIELDED);
    assert_string_equal(o.gen.yielded, "handled");
    assert_int_equal(gen_send(&o.gen, "x"), GEN_YIELDED);
    assert_string_equal(o.gen.yielded, "ready");
    assert_string_equal(trace, "outer start caught:ECONNRESET got:x");
}

static void test_delegation_sub_error_propagates(void **state)
{
    struct gen sub;
    struct outer o;
    (void)state;
    gen_init(&sub, echo_body);
    outer_init(&o, &sub, 0);
    gen_send(&o.gen, NULL);
    assert_int_equal(gen_throw(&o.gen, EPIPE), GEN_RAISED);
    assert_int_equal(o.gen.error, EPIPE);
    assert_int_equal(gen_state(&o.gen), GEN_CLOSED);
    assert_int_equal(gen_state(&sub), GEN_CLOSED);
    assert_string_equal(trace, "outer start start");
    /* With GEN_YIELD_FROM_CATCH the delegator handles it (try/except around yield from). */
    clear_trace(NULL);
    gen_init(&sub, echo_body);
    outer_init(&o, &sub, 1);
    gen_send(&o.gen, NULL);
    assert_int_equal(gen_throw(&o.gen, EPIPE), GEN_RETURNED);
    assert_string_equal(o.gen.returned, "recovered");
    assert_string_equal(trace, "outer start start outer caught:EPIPE");
}

static void test_delegation_to_a_sub_that_finishes_at_once(void **state)
{
    struct gen sub;
    struct outer o;
    (void)state;
    gen_init(&sub, instant_body);
    outer_init(&o, &sub, 0);
    assert_int_equal(gen_send(&o.gen, NULL), GEN_YIELDED);
    assert_string_equal(o.gen.yielded, "after"); /* the sub yielded nothing */
    assert_string_equal(trace, "outer start instant outer got:instant result");
}

static void test_delegation_close_reaches_sub(void **state)
{
    struct gen sub;
    struct outer o;
    (void)state;
    gen_init(&sub, cleanup_body);
    outer_init(&o, &sub, 0);
    gen_send(&o.gen, NULL);
    assert_int_equal(gen_close(&o.gen), 0);
    assert_int_equal(gen_state(&o.gen), GEN_CLOSED);
    assert_int_equal(gen_state(&sub), GEN_CLOSED);
    assert_string_equal(trace, "outer start sees:EXIT cleanup");
    /* A sub that ignores GEN_EXIT: RuntimeError, as in Python. */
    clear_trace(NULL);
    gen_init(&sub, stubborn_body);
    outer_init(&o, &sub, 0);
    gen_send(&o.gen, NULL);
    assert_int_equal(gen_close(&o.gen), GEN_IGNORED_EXIT);
    assert_int_equal(gen_state(&o.gen), GEN_CLOSED);
    assert_string_equal(trace, "outer start ignores:EXIT");
}

static void test_delegation_close_when_sub_returns(void **state)
{
    struct gen sub;
    struct outer o;
    (void)state;
    gen_init(&sub, handler_body);
    outer_init(&o, &sub, 1);
    gen_send(&o.gen, NULL);
    /* sub returns "bye" on GEN_EXIT; the delegator still sees GEN_EXIT, not a
     * normal end of the yield from (PEP 380: close() goes on outwards). */
    assert_int_equal(gen_close(&o.gen), 0);
    assert_string_equal(trace, "outer start exit outer caught:EXIT");
    assert_int_equal(gen_state(&o.gen), GEN_CLOSED);
    assert_int_equal(gen_state(&sub), GEN_CLOSED);
}

/* Traces the states of the delegator and its sub while the sub runs. */
static struct gen *watched;

static int watcher_body(struct gen *g)
{
    GEN_BEGIN(g);
    note("delegator:%s sub:%s", gen_state_name(gen_state(watched)), gen_state_name(gen_state(g)));
    note("reenter:%s", err_name(gen_send(watched, NULL) == GEN_RAISED ? watched->error : 0));
    GEN_YIELD(g, "w");
    GEN_END(g);
}

static void test_delegation_states(void **state)
{
    struct gen sub;
    struct outer o;
    (void)state;
    gen_init(&sub, watcher_body);
    outer_init(&o, &sub, 0);
    watched = &o.gen;
    assert_int_equal(gen_send(&o.gen, NULL), GEN_YIELDED);
    assert_string_equal(trace, "outer start delegator:GEN_RUNNING sub:GEN_RUNNING reenter:REENTERED");
    assert_int_equal(gen_state(&o.gen), GEN_SUSPENDED);
    assert_int_equal(gen_state(&sub), GEN_SUSPENDED);
}

static void test_nested_delegation(void **state)
{
    struct gen inner;
    struct outer middle, top;
    (void)state;
    gen_init(&inner, echo_body);
    outer_init(&middle, &inner, 0);
    outer_init(&top, &middle.gen, 0);
    assert_int_equal(gen_send(&top.gen, NULL), GEN_YIELDED);
    assert_string_equal(top.gen.yielded, "a");
    assert_int_equal(gen_send(&top.gen, "1"), GEN_YIELDED);
    assert_string_equal(top.gen.yielded, "b");
    assert_int_equal(gen_send(&top.gen, "2"), GEN_YIELDED);
    assert_string_equal(top.gen.yielded, "after"); /* middle's own yield, passed out */
    assert_int_equal(gen_send(&top.gen, "3"), GEN_YIELDED);
    assert_string_equal(top.gen.yielded, "after"); /* now top's */
    assert_int_equal(gen_send(&top.gen, NULL), GEN_RETURNED);
    assert_string_equal(top.gen.returned, "outer result");
    assert_string_equal(trace, "outer start outer start start got:1 got:2 "
                               "outer got:done outer got:outer result");
    /* A throw goes down all three levels, the error all the way back up. */
    clear_trace(NULL);
    gen_init(&inner, handler_body);
    outer_init(&middle, &inner, 0);
    outer_init(&top, &middle.gen, 0);
    gen_send(&top.gen, NULL);
    assert_int_equal(gen_throw(&top.gen, EPIPE), GEN_YIELDED);
    assert_string_equal(top.gen.yielded, "handled");
    gen_init(&inner, echo_body);
    outer_init(&middle, &inner, 0);
    outer_init(&top, &middle.gen, 0);
    gen_send(&top.gen, NULL);
    assert_int_equal(gen_throw(&top.gen, EPIPE), GEN_RAISED);
    assert_int_equal(top.gen.error, EPIPE);
    assert_int_equal(gen_state(&middle.gen), GEN_CLOSED);
    assert_string_equal(trace, "outer start outer start caught:EPIPE outer start outer start start");
}

/* --- the lesson's average() --- */

struct average {
    struct gen gen;
    int count;
    double sum, average;
};

static int average_body(struct gen *g)
{
    struct average *self = (struct average *)g;
    GEN_BEGIN(g);
    for (;;) {
        GEN_YIELD_CATCH(g, self->count ? &self->average : NULL);
        if (g->thrown == GEN_STOP) {
            note("Done");
            break;
        }
        if (g->thrown)
            GEN_RAISE(g, g->thrown);
        self->count++;
        self->sum += *(const double *)g->sent;
        self->average = self->sum / self->count;
    }
    GEN_RETURN(g, &self->average);
    GEN_END(g);
}

static void test_lesson_average(void **state)
{
    struct average avg = { .count = 0 };
    double four = 4, five = 5;
    (void)state;
    gen_init(&avg.gen, average_body);
    coro_start(&avg.gen); /* the @coroutine decorator */
    assert_null(avg.gen.yielded); /* average = None */
    assert_int_equal(gen_send(&avg.gen, &four), GEN_YIELDED);
    assert_true(*(double *)avg.gen.yielded == 4.0);
    assert_int_equal(gen_send(&avg.gen, &five), GEN_YIELDED);
    assert_true(*(double *)avg.gen.yielded == 4.5);
    assert_int_equal(gen_throw(&avg.gen, GEN_STOP), GEN_RETURNED);
    assert_string_equal(trace, "Done");
    assert_true(*(double *)avg.gen.returned == 4.5);
    assert_int_equal(gen_state(&avg.gen), GEN_CLOSED);
}

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(gen_state_name(GEN_CREATED), "GEN_CREATED");
    assert_string_equal(gen_state_name(GEN_SUSPENDED), "GEN_SUSPENDED");
    assert_string_equal(gen_state_name(GEN_RUNNING), "GEN_RUNNING");
    assert_string_equal(gen_state_name(GEN_CLOSED), "GEN_CLOSED");
}

#define CORO_TEST(f) cmocka_unit_test_setup(f, clear_trace)

int main(void)
{
    const struct CMUnitTest tests[] = {
        CORO_TEST(test_send_before_start_is_a_type_error),
        CORO_TEST(test_send_null_starts),
        CORO_TEST(test_send_is_the_value_of_the_yield),
        CORO_TEST(test_return_value),
        CORO_TEST(test_next_is_step_4s_iteration),
        CORO_TEST(test_after_finish),
        CORO_TEST(test_throw_handled_yields_again),
        CORO_TEST(test_throw_unhandled_comes_back),
        CORO_TEST(test_throw_into_not_started),
        CORO_TEST(test_close_runs_cleanup),
        CORO_TEST(test_close_not_started_or_finished),
        CORO_TEST(test_yield_after_close),
        CORO_TEST(test_close_raising_another_error),
        CORO_TEST(test_reentering_a_running_generator),
        CORO_TEST(test_states_at_each_step),
        CORO_TEST(test_coro_start_primes),
        CORO_TEST(test_delegation_passes_yields_and_sends),
        CORO_TEST(test_delegation_forwards_throws),
        CORO_TEST(test_delegation_sub_error_propagates),
        CORO_TEST(test_delegation_to_a_sub_that_finishes_at_once),
        CORO_TEST(test_delegation_close_reaches_sub),
        CORO_TEST(test_delegation_close_when_sub_returns),
        CORO_TEST(test_delegation_states),
        CORO_TEST(test_nested_delegation),
        CORO_TEST(test_lesson_average),
        CORO_TEST(test_state_names),
    };
    return cmocka_run_group_tests_name("generators that receive values (step 5)", tests, NULL, NULL);
}
