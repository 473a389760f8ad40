/* Unit tests of step 6's runtime (6_async_await/asyncio.h): futures, the loop's
 * callbacks and timers, tasks, gather, wait_for and socket operations. Timers run
 * on the virtual clock, so no test depends on how fast this machine is. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* syscall(), to count epoll_ctl() on Linux */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "asyncio.h"
#include "harness.h"
#include "selector.h"

static struct loop *loop;

/* What happened, in order: each test records events and compares the line. */
static char events[2048];

static void record(const char *fmt, ...)
{
    size_t len = strlen(events);
    va_list ap;
    if (len > 0 && len < sizeof events - 1)
        events[len++] = ' ';
    va_start(ap, fmt);
    vsnprintf(events + len, sizeof events - len, fmt, ap);
    va_end(ap);
}

static int setup_virtual(void **state)
{
    (void)state;
    events[0] = '\0';
    loop = loop_create();
    if (!loop)
        return -1;
    loop_use_virtual_clock(loop);
    /* A broken loop hangs rather than fails: make it fail. */
    alarm(MUST_MS / 1000);
    return 0;
}

static int setup_real(void **state)
{
    int rc = setup_virtual(state);
    loop_close(loop);
    loop = loop_create();
    return rc < 0 || !loop ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    loop_close(loop);
    alarm(0);
    return 0;
}

static void run(struct fut *fut)
{
    assert_int_equal(loop_run_until_complete(loop, fut), 0);
}

/* Callbacks that record their argument (a string) as they run. */
static void say(void *arg)
{
    record("%s", (const char *)arg);
}

static void say_at(void *arg)
{
    record("%s@%lld", (const char *)arg, loop_time(loop));
}

static void say_done(struct fut *fut, void *arg)
{
    record("%s:%s", (const char *)arg, fut_cancelled(fut) ? "cancelled" : fut->error ? "error" : "done");
}

/* --- futures --- */

static void test_done_callbacks_run_once_in_order_through_the_loop(void **state)
{
    struct fut fut, later;
    (void)state;
    fut_init(&fut, loop);
    fut_add_done_callback(&fut, say_done, "a");
    fut_add_done_callback(&fut, say_done, "b");
    fut_add_done_callback(&fut, say_done, "c"); /* past the inline ones */
    assert_false(fut_done(&fut));
    assert_int_equal(fut_set_result(&fut, "x"), 0);
    assert_string_equal(events, ""); /* not called from fut_set_result() */
    assert_int_equal(loop_run_once(loop), 0);
    assert_string_equal(events, "a:done b:done c:done");
    fut_add_done_callback(&fut, say_done, "late"); /* done already: still through the loop */
    assert_string_equal(events, "a:done b:done c:done");
    run(aio_sleep(loop, &later, 10)); /* a few more iterations */
    assert_string_equal(events, "a:done b:done c:done late:done"); /* each once */
}

static void test_future_states(void **state)
{
    struct fut ok, bad, gone;
    (void)state;
    fut_init(&ok, loop);
    fut_init(&bad, loop);
    fut_init(&gone, loop);
    assert_int_equal(ok.state, FUT_PENDING);
    assert_int_equal(fut_set_result(&ok, "value"), 0);
    assert_true(fut_done(&ok));
    assert_int_equal(ok.state, FUT_DONE);
    assert_string_equal(ok.result, "value");
    assert_int_equal(ok.error, 0);
    /* Setting twice is refused, and changes nothing. */
    assert_int_equal(fut_set_result(&ok, "other"), -1);
    assert_int_equal(fut_set_error(&ok, EIO), -1);
    assert_int_equal(fut_cancel(&ok), 0);
    assert_string_equal(ok.result, "value");
    assert_int_equal(ok.state, FUT_DONE);

    assert_int_equal(fut_set_error(&bad, 0), -1); /* an error is never 0 */
    assert_int_equal(fut_set_error(&bad, EIO), 0);
    assert_int_equal(bad.state, FUT_DONE);
    assert_int_equal(bad.error, EIO);
    assert_false(fut_cancelled(&bad));

    fut_add_done_callback(&gone, say_done, "gone");
    assert_int_equal(fut_cancel(&gone), 1);
    assert_true(fut_cancelled(&gone));
    assert_int_equal(gone.error, ECANCELED);
    assert_int_equal(fut_cancel(&gone), 0);
    assert_int_equal(fut_set_result(&gone, "late"), -1);
    assert_int_equal(loop_run_once(loop), 0);
    assert_string_equal(events, "gone:cancelled");
}

/* --- the loop --- */

static void say_and_schedule(void *arg)
{
    record("%s", (const char *)arg);
    loop_call_soon(loop, say, "c");
}

static void test_call_soon_order_and_iterations(void **state)
{
    (void)state;
    loop_call_soon(loop, say_and_schedule, "a");
    loop_call_soon(loop, say, "b");
    assert_int_equal(loop_run_once(loop), 0);
    /* Only what was ready when the iteration began: c waits for the next. */
    assert_string_equal(events, "a b");
    assert_int_equal(loop_run_once(loop), 0);
    assert_string_equal(events, "a b c");
}

static void test_timers_run_in_deadline_order(void **state)
{
    struct fut last;
    (void)state;
    loop_call_later(loop, 30, say_at, "c");
    loop_call_later(loop, 10, say_at, "a");
    loop_call_later(loop, 20, say_at, "b");
    loop_call_later(loop, 10, say_at, "a2"); /* same deadline as a: after it */
    loop_call_later(loop, 0, say_at, "now");
    run(aio_sleep(loop, &last, 40));
    assert_string_equal(events, "now@0 a@10 a2@10 b@20 c@30");
    assert_int_equal(loop_time(loop), 40);
}

static struct timer_handle victim;

static void cancel_victim(void *arg)
{
    record("%s", (const char *)arg);
    assert_int_equal(loop_cancel_timer(loop, victim), 1);
}

