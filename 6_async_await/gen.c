/* The generator protocol: what next, send, throw and close do around a body
 * function, and how a delegating generator forwards them. */
#include "gen.h"

#include <stddef.h>

char gen_exhausted;

void gen_init(struct gen *g, int (*body)(struct gen *g))
{
    *g = (struct gen){ .state = GEN_CREATED, .body = body };
}

/* The heart of send and throw: resume g with a value or an error. */
static int gen_resume(struct gen *g, void *value, int err)
{
    int result;
    if (g->state == GEN_RUNNING) {
        g->error = GEN_REENTERED;
        return GEN_RAISED;
    }
    if (g->state == GEN_CLOSED) { /* finished: nothing more comes out */
        g->returned = NULL;
        g->error = err;
        return err ? GEN_RAISED : GEN_RETURNED;
    }
    g->state = GEN_RUNNING;
    for (;;) {
        /* Delegating (yield from): the value or error goes to the
         * sub-generator, and g's own body runs again only once it finished. */
        if (g->delegate) {
            struct gen *sub = g->delegate;
            result = err ? gen_throw(sub, err) : gen_send(sub, value);
            if (result == GEN_YIELDED) {
                g->yielded = sub->yielded;
                g->state = GEN_SUSPENDED;
                return GEN_YIELDED;
            }
            g->delegate = NULL;
            /* close() reaches g too, even if sub returned on GEN_EXIT (PEP 380). */
            if (result == GEN_RAISED || err != GEN_EXIT) {
                value = result == GEN_RETURNED ? sub->returned : NULL;
                err = result == GEN_RAISED ? sub->error : 0;
            }
        }
        g->sent = value;
        g->thrown = err;
        result = g->body(g);
        if (result != GEN_DELEGATING)
            break;
        value = NULL; /* yield from starts the sub-generator with next() */
        err = 0;
    }
    g->state = result == GEN_YIELDED ? GEN_SUSPENDED : GEN_CLOSED;
    return result;
}

int gen_send(struct gen *g, void *value)
{
    if (g->state == GEN_CREATED && value != NULL) {
        g->error = GEN_BAD_SEND; /* Python: "can't send non-None value to a just-started generator" */
        return GEN_RAISED;
    }
    return gen_resume(g, value, 0);
}

void *gen_next(struct gen *g)
{
    return gen_send(g, NULL) == GEN_YIELDED ? g->yielded : GEN_EXHAUSTED;
}

int gen_throw(struct gen *g, int err)
{
    if (g->state == GEN_CREATED) { /* never started: it cannot catch anything */
        g->state = GEN_CLOSED;
        g->error = err;
        return GEN_RAISED;
    }
    return gen_resume(g, NULL, err);
}

int gen_close(struct gen *g)
{
    int result;
    if (g->state == GEN_RUNNING)
        return GEN_REENTERED;
    if (g->state != GEN_SUSPENDED) {
        g->state = GEN_CLOSED;
        return 0;
    }
    result = gen_throw(g, GEN_EXIT);
    if (result == GEN_YIELDED) { /* it caught GEN_EXIT and went on */
        g->state = GEN_CLOSED;
        return GEN_IGNORED_EXIT;
    }
    if (result == GEN_RAISED && g->error != GEN_EXIT)
        return g->error;
    return 0;
}

struct gen *coro_start(struct gen *g)
{
    gen_send(g, NULL);
    return g;
}

enum gen_state gen_state(const struct gen *g)
{
    return g->state;
}

const char *gen_state_name(enum gen_state state)
{
    static const char *const names[] = { "GEN_CREATED", "GEN_SUSPENDED", "GEN_RUNNING", "GEN_CLOSED" };
    return names[state];
}
