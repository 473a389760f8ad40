/* Unit tests of step 4's generators (4_generators/gen.h): their states, the
 * values they yield, the ground rules, a round robin's order, and the output
 * of the round_robin demo: `gen_test [ROUND_ROBIN_BINARY]`
 * (default 4_generators/round_robin). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gen.h"
#include "harness.h"

static const char *round_robin_binary = "4_generators/round_robin";

/* gen.h's example: yields n, n - 1, ..., 1 (a pointer to its counter). It also
 * notes how often its body ran and the state it saw from inside. */
struct countdown {
    struct gen gen;
    int n;
    int runs;
    enum gen_state inside;
    char name; /* for the round robin's trace */
};

static int countdown_body(struct gen *g)
{
    struct countdown *self = (struct countdown *)g;
    self->runs++;
    self->inside = gen_state(g);
    GEN_BEGIN(g);
    for (; self->n > 0; self->n--)
        GEN_YIELD(g, &self->n);
    GEN_END(g);
}

static struct gen *countdown(struct countdown *self, int n)
{
    memset(self, 0, sizeof *self);
    gen_init(&self->gen, countdown_body);
    self->n = n;
    return &self->gen;
}

/* Runs g to its next yield and returns the int it yields; fails if it is done. */
static int next_int(struct gen *g)
{
    int *value = gen_next(g);
    assert_true(value != GEN_EXHAUSTED);
    return *value;
}

/* --- states and values --- */

static void test_state_names(void **state)
{
    (void)state;
    assert_string_equal(gen_state_name(GEN_CREATED), "GEN_CREATED");
    assert_string_equal(gen_state_name(GEN_SUSPENDED), "GEN_SUSPENDED");
    assert_string_equal(gen_state_name(GEN_RUNNING), "GEN_RUNNING");
    assert_string_equal(gen_state_name(GEN_CLOSED), "GEN_CLOSED");
}

static void test_created_suspended_running_closed(void **state)
{
    struct countdown c;
    struct gen *g = countdown(&c, 1);
    (void)state;
    assert_int_equal(gen_state(g), GEN_CREATED);
    assert_int_equal(c.runs, 0); /* creating it runs nothing, as in Python */
    assert_int_equal(next_int(g), 1);
    assert_int_equal(c.inside, GEN_RUNNING);
    assert_int_equal(gen_state(g), GEN_SUSPENDED);
    c.inside = GEN_CREATED;
    assert_ptr_equal(gen_next(g), GEN_EXHAUSTED);
    assert_int_equal(c.inside, GEN_RUNNING);
    assert_int_equal(gen_state(g), GEN_CLOSED);
    assert_int_equal(c.runs, 2);
}

static void test_exhausted_stays_exhausted(void **state)
{
    struct countdown c;
    struct gen *g = countdown(&c, 1);
    (void)state;
    assert_int_equal(next_int(g), 1);
    for (int i = 0; i < 3; i++) {
        assert_ptr_equal(gen_next(g), GEN_EXHAUSTED);
        assert_int_equal(gen_state(g), GEN_CLOSED);
    }
    assert_int_equal(c.runs, 2); /* the body never runs again */
}

static void test_yields_nothing(void **state)
{
    struct countdown c;
    struct gen *g = countdown(&c, 0);
    (void)state;
    assert_ptr_equal(gen_next(g), GEN_EXHAUSTED);
    assert_int_equal(gen_state(g), GEN_CLOSED);
    assert_int_equal(c.runs, 1);
}

static void test_values_in_order(void **state)
{
    struct countdown c;
    struct gen *g = countdown(&c, 3);
    (void)state;
    assert_int_equal(next_int(g), 3);
    assert_int_equal(next_int(g), 2);
    assert_int_equal(next_int(g), 1);
    assert_ptr_equal(gen_next(g), GEN_EXHAUSTED);
}

/* NULL is a value like any other: only GEN_EXHAUSTED means the end. */
struct null_gen {
    struct gen gen;
};

static int null_body(struct gen *g)
{
    GEN_BEGIN(g);
    GEN_YIELD(g, NULL);
    GEN_END(g);
}

static void test_null_is_a_value(void **state)
{
    struct null_gen n;
    (void)state;
    gen_init(&n.gen, null_body);
    assert_null(gen_next(&n.gen));
    assert_int_equal(gen_state(&n.gen), GEN_SUSPENDED);
    assert_ptr_equal(gen_next(&n.gen), GEN_EXHAUSTED);
}