static void test_cancelled_timers_do_not_run(void **state)
{
    struct timer_handle h;
    struct fut end;
    (void)state;
    h = loop_call_later(loop, 10, say, "never");
    loop_call_later(loop, 20, say, "kept");
    assert_int_equal(loop_cancel_timer(loop, h), 1);
    assert_int_equal(loop_cancel_timer(loop, h), 0);
    /* Due in the same iteration, queued behind the one that cancels it. */
    loop_call_later(loop, 30, cancel_victim, "canceller");
    victim = loop_call_later(loop, 30, say, "victim");
    run(aio_sleep(loop, &end, 50));
    assert_string_equal(events, "kept canceller");
    /* A handle of a timer that ran does not cancel the next timer made from its node. */
    h = loop_call_later(loop, 10, say, "first");
    run(aio_sleep(loop, &end, 20));
    loop_call_later(loop, 10, say, "second");
    assert_int_equal(loop_cancel_timer(loop, h), 0);
    run(aio_sleep(loop, &end, 20));
    assert_string_equal(events, "kept canceller first second");
}

static int fired[200];
static int nfired;

static void fire(void *arg)
{
    fired[nfired++] = (int)((int *)arg - fired);
}

/* The heap, stirred: 200 timers with scrambled deadlines, a third cancelled. */
static void test_many_timers_keep_order(void **state)
{
    static int delays[200];
    struct timer_handle handles[200];
    struct fut end;
    unsigned x = 12345;
    int expected = 0;
    (void)state;
    nfired = 0;
    for (int i = 0; i < 200; i++) {
        x = x * 1103515245u + 12345u;
        delays[i] = (int)(x >> 16) % 50;
        handles[i] = loop_call_later(loop, delays[i], fire, &fired[i]);
    }
    for (int i = 0; i < 200; i += 3)
        assert_int_equal(loop_cancel_timer(loop, handles[i]), 1);
    run(aio_sleep(loop, &end, 100));
    for (int d = 0; d < 50; d++) /* by deadline, then by order of call */
        for (int i = 0; i < 200; i++)
            if (i % 3 != 0 && delays[i] == d) {
                assert_true(expected < nfired);
                assert_int_equal(fired[expected++], i);
            }
    assert_int_equal(nfired, expected);
}

static void test_virtual_clock_jumps_to_the_next_timer(void **state)
{
    struct fut hour;
    (void)state;
    assert_int_equal(loop_time(loop), 0);
    run(aio_sleep(loop, &hour, 3600 * 1000));
    assert_int_equal(loop_time(loop), 3600 * 1000);
}

static void stop_loop(void *arg)
{
    (void)arg;
    loop_stop(loop);
}

static void set_result_later(void *arg)
{
    fut_set_result(arg, "finished");
}

static void test_run_until_complete_and_stop(void **state)
{
    struct fut fut;
    (void)state;
    fut_init(&fut, loop);
    loop_call_later(loop, 50, set_result_later, &fut);
    run(&fut);
    assert_string_equal(fut.result, "finished");
    assert_int_equal(loop_time(loop), 50);
    /* stop() ends run_forever() after the current iteration. */
    loop_call_soon(loop, stop_loop, NULL);
    loop_call_soon(loop, say, "same-iteration");
    loop_call_later(loop, 10, say, "later");
    assert_int_equal(loop_run_forever(loop), 0);
    assert_string_equal(events, "same-iteration");
    /* Stopped before it runs: one iteration, then it returns. */
    loop_stop(loop);
    assert_int_equal(loop_run_forever(loop), 0);
    assert_string_equal(events, "same-iteration"); /* the timer was not due yet */
    loop_call_later(loop, 20, stop_loop, NULL);
    assert_int_equal(loop_run_forever(loop), 0);
    assert_string_equal(events, "same-iteration later");
}

/* --- tasks and await --- */

/* The innermost of three coroutines: sleeps, then returns a value or raises. */
struct bottom {
    struct gen gen;
    struct fut sleep_done;
    int fail; /* raised after the sleep, if not 0 */
};

static int bottom_body(struct gen *g)
{
    struct bottom *self = (struct bottom *)g;
    GEN_BEGIN(g);
    record("bottom sleeps");
    AWAIT(g, aio_sleep(loop, &self->sleep_done, 10));
    record("bottom@%lld", loop_time(loop));
    if (self->fail)
        GEN_RAISE(g, self->fail);
    GEN_RETURN(g, "from bottom");
    GEN_END(g);
}

struct middle {
    struct gen gen;
    struct bottom bottom;
};

static int middle_body(struct gen *g)
{
    struct middle *self = (struct middle *)g;
    GEN_BEGIN(g);
    gen_init(&self->bottom.gen, bottom_body);
    AWAIT_CORO(g, &self->bottom.gen);
    record("middle got '%s'", (char *)g->sent);
    GEN_RETURN(g, "from middle");
    GEN_END(g);
}

struct top {
    struct gen gen;
    struct middle middle;
    int catch_errors;
};

static int top_body(struct gen *g)
{
    struct top *self = (struct top *)g;
    GEN_BEGIN(g);
    gen_init(&self->middle.gen, middle_body);
    if (self->catch_errors) {
        AWAIT_CORO_CATCH(g, &self->middle.gen);
        if (g->thrown) {
            record("top caught %s", g->thrown == EPIPE ? "EPIPE" : "something else");
            GEN_RETURN(g, "recovered");
        }
    } else {
        AWAIT_CORO(g, &self->middle.gen);
    }
    record("top got '%s'", (char *)g->sent);
    GEN_RETURN(g, "from top");
    GEN_END(g);
}

static void test_await_chain_through_three_coroutines(void **state)
{
    struct top top = { .catch_errors = 0 };
    struct task task;
    (void)state;
    gen_init(&top.gen, top_body);
    run(&aio_create_task(loop, &task, &top.gen)->fut);
    assert_string_equal(events, "bottom sleeps bottom@10 middle got 'from bottom' top got 'from middle'");
    assert_int_equal(task.fut.state, FUT_DONE);
    assert_int_equal(task.fut.error, 0);
    assert_string_equal(task.fut.result, "from top");
}

