/* The generator protocol: what next() does around a body function. */
#include "gen.h"

#include <stddef.h>

char gen_exhausted;

void gen_init(struct gen *g, int (*body)(struct gen *g))
{
    g->line = 0;
    g->state = GEN_CREATED;
    g->body = body;
    g->yielded = NULL;
}

void *gen_next(struct gen *g)
{
    /* A finished generator stays finished; a running one cannot be re-entered
     * (Python raises "generator already executing"). */
    if (g->state == GEN_CLOSED || g->state == GEN_RUNNING)
        return GEN_EXHAUSTED;
    g->state = GEN_RUNNING;
    if (g->body(g) == GEN_YIELDED) {
        g->state = GEN_SUSPENDED;
        return g->yielded;
    }
    g->state = GEN_CLOSED;
    return GEN_EXHAUSTED;
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