static void test_two_generators_of_one_body(void **state)
{
    struct countdown a, b;
    struct gen *ga = countdown(&a, 3), *gb = countdown(&b, 2);
    (void)state;
    assert_int_equal(next_int(ga), 3);
    assert_int_equal(next_int(gb), 2);
    assert_int_equal(next_int(ga), 2);
    assert_int_equal(next_int(gb), 1);
    assert_ptr_equal(gen_next(gb), GEN_EXHAUSTED);
    assert_int_equal(gen_state(ga), GEN_SUSPENDED); /* b's end is not a's */
    assert_int_equal(next_int(ga), 1);
    assert_ptr_equal(gen_next(ga), GEN_EXHAUSTED);
}

/* A body that resumes itself: Python raises "generator already executing";
 * here the inner gen_next() answers GEN_EXHAUSTED and changes nothing. */
struct reentrant {
    struct gen gen;
    void *inner;
};

static int reentrant_body(struct gen *g)
{
    struct reentrant *self = (struct reentrant *)g;
    GEN_BEGIN(g);
    self->inner = gen_next(g);
    GEN_YIELD(g, &self->inner);
    GEN_END(g);
}

static void test_running_generator_cannot_be_reentered(void **state)
{
    struct reentrant r;
    (void)state;
    gen_init(&r.gen, reentrant_body);
    assert_ptr_equal(gen_next(&r.gen), &r.inner);
    assert_ptr_equal(r.inner, GEN_EXHAUSTED);
    assert_int_equal(gen_state(&r.gen), GEN_SUSPENDED);
    assert_ptr_equal(gen_next(&r.gen), GEN_EXHAUSTED);
}

/* --- the ground rules (gen.h) ---
 * Two of them cannot be broken at run time, because the compiler refuses:
 * - two yields on one line make two `case __LINE__:` labels with the same
 *   value in one switch: "duplicate case value";
 * - a yield in a function the body calls puts its case label outside any
 *   switch: "case label not within a switch statement".
 * The other two compile, and are shown here. */

/* Counts its runs twice: in its frame, and in a local variable. */
struct counter {
    struct gen gen;
    int in_frame;
    int local_seen; /* the local's value, copied where the test can see it */
};

static int counter_body(struct gen *g)
{
    struct counter *self = (struct counter *)g;
    int in_local = 0; /* initialised at every call: the body returned at the yield */
    GEN_BEGIN(g);
    for (;;) {
        self->in_frame++;
        in_local++;
        self->local_seen = in_local;
        GEN_YIELD(g, &self->in_frame);
    }
    GEN_END(g);
}

static void test_locals_do_not_survive_a_yield(void **state)
{
    struct counter c = { 0 };
    (void)state;
    gen_init(&c.gen, counter_body);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(next_int(&c.gen), i); /* the frame counts: 1, 2, 3 */
        assert_int_equal(c.local_seen, 1);     /* the local starts over each time */
    }
}

/* gen.h's example: the loop's index in the frame survives every yield, as a
 * local declared after GEN_BEGIN would not (reading that one after a yield
 * would be undefined behaviour, so it is not a test). */
struct three {
    struct gen gen;
    int i;
};

static int three_body(struct gen *g)
{
    struct three *self = (struct three *)g;
    GEN_BEGIN(g);
    for (self->i = 0; self->i < 3; self->i++)
        GEN_YIELD(g, &self->i);
    GEN_END(g);
}

static void test_loop_index_in_the_frame_survives(void **state)
{
    struct three t;
    (void)state;
    gen_init(&t.gen, three_body);
    for (int i = 0; i < 3; i++)
        assert_int_equal(next_int(&t.gen), i);
    assert_ptr_equal(gen_next(&t.gen), GEN_EXHAUSTED);
}

/* Both mean to yield 1 then 2; one yields from inside a switch statement of
 * its own, the other from inside an if. */
struct one_two {
    struct gen gen;
    int which;
    int value;
};

static int in_switch_body(struct gen *g)
{
    struct one_two *self = (struct one_two *)g;
    GEN_BEGIN(g);
    switch (self->which) {
    case 1:
        self->value = 1;
        /* This yield's case label joins the switch above, not the
         * generator's: resuming finds no label for its line and skips
         * to the end. */
        GEN_YIELD(g, &self->value);
        self->value = 2;
        GEN_YIELD(g, &self->value);
        break;
    }
    GEN_END(g);
}

static int in_if_body(struct gen *g)
{
    struct one_two *self = (struct one_two *)g;
    GEN_BEGIN(g);
    if (self->which == 1) {
        self->value = 1;
        GEN_YIELD(g, &self->value);
        self->value = 2;
        GEN_YIELD(g, &self->value);
    }
    GEN_END(g);
}