static void test_errors_propagate_up_the_chain(void **state)
{
    struct top raiser = { .catch_errors = 0 }, catcher = { .catch_errors = 1 };
    struct task task;
    (void)state;
    gen_init(&raiser.gen, top_body);
    raiser.middle.bottom.fail = EIO;
    run(&aio_create_task(loop, &task, &raiser.gen)->fut);
    assert_string_equal(events, "bottom sleeps bottom@10"); /* nobody after the raise went on */
    assert_int_equal(task.fut.state, FUT_DONE);
    assert_int_equal(task.fut.error, EIO);

    events[0] = '\0';
    gen_init(&catcher.gen, top_body);
    catcher.middle.bottom.fail = EPIPE;
    run(&aio_create_task(loop, &task, &catcher.gen)->fut);
    assert_string_equal(events, "bottom sleeps bottom@20 top caught EPIPE");
    assert_int_equal(task.fut.error, 0);
    assert_string_equal(task.fut.result, "recovered");
}

/* Sleeps (or awaits a given future), then returns a value or raises; on
 * ECANCELED it may clean up and return instead. */
struct sleeper {
    struct gen gen;
    const char *name;
    long long ms;
    struct fut *awaits; /* if not NULL, awaited instead of sleeping */
    int catch_cancel;
    int fail;
    const char *value;
    struct fut own;     /* its sleep */
};

static int sleeper_body(struct gen *g)
{
    struct sleeper *self = (struct sleeper *)g;
    GEN_BEGIN(g);
    record("%s waits", self->name);
    AWAIT_CATCH(g, self->awaits ? self->awaits : aio_sleep(loop, &self->own, self->ms));
    if (g->thrown == ECANCELED && self->catch_cancel) {
        record("%s cleans up@%lld", self->name, loop_time(loop));
        GEN_RETURN(g, "cleaned up");
    }
    if (g->thrown)
        GEN_RAISE(g, g->thrown);
    record("%s@%lld", self->name, loop_time(loop));
    if (self->fail)
        GEN_RAISE(g, self->fail);
    GEN_RETURN(g, (void *)self->value);
    GEN_END(g);
}

static struct task *start_sleeper(struct task *task, struct sleeper *s)
{
    gen_init(&s->gen, sleeper_body);
    return aio_create_task(loop, task, &s->gen);
}

static void cancel_task(void *arg)
{
    record("cancel@%lld", loop_time(loop));
    assert_int_equal(task_cancel(arg), 1);
}

static void test_cancel_at_an_await_point(void **state)
{
    struct fut never;
    struct sleeper s = { .name = "s", .awaits = &never };
    struct task task;
    (void)state;
    fut_init(&never, loop);
    start_sleeper(&task, &s);
    assert_int_equal(loop_run_once(loop), 0); /* it runs to its await */
    assert_string_equal(events, "s waits");
    assert_int_equal(task_cancel(&task), 1);
    assert_true(fut_cancelled(&never)); /* what it awaited is cancelled... */
    run(&task.fut);
    assert_true(fut_cancelled(&task.fut)); /* ...and so the task, which did not catch it */
    assert_int_equal(task.fut.error, ECANCELED);
    assert_string_equal(events, "s waits");
    assert_int_equal(task_cancel(&task), 0);
}

static void test_cancel_during_sleep(void **state)
{
    struct sleeper plain = { .name = "plain", .ms = 1000 }, tidy = { .name = "tidy", .ms = 1000, .catch_cancel = 1 };
    struct task t1, t2;
    (void)state;
    start_sleeper(&t1, &plain);
    start_sleeper(&t2, &tidy);
    loop_call_later(loop, 100, cancel_task, &t1);
    loop_call_later(loop, 200, cancel_task, &t2);
    run(&t1.fut);
    run(&t2.fut);
    assert_string_equal(events, "plain waits tidy waits cancel@100 cancel@200 tidy cleans up@200");
    assert_true(fut_cancelled(&t1.fut));
    assert_true(fut_cancelled(&plain.own));
    /* It caught ECANCELED, cleaned up and returned: the task ends with that. */
    assert_int_equal(t2.fut.state, FUT_DONE);
    assert_string_equal(t2.fut.result, "cleaned up");
    assert_true(fut_cancelled(&tidy.own));
    assert_int_equal(loop_time(loop), 200); /* nobody waited for the 1000 ms */
}

static void test_cancel_before_the_first_step(void **state)
{
    struct sleeper s = { .name = "s", .ms = 10, .catch_cancel = 1 };
    struct task task;
    (void)state;
    start_sleeper(&task, &s);
    assert_int_equal(task_cancel(&task), 1);
    run(&task.fut);
    assert_true(fut_cancelled(&task.fut));
    assert_string_equal(events, ""); /* its body never ran, so could not catch anything */
}

/* Cancels its own task, then sleeps: the sleep is cancelled as it begins. */
struct self_canceller {
    struct gen gen;
    struct task *task;
    struct fut sleep_done;
};

static int self_canceller_body(struct gen *g)
{
    struct self_canceller *self = (struct self_canceller *)g;
    GEN_BEGIN(g);
    assert_int_equal(task_cancel(self->task), 1);
    AWAIT_CATCH(g, aio_sleep(loop, &self->sleep_done, 1000));
    record("woke@%lld with %s", loop_time(loop), g->thrown == ECANCELED ? "ECANCELED" : "no error");
    GEN_END(g);
}

static void test_a_task_cancelled_during_its_own_step(void **state)
{
    struct self_canceller s;
    struct task task;
    (void)state;
    s.task = &task;
    gen_init(&s.gen, self_canceller_body);
    run(&aio_create_task(loop, &task, &s.gen)->fut);
    assert_string_equal(events, "woke@0 with ECANCELED");
    assert_int_equal(task.fut.state, FUT_DONE); /* it caught it */
}

/* Awaits another task, and records what came of it. */
struct awaiter {
    struct gen gen;
    struct task *other;
};

