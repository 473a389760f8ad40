/* Step 5's delegation demo: a delegating coroutine hands what it is sent, and
 * the errors thrown into it, to a sub-coroutine: first by hand, then with
 * `yield from` (GEN_YIELD_FROM), which does the same in one line.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o delegation delegation.c gen.c */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "gen.h"

/* An error of our own: the lesson's `class BlaBlaException(Exception)`. */
enum { BLABLA_ERROR = -100 };

/* subgen(): prints every message it is sent; catches BlaBlaException and goes
 * on; StopIteration ends it, and it returns 'Returned from subgen()'. */
static int subgen_body(struct gen *g)
{
    GEN_BEGIN(g);
    for (;;) {
        GEN_YIELD_CATCH(g, NULL); /* message = yield */
        if (g->thrown == BLABLA_ERROR) {
            printf("Ku-ku!!! subgen caught BlaBlaException\n");
        } else if (g->thrown == GEN_STOP) {
            printf("Ku-ku!!! subgen caught StopIteration: no more messages\n");
            break;
        } else if (g->thrown) {
            GEN_RAISE(g, g->thrown);
        } else {
            printf("Subgen received: %s\n", g->sent ? (const char *)g->sent : "None");
        }
    }
    GEN_RETURN(g, "Returned from subgen()");
    GEN_END(g);
}

struct delegator {
    struct gen gen;
    struct gen *sub; /* the lesson's g */
};

/* By hand: while True: try: data = yield; g.send(data)
 *                      except Exception as e: g.throw(e)
 * and, once g has finished, its return value to look for ourselves. */
static int delegator_by_hand_body(struct gen *g)
{
    struct delegator *self = (struct delegator *)g;
    int result;
    GEN_BEGIN(g);
    for (;;) {
        GEN_YIELD_CATCH(g, NULL); /* data = yield */
        if (g->thrown)
            result = gen_throw(self->sub, g->thrown); /* g.throw(e) */
        else
            result = gen_send(self->sub, g->sent); /* g.send(data) */
        if (result == GEN_RAISED)
            GEN_RAISE(g, self->sub->error);
        if (result == GEN_RETURNED)
            break;
    }
    printf("%s\n", (const char *)self->sub->returned); /* print(result) */
    GEN_END(g);
}

/* With yield from: result = yield from g; print(result). It also starts g,
 * and passes g's yields out (here: None). */
static int delegator_body(struct gen *g)
{
    struct delegator *self = (struct delegator *)g;
    GEN_BEGIN(g);
    GEN_YIELD_FROM(g, self->sub);
    printf("%s\n", (const char *)g->sent); /* print(result) */
    GEN_END(g);
}

static void print_states(const struct delegator *d)
{
    printf("delegator: %s, subgen: %s\n", gen_state_name(gen_state(&d->gen)),
           gen_state_name(gen_state(d->sub)));
}

/* Once the delegator has finished, the states of both. */
static void report(struct delegator *d, int result)
{
    if (result != GEN_YIELDED)
        print_states(d);
}

static void send_message(struct delegator *d, char *message)
{
    printf("> send '%s'\n", message);
    report(d, gen_send(&d->gen, message));
}

static void throw_error(struct delegator *d, int err, const char *name)
{
    printf("> throw %s\n", name);
    report(d, gen_throw(&d->gen, err));
}

/* The lesson's session, the same for both delegators. */
static void session(struct delegator *d)
{
    print_states(d);
    send_message(d, "OK");
    throw_error(d, BLABLA_ERROR, "BlaBlaException");
    send_message(d, "hello");
    throw_error(d, GEN_STOP, "StopIteration");
}

int main(int argc, char **argv)
{
    if (argc > 1) { /* no options: the demo always does the same */
        int help = strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0;
        if (!help)
            fprintf(stderr, "%s: takes no arguments: %s\n", argv[0], argv[1]);
        fprintf(help ? stdout : stderr, "usage: %s\n  %s\n", argv[0], "the lesson's delegation demo, by hand and with yield from");
        return help ? 0 : 2;
    }
    struct gen sub;
    struct delegator d;

    printf("1. By hand: data = yield; g.send(data), and g.throw(e) for errors\n");
    gen_init(&sub, subgen_body);
    gen_init(&d.gen, delegator_by_hand_body);
    d.sub = coro_start(&sub); /* both need the @coroutine decorator */
    coro_start(&d.gen);
    session(&d);

    printf("\n2. With yield from: result = yield from g\n");
    gen_init(&sub, subgen_body);
    gen_init(&d.gen, delegator_body);
    d.sub = &sub;
    printf("subgen: %s (not primed: yield from starts it)\n", gen_state_name(gen_state(&sub)));
    coro_start(&d.gen);
    session(&d);
    return 0;
}