static void test_yield_inside_a_switch_resumes_wrong(void **state)
{
    struct one_two in_if = { .which = 1 }, in_switch = { .which = 1 };
    (void)state;
    gen_init(&in_if.gen, in_if_body);
    assert_int_equal(next_int(&in_if.gen), 1);
    assert_int_equal(next_int(&in_if.gen), 2);
    assert_ptr_equal(gen_next(&in_if.gen), GEN_EXHAUSTED);
    gen_init(&in_switch.gen, in_switch_body);
    assert_int_equal(next_int(&in_switch.gen), 1);
    assert_ptr_equal(gen_next(&in_switch.gen), GEN_EXHAUSTED); /* 2 is never yielded */
}

/* --- round robin --- */

/* round_robin.c's loop: run the first task to its next yield, put it back at
 * the end unless it is done. Records each turn in trace: "B3" for a yield of 3,
 * "B." for the end. */
static void round_robin(struct countdown **tasks, int ntasks, char *trace, size_t size)
{
    size_t len = 0;
    trace[0] = '\0';
    while (ntasks > 0) {
        struct countdown *task = tasks[0];
        int *value = gen_next(&task->gen);
        memmove(tasks, tasks + 1, (size_t)(ntasks - 1) * sizeof *tasks);
        if (value == GEN_EXHAUSTED) {
            ntasks--;
            len += (size_t)snprintf(trace + len, size - len, "%s%c.", len ? " " : "", task->name);
        } else {
            tasks[ntasks - 1] = task;
            len += (size_t)snprintf(trace + len, size - len, "%s%c%d", len ? " " : "", task->name, *value);
        }
        assert_true(len < size);
    }
}

static void test_round_robin_of_three(void **state)
{
    struct countdown a, b, c;
    struct countdown *tasks[] = { &a, &b, &c };
    char trace[128];
    (void)state;
    countdown(&a, 1);
    countdown(&b, 3);
    countdown(&c, 2);
    a.name = 'A';
    b.name = 'B';
    c.name = 'C';
    round_robin(tasks, 3, trace, sizeof trace);
    assert_string_equal(trace, "A1 B3 C2 A. B2 C1 B1 C. B.");
}

/* What Python prints for the lesson's round robin of gen_of_str('any string')
 * and gen_of_num(11). */
static void test_round_robin_demo_output(void **state)
{
    static const char expected[] = "a\n0\nn\n1\ny\n2\n \n3\ns\n4\nt\n5\nr\n6\ni\n7\nn\n8\ng\n9\n10\n";
    char out[4096];
    int status = run_program(round_robin_binary, NULL, out, sizeof out);
    (void)state;
    if (status != 0 || strcmp(out, expected) != 0)
        fprintf(stderr, "# %s: exit %d, printed:\n%s", round_robin_binary, status, out);
    assert_int_equal(status, 0);
    assert_string_equal(out, expected);
}

/* The demo takes no arguments: -h explains, anything else is an error. */
static void test_round_robin_command_line(void **state)
{
    (void)state;
    assert_true(run_expect(round_robin_binary, "-h", 0, "usage:"));
    assert_true(run_expect(round_robin_binary, "--bogus", 2, "usage:"));
    assert_true(run_expect(round_robin_binary, "--bogus", 2, "takes no arguments: --bogus"));
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_created_suspended_running_closed),
        cmocka_unit_test(test_exhausted_stays_exhausted),
        cmocka_unit_test(test_yields_nothing),
        cmocka_unit_test(test_values_in_order),
        cmocka_unit_test(test_null_is_a_value),
        cmocka_unit_test(test_two_generators_of_one_body),
        cmocka_unit_test(test_running_generator_cannot_be_reentered),
        cmocka_unit_test(test_locals_do_not_survive_a_yield),
        cmocka_unit_test(test_loop_index_in_the_frame_survives),
        cmocka_unit_test(test_yield_inside_a_switch_resumes_wrong),
        cmocka_unit_test(test_round_robin_of_three),
        cmocka_unit_test(test_round_robin_demo_output),
        cmocka_unit_test(test_round_robin_command_line),
    };
    if (argc > 2) {
        fprintf(stderr, "usage: %s [ROUND_ROBIN_BINARY]\n", argv[0]);
        return 2;
    }
    if (argc == 2)
        round_robin_binary = argv[1];
    return cmocka_run_group_tests_name("generators", tests, NULL, NULL);
}