static int awaiter_body(struct gen *g)
{
    struct awaiter *self = (struct awaiter *)g;
    GEN_BEGIN(g);
    AWAIT_CATCH(g, &self->other->fut);
    if (g->thrown)
        record("awaiter got error %s", g->thrown == ECANCELED ? "ECANCELED" : "other");
    else
        record("awaiter got '%s'", (char *)g->sent);
    if (g->thrown)
        GEN_RAISE(g, g->thrown);
    GEN_RETURN(g, g->sent);
    GEN_END(g);
}

static void test_a_task_awaits_a_task(void **state)
{
    struct sleeper s = { .name = "inner", .ms = 10, .value = "v" }, s2 = { .name = "inner2", .ms = 100 };
    struct awaiter a = { .other = NULL }, a2 = { .other = NULL };
    struct task inner, outer, inner2, outer2;
    (void)state;
    a.other = start_sleeper(&inner, &s);
    gen_init(&a.gen, awaiter_body);
    run(&aio_create_task(loop, &outer, &a.gen)->fut);
    assert_string_equal(outer.fut.result, "v");
    /* Cancelling the outer task cancels the task it awaits, which wakes it. */
    events[0] = '\0';
    a2.other = start_sleeper(&inner2, &s2);
    gen_init(&a2.gen, awaiter_body);
    aio_create_task(loop, &outer2, &a2.gen);
    loop_call_later(loop, 20, cancel_task, &outer2);
    run(&outer2.fut);
    assert_string_equal(events, "inner2 waits cancel@30 awaiter got error ECANCELED");
    assert_true(fut_cancelled(&inner2.fut));
    assert_true(fut_cancelled(&outer2.fut));
}

/* Yields nothing three times: each time the other tasks run first. */
struct yielder {
    struct gen gen;
    const char *name;
    int i;
};

static int yielder_body(struct gen *g)
{
    struct yielder *self = (struct yielder *)g;
    GEN_BEGIN(g);
    for (self->i = 1; self->i <= 3; self->i++) {
        record("%s%d", self->name, self->i);
        GEN_YIELD(g, NULL);
    }
    GEN_END(g);
}

static void test_a_bare_yield_lets_the_others_run(void **state)
{
    struct yielder a = { .name = "a" }, b = { .name = "b" };
    struct task ta, tb;
    (void)state;
    gen_init(&a.gen, yielder_body);
    gen_init(&b.gen, yielder_body);
    aio_create_task(loop, &ta, &a.gen);
    aio_create_task(loop, &tb, &b.gen);
    run(&tb.fut);
    assert_string_equal(events, "a1 b1 a2 b2 a3 b3");
}

static void test_awaiting_a_done_future_goes_on_at_once(void **state)
{
    struct fut done;
    struct sleeper s = { .name = "s", .awaits = &done, .value = "v" };
    struct yielder b = { .name = "b" };
    struct task ts, tb;
    (void)state;
    fut_init(&done, loop);
    fut_set_result(&done, "ready");
    start_sleeper(&ts, &s);
    gen_init(&b.gen, yielder_body);
    aio_create_task(loop, &tb, &b.gen);
    run(&tb.fut);
    /* s goes on at once, as Python's await of a done future does: b waits. */
    assert_string_equal(events, "s waits s@0 b1 b2 b3");
    assert_string_equal(ts.fut.result, "v");
}

static void test_shutdown_cancels_every_task(void **state)
{
    struct sleeper a = { .name = "a", .ms = 100000, .catch_cancel = 1 }, b = { .name = "b", .ms = 100000 };
    struct task ta, tb;
    (void)state;
    start_sleeper(&ta, &a);
    start_sleeper(&tb, &b);
    fut_add_done_callback(&tb.fut, say_done, "b");
    assert_int_equal(loop_run_once(loop), 0);
    assert_int_equal(loop_shutdown(loop), 0);
    assert_string_equal(events, "a waits b waits a cleans up@0 b:cancelled");
    assert_int_equal(ta.fut.state, FUT_DONE);
    assert_true(fut_cancelled(&tb.fut));
}

/* --- gather and wait_for --- */

static void test_gather_keeps_argument_order(void **state)
{
    struct sleeper x = { .name = "x", .ms = 30, .value = "X" }, y = { .name = "y", .ms = 10, .value = "Y" };
    struct fut z;
    struct task tx, ty;
    struct fut *futs[3] = { &start_sleeper(&tx, &x)->fut, &start_sleeper(&ty, &y)->fut, aio_sleep(loop, &z, 20) };
    void *results[3];
    struct gather_fut all;
    (void)state;
    run(aio_gather(loop, &all, futs, results, 3));
    assert_string_equal(events, "x waits y waits y@10 x@30");
    assert_int_equal(all.fut.error, 0);
    assert_ptr_equal(all.fut.result, results);
    assert_string_equal(results[0], "X");
    assert_string_equal(results[1], "Y");
    assert_null(results[2]); /* a sleep's result */
    assert_int_equal(loop_time(loop), 30);
}

static void test_gather_first_error_wins(void **state)
{
    struct sleeper a = { .name = "a", .ms = 30, .fail = EIO }, b = { .name = "b", .ms = 10, .fail = EPIPE },
                   c = { .name = "c", .ms = 20, .value = "C" };
    struct task ta, tb, tc;
    struct fut *futs[3] = { &start_sleeper(&ta, &a)->fut, &start_sleeper(&tb, &b)->fut, &start_sleeper(&tc, &c)->fut };
    void *results[3];
    struct gather_fut all;
    (void)state;
    run(aio_gather(loop, &all, futs, results, 3));
    assert_int_equal(all.fut.error, EPIPE); /* b failed first, though a comes first */
    /* Every child has finished, so none outlives the gather. */
    assert_int_equal(loop_time(loop), 30);
    assert_true(fut_done(&ta.fut) && fut_done(&tc.fut));
    assert_string_equal(results[2], "C");
}

static void cancel_fut(void *arg)
{
    record("cancel@%lld", loop_time(loop));
    assert_int_equal(fut_cancel(arg), 1);
}

static void test_cancelling_a_gather_cancels_its_children(void **state)
{
    struct sleeper a = { .name = "a", .ms = 100 }, b = { .name = "b", .ms = 100, .catch_cancel = 1 };
    struct task ta, tb;
    struct fut *futs[2] = { &start_sleeper(&ta, &a)->fut, &start_sleeper(&tb, &b)->fut };
    struct gather_fut all;
    (void)state;
    aio_gather(loop, &all, futs, NULL, 2);
    loop_call_later(loop, 10, cancel_fut, &all.fut);
    run(&all.fut);
    assert_string_equal(events, "a waits b waits cancel@10 b cleans up@10");
    assert_true(fut_cancelled(&all.fut));
    assert_true(fut_cancelled(&ta.fut));
    assert_string_equal(tb.fut.result, "cleaned up");
}

static void test_gather_of_nothing_is_done(void **state)
{
    struct gather_fut none;
    (void)state;
    run(aio_gather(loop, &none, NULL, NULL, 0));
    assert_int_equal(none.fut.error, 0);
}

static void test_wait_for_times_out(void **state)
{
    struct sleeper slow = { .name = "slow", .ms = 100, .value = "late" },
                   tidy = { .name = "tidy", .ms = 100, .catch_cancel = 1 };
    struct task ts, tt;
    struct fut never;
    struct wait_for_fut w1, w2, w3;
    (void)state;
    run(aio_wait_for(loop, &w1, &start_sleeper(&ts, &slow)->fut, 50));
    assert_int_equal(w1.fut.error, ETIMEDOUT);
    assert_int_equal(loop_time(loop), 50);
    assert_true(fut_cancelled(&ts.fut)); /* the inner one is cancelled */
    /* An inner task that catches the cancellation still times the wait out. */
    run(aio_wait_for(loop, &w2, &start_sleeper(&tt, &tidy)->fut, 50));
    assert_int_equal(w2.fut.error, ETIMEDOUT);
    assert_string_equal(tt.fut.result, "cleaned up");
    /* A plain future. */
    fut_init(&never, loop);
    run(aio_wait_for(loop, &w3, &never, 30));
    assert_int_equal(w3.fut.error, ETIMEDOUT);
    assert_true(fut_cancelled(&never));
    assert_int_equal(loop_time(loop), 130);
    assert_string_equal(events, "slow waits tidy waits tidy cleans up@100");
}

static void test_wait_for_done_in_time(void **state)
{
    struct sleeper quick = { .name = "quick", .ms = 10, .value = "in time" }, bad = { .name = "bad", .ms = 10, .fail = EIO };
    struct task tq, tb;
    struct wait_for_fut w1, w2, w3;
    struct fut tie;
    (void)state;
    run(aio_wait_for(loop, &w1, &start_sleeper(&tq, &quick)->fut, 50));
    assert_int_equal(w1.fut.error, 0);
    assert_string_equal(w1.fut.result, "in time");
    assert_int_equal(loop_time(loop), 10);
    run(aio_wait_for(loop, &w2, &start_sleeper(&tb, &bad)->fut, 50));
    assert_int_equal(w2.fut.error, EIO);
    assert_string_equal(events, "quick waits quick@10 bad waits bad@20");
    /* Done at the deadline, just before the timeout ran: done in time. */
    run(aio_wait_for(loop, &w3, aio_sleep(loop, &tie, 50), 50));
    assert_int_equal(w3.fut.error, 0);
    assert_false(fut_cancelled(&tie));
    /* Done already: done at once, with its result. */
    fut_init(&tie, loop);
    fut_set_result(&tie, "there");
    assert_true(fut_done(aio_wait_for(loop, &w1, &tie, 50)));
    assert_string_equal(w1.fut.result, "there");
}

/* --- sockets (on the real clock) --- */

static void nonblocking_pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(sv[i], F_SETFL, O_NONBLOCK), 0);
}

static int peer_fd;

static void send_hello(void *arg)
{
    (void)arg;
    assert_int_equal(send(peer_fd, "hello", 5, 0), 5);
}

static void test_sock_recv(void **state)
{
    int sv[2];
    char buf[64];
    struct sock_op op;
    (void)state;
    nonblocking_pair(sv);
    peer_fd = sv[1];
    sock_recv(loop, &op, sv[0], buf, sizeof buf);
    assert_false(fut_done(&op.fut)); /* nothing there yet: it waits */
    loop_call_later(loop, 10, send_hello, NULL);
    run(&op.fut);
    assert_int_equal(op.fut.error, 0);
    assert_int_equal(op.n, 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(loop_remove_reader(loop, sv[0]), 0); /* it stopped watching */
    close(sv[1]);
    run(sock_recv(loop, &op, sv[0], buf, sizeof buf));
    assert_int_equal(op.fut.error, 0);
    assert_int_equal(op.n, 0); /* end of stream */
    close(sv[0]);
}

/* The slow peer: every millisecond, reads at most 8 KiB and checks it. */
static struct {
    int fd;
    size_t got, total;
    int reads;
    struct fut all_read;
} slow;

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 7 + i / 251);
}

static void read_slowly(void *arg)
{
    unsigned char buf[8192];
    ssize_t n = recv(slow.fd, buf, sizeof buf, 0);
    (void)arg;
    for (ssize_t i = 0; i < n; i++)
        assert_int_equal(buf[i], pattern(slow.got + (size_t)i));
    if (n > 0) {
        slow.got += (size_t)n;
        slow.reads++;
    }
    if (slow.got == slow.total)
        fut_set_result(&slow.all_read, NULL);
    else
        loop_call_later(loop, 1, read_slowly, NULL);
}

static void test_sock_sendall_1mib_to_a_slow_reader(void **state)
{
    size_t total = 1024 * 1024;
    unsigned char *data = malloc(total);
    int sv[2], size = 16384;
    struct sock_op op;
    (void)state;
    assert_non_null(data);
    for (size_t i = 0; i < total; i++)
        data[i] = pattern(i);
    nonblocking_pair(sv);
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    slow.fd = sv[1];
    slow.got = 0;
    slow.total = total;
    slow.reads = 0;
    fut_init(&slow.all_read, loop);
    loop_call_later(loop, 1, read_slowly, NULL);
    sock_sendall(loop, &op, sv[0], data, total);
    assert_false(fut_done(&op.fut)); /* 1 MiB does not fit in the socket */
    run(&op.fut);
    assert_int_equal(op.fut.error, 0);
    assert_int_equal(op.n, total);
    assert_true(slow.reads > 10); /* sent in many pieces, as the reader made room */
    run(&slow.all_read);
    assert_int_equal(slow.got, total);
    close(sv[0]);
    close(sv[1]);
    free(data);
}

/* A non-blocking TCP socket bound to 127.0.0.1, any port; its address in addr. */
static int bound_socket(struct sockaddr_in *addr)
{
    socklen_t len = sizeof *addr;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    /* 127.0.0.1: macOS hides INADDR_LOOPBACK under _POSIX_C_SOURCE */
    addr->sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(bind(fd, (struct sockaddr *)addr, sizeof *addr), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)addr, &len), 0);
    assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

/* A blocking client connected to addr. */
static int client_socket(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (const struct sockaddr *)addr, sizeof *addr), 0);
    return fd;
}

static void test_sock_accept_and_connect(void **state)
{
    struct sockaddr_in addr;
    int listener = bound_socket(&addr), client = socket(AF_INET, SOCK_STREAM, 0);
    struct sock_op accepting, connecting, io;
    char buf[8];
    (void)state;
    assert_int_equal(listen(listener, 8), 0);
    assert_int_equal(fcntl(client, F_SETFL, O_NONBLOCK), 0);
    sock_accept(loop, &accepting, listener);
    assert_false(fut_done(&accepting.fut)); /* nobody has connected yet */
    sock_connect(loop, &connecting, client, (struct sockaddr *)&addr, sizeof addr);
    run(&connecting.fut);
    assert_int_equal(connecting.fut.error, 0);
    run(&accepting.fut);
    assert_int_equal(accepting.fut.error, 0);
    assert_true(accepting.conn >= 0);
    assert_int_equal(fcntl(accepting.conn, F_SETFL, O_NONBLOCK), 0);
    run(sock_sendall(loop, &io, client, "ping", 4));
    assert_int_equal(io.n, 4);
    run(sock_recv(loop, &io, accepting.conn, buf, sizeof buf));
    assert_int_equal(io.n, 4);
    assert_memory_equal(buf, "ping", 4);
    close(accepting.conn);
    close(client);
    close(listener);
}

static void test_sock_connect_refused(void **state)
{
    struct sockaddr_in addr;
    int closed = bound_socket(&addr), client = socket(AF_INET, SOCK_STREAM, 0); /* bound, not listening */
    struct sock_op op;
    (void)state;
    assert_int_equal(fcntl(client, F_SETFL, O_NONBLOCK), 0);
    run(sock_connect(loop, &op, client, (struct sockaddr *)&addr, sizeof addr));
    assert_int_equal(op.fut.state, FUT_DONE);
    assert_int_equal(op.fut.error, ECONNREFUSED);
    assert_int_equal(loop_remove_writer(loop, client), 0);
    close(client);
    close(closed);
}

/* Receives once, into its frame. */
struct receiver {
    struct gen gen;
    int fd;
    struct sock_op io;
    char buf[16];
};

static int receiver_body(struct gen *g)
{
    struct receiver *self = (struct receiver *)g;
    GEN_BEGIN(g);
    AWAIT(g, sock_recv(loop, &self->io, self->fd, self->buf, sizeof self->buf));
    record("received");
    GEN_END(g);
}

static void test_a_cancelled_recv_stops_watching(void **state)
{
    int sv[2];
    struct receiver r = { .buf = "untouched" };
    struct task task;
    struct fut later;
    (void)state;
    nonblocking_pair(sv);
    r.fd = sv[0];
    gen_init(&r.gen, receiver_body);
    aio_create_task(loop, &task, &r.gen);
    assert_int_equal(loop_run_once(loop), 0); /* it waits in recv */
    assert_int_equal(task_cancel(&task), 1);
    run(&task.fut);
    assert_true(fut_cancelled(&task.fut));
    assert_true(fut_cancelled(&r.io.fut));
    assert_int_equal(loop_remove_reader(loop, sv[0]), 0); /* nobody watches the fd */
    assert_int_equal(send(sv[1], "data", 4, 0), 4);
    run(aio_sleep(loop, &later, 20));
    assert_string_equal(r.buf, "untouched");
    assert_string_equal(events, "");
    close(sv[0]);
    close(sv[1]);
}

static void on_readable(void *arg)
{
    record("%s readable", (const char *)arg);
}

static void on_writable(void *arg)
{
    record("%s writable", (const char *)arg);
}

static void test_a_reader_and_a_writer_share_one_fd(void **state)
{
    int sv[2];
    (void)state;
    nonblocking_pair(sv);
    assert_int_equal(loop_add_reader(loop, sv[0], on_readable, "a"), 0);
    assert_int_equal(loop_add_writer(loop, sv[0], on_writable, "a"), 0);
    assert_int_equal(loop_run_once(loop), 0);
    assert_string_equal(events, "a writable"); /* writable at once; nothing to read */
    assert_int_equal(loop_remove_writer(loop, sv[0]), 1);
    assert_int_equal(loop_remove_writer(loop, sv[0]), 0);
    assert_int_equal(send(sv[1], "x", 1, 0), 1);
    assert_int_equal(loop_run_once(loop), 0);
    assert_string_equal(events, "a writable a readable");
    assert_int_equal(loop_remove_reader(loop, sv[0]), 1);
    assert_int_equal(loop_add_reader(loop, -1, on_readable, "bad"), -1);
    close(sv[0]);
    close(sv[1]);
}

/* Two readable fds, each reader replacing the other's: whichever runs first,
 * the other's event was queued already but must not run, nor reach the new one. */
static int pair_a[2], pair_b[2];

static void replace_other(void *arg)
{
    int self = ((int *)arg)[0], other = self == pair_a[0] ? pair_b[0] : pair_a[0];
    record("first");
    assert_int_equal(loop_remove_reader(loop, self), 1);
    assert_int_equal(loop_remove_reader(loop, other), 1);
    assert_int_equal(loop_add_reader(loop, other, on_readable, "new"), 0);
}

static void test_a_callback_removed_in_the_same_iteration_does_not_run(void **state)
{
    (void)state;
    nonblocking_pair(pair_a);
    nonblocking_pair(pair_b);
    assert_int_equal(send(pair_a[1], "x", 1, 0), 1);
    assert_int_equal(send(pair_b[1], "x", 1, 0), 1);
    assert_int_equal(loop_add_reader(loop, pair_a[0], replace_other, pair_a), 0);
    assert_int_equal(loop_add_reader(loop, pair_b[0], replace_other, pair_b), 0);
    assert_int_equal(loop_run_once(loop), 0);
    assert_string_equal(events, "first");
    assert_int_equal(loop_run_once(loop), 0); /* still readable: now the new reader runs */
    assert_string_equal(events, "first new readable");
    for (int i = 0; i < 2; i++) {
        close(pair_a[i]);
        close(pair_b[i]);
    }
}

static void test_a_signal_just_before_the_wait_wakes_the_loop(void **state)
{
    (void)state;
    assert_int_equal(loop_add_signal_handler(loop, SIGUSR1, say, "usr1"), 0);
    raise(SIGUSR1); /* delivered now, before the loop waits: nothing else will wake it */
    assert_string_equal(events, ""); /* the handler runs from the loop, not from the signal */
    assert_int_equal(loop_run_once(loop), 0);
    assert_string_equal(events, "usr1");
    raise(SIGUSR1);
    raise(SIGUSR1);
    assert_int_equal(loop_run_once(loop), 0);
    assert_string_equal(events, "usr1 usr1 usr1");
}

/* A signal the loop does not handle interrupts its wait: that is the loop's
 * business, not an error its caller must retry. */
static void on_usr2(int sig)
{
    (void)sig;
}

static void test_a_signal_during_the_wait_is_not_an_error(void **state)
{
    struct sigaction sa;
    struct fut later;
    pid_t child;
    (void)state;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_usr2; /* no SA_RESTART: epoll_wait() and poll() fail with EINTR */
    assert_int_equal(sigaction(SIGUSR2, &sa, NULL), 0);
    child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        usleep(50 * 1000);
        kill(getppid(), SIGUSR2);
        _exit(0);
    }
    aio_sleep(loop, &later, 300);
    while (!fut_done(&later))
        assert_int_equal(loop_run_once(loop), 0);
    assert_int_equal(waitpid(child, NULL, 0), child);
    signal(SIGUSR2, SIG_DFL);
}

/* --- the loop keeps an fd's interest between awaits --- */

/* The server's client, cut down: await readability, recv(), send the reply. */
struct echo {
    struct gen gen;
    int fd, rounds;
    struct sock_op io;
    char buf[16];
};

static int echo_body(struct gen *g)
{
    struct echo *self = (struct echo *)g;
    ssize_t n;
    GEN_BEGIN(g);
    for (;;) {
        AWAIT(g, sock_read_wait(loop, &self->io, self->fd));
        n = recv(self->fd, self->buf, sizeof self->buf, 0);
        if (n <= 0)
            break;
        AWAIT(g, sock_sendall(loop, &self->io, self->fd, self->buf, (size_t)n));
        self->rounds++;
    }
    GEN_END(g);
}

#ifdef __linux__
/* Every epoll_ctl() the selector makes comes here first, to be counted. */
#include <sys/epoll.h>
#include <sys/syscall.h>
static int epoll_ctls;
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    epoll_ctls++;
    return (int)syscall(SYS_epoll_ctl, epfd, op, fd, event);
}
#endif

/* The peer's side of a ping-pong: each reply it gets, it sends the next ping. */
static int pinger_fd, pings_left;

static void ping(void *arg)
{
    char buf[16];
    (void)arg;
    if (recv(pinger_fd, buf, sizeof buf, 0) > 0 && pings_left-- > 0)
        assert_int_equal(send(pinger_fd, "ping\n", 5, 0), 5);
    else
        loop_remove_reader(loop, pinger_fd);
}

static void test_ping_pong_keeps_the_registration(void **state)
{
    int sv[2];
    struct echo e = { .rounds = 0 };
    struct task task;
    (void)state;
    if (strcmp(sel_backend(), "epoll") != 0)
        skip();
    nonblocking_pair(sv);
    e.fd = sv[0];
    pinger_fd = sv[1];
    gen_init(&e.gen, echo_body);
    aio_create_task(loop, &task, &e.gen);
    assert_int_equal(loop_add_reader(loop, pinger_fd, ping, NULL), 0);
    pings_left = 1000;
    assert_int_equal(send(pinger_fd, "ping\n", 5, 0), 5);
    while (e.rounds < 2) /* both ends registered, and the exchange under way */
        assert_int_equal(loop_run_once(loop), 0);
#ifdef __linux__
    epoll_ctls = 0;
#endif
    while (e.rounds < 102)
        assert_int_equal(loop_run_once(loop), 0);
#ifdef __linux__
    assert_int_equal(epoll_ctls, 0); /* 100 replies, and the kernel was told nothing */
#endif
    pings_left = 0;
    shutdown(pinger_fd, SHUT_WR);
    run(&task.fut);
    assert_int_equal(task.fut.error, 0);
    loop_forget_fd(loop, sv[0]);
    loop_forget_fd(loop, sv[1]);
    close(sv[0]);
    close(sv[1]);
}

/* Closed without loop_forget_fd() while still registered: a new connection
 * with the same fd number must not inherit the old registration (the kernel
 * dropped it at close, and would never report the new fd). */
static void test_an_accepted_fd_reusing_a_closed_number_is_watched(void **state)
{
    struct sockaddr_in addr;
    int listener = bound_socket(&addr), c1, c2, first;
    struct sock_op accepting, waiting;
    (void)state;
    assert_int_equal(listen(listener, 8), 0);
    c1 = client_socket(&addr);
    run(sock_accept(loop, &accepting, listener));
    first = accepting.conn;
    assert_int_equal(fcntl(first, F_SETFL, O_NONBLOCK), 0);
    assert_int_equal(send(c1, "x", 1, 0), 1);
    run(sock_read_wait(loop, &waiting, first));
    assert_int_equal(waiting.fut.error, 0);
    c2 = client_socket(&addr);
    close(first); /* still registered: the loop tells the kernel only when it next waits */
    run(sock_accept(loop, &accepting, listener));
    assert_int_equal(accepting.conn, first); /* the same number, a new socket */
    assert_int_equal(fcntl(accepting.conn, F_SETFL, O_NONBLOCK), 0);
    sock_read_wait(loop, &waiting, accepting.conn);
    assert_int_equal(send(c2, "y", 1, 0), 1);
    run(&waiting.fut);
    assert_int_equal(waiting.fut.error, 0);
    loop_forget_fd(loop, accepting.conn);
    close(accepting.conn);
    close(c1);
    close(c2);
    close(listener);
}

/* --- run --- */

struct runner {
    struct gen gen;
    int interrupt;
    struct sleeper left;    /* a task main starts and leaves running */
    struct task left_task;
    struct fut nap;
};

static int runner_body(struct gen *g)
{
    struct runner *self = (struct runner *)g;
    GEN_BEGIN(g);
    start_sleeper(&self->left_task, &self->left);
    AWAIT(g, aio_sleep(loop, &self->nap, 10));
    record("main@%lld", loop_time(loop));
    if (self->interrupt)
        raise(SIGINT); /* Ctrl-C: handled by the loop, from the pipe */
    AWAIT(g, aio_sleep(loop, &self->nap, 1000));
    record("main done");
    GEN_END(g);
}

static void test_run_cancels_what_main_leaves(void **state)
{
    struct runner r = { .left = { .name = "left", .ms = 100000, .catch_cancel = 1 } };
    (void)state;
    gen_init(&r.gen, runner_body);
    assert_int_equal(aio_run(loop, &r.gen), 0);
    assert_string_equal(events, "left waits main@10 main done left cleans up@1010");
    assert_int_equal(r.left_task.fut.state, FUT_DONE);
}

static void test_ctrl_c_cancels_main(void **state)
{
    struct runner r = { .interrupt = 1, .left = { .name = "left", .ms = 100000 } };
    (void)state;
    gen_init(&r.gen, runner_body);
    assert_int_equal(aio_run(loop, &r.gen), ECANCELED);
    assert_string_equal(events, "left waits main@10");
    assert_true(fut_cancelled(&r.left_task.fut));
    assert_int_equal(loop_time(loop), 10);
    /* The loop gave SIGINT back: a handler of ours now sees it. */
    assert_int_equal(loop_add_signal_handler(loop, SIGINT, say, "int"), 0);
    raise(SIGINT);
    assert_int_equal(loop_run_once(loop), 0);
    assert_string_equal(events, "left waits main@10 int");
}

#define VIRTUAL(f) cmocka_unit_test_setup_teardown(f, setup_virtual, teardown)
#define REAL(f) cmocka_unit_test_setup_teardown(f, setup_real, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        VIRTUAL(test_done_callbacks_run_once_in_order_through_the_loop),
        VIRTUAL(test_future_states),
        VIRTUAL(test_call_soon_order_and_iterations),
        VIRTUAL(test_timers_run_in_deadline_order),
        VIRTUAL(test_cancelled_timers_do_not_run),
        VIRTUAL(test_many_timers_keep_order),
        VIRTUAL(test_virtual_clock_jumps_to_the_next_timer),
        VIRTUAL(test_run_until_complete_and_stop),
        VIRTUAL(test_await_chain_through_three_coroutines),
        VIRTUAL(test_errors_propagate_up_the_chain),
        VIRTUAL(test_cancel_at_an_await_point),
        VIRTUAL(test_cancel_during_sleep),
        VIRTUAL(test_cancel_before_the_first_step),
        VIRTUAL(test_a_task_cancelled_during_its_own_step),
        VIRTUAL(test_a_task_awaits_a_task),
        VIRTUAL(test_a_bare_yield_lets_the_others_run),
        VIRTUAL(test_awaiting_a_done_future_goes_on_at_once),
        VIRTUAL(test_shutdown_cancels_every_task),
        VIRTUAL(test_gather_keeps_argument_order),
        VIRTUAL(test_gather_first_error_wins),
        VIRTUAL(test_cancelling_a_gather_cancels_its_children),
        VIRTUAL(test_gather_of_nothing_is_done),
        VIRTUAL(test_wait_for_times_out),
        VIRTUAL(test_wait_for_done_in_time),
        REAL(test_sock_recv),
        REAL(test_sock_sendall_1mib_to_a_slow_reader),
        REAL(test_sock_accept_and_connect),
        REAL(test_sock_connect_refused),
        REAL(test_a_cancelled_recv_stops_watching),
        REAL(test_a_reader_and_a_writer_share_one_fd),
        REAL(test_a_callback_removed_in_the_same_iteration_does_not_run),
        REAL(test_a_signal_just_before_the_wait_wakes_the_loop),
        REAL(test_a_signal_during_the_wait_is_not_an_error),
        REAL(test_ping_pong_keeps_the_registration),
        REAL(test_an_accepted_fd_reusing_a_closed_number_is_watched),
        VIRTUAL(test_run_cancels_what_main_leaves),
        VIRTUAL(test_ctrl_c_cancels_main),
    };
    return cmocka_run_group_tests_name("asyncio", tests, NULL, NULL);
}
