/* Generators in C: a function that can pause (yield a value) and later resume
 * where it paused, as a Python generator does. Stackless: the generator's
 * frame is a struct that outlives each call, like Python's heap-allocated frame. */
#ifndef GEN_H
#define GEN_H

/* As inspect.getgeneratorstate() names them. */
enum gen_state { GEN_CREATED, GEN_SUSPENDED, GEN_RUNNING, GEN_CLOSED };

/* What a generator's body function returns to gen_next(). */
enum { GEN_YIELDED, GEN_RETURNED };

struct gen {
    int line;                    /* where to resume: the line of the last yield, 0 = the start */
    enum gen_state state;
    int (*body)(struct gen *g);  /* runs from `line` to the next yield or the end */
    void *yielded;               /* the value of the last yield */
};

/* What gen_next() returns once the generator has finished: Python's next()
 * raising StopIteration out of a finished generator. */
extern char gen_exhausted;
#define GEN_EXHAUSTED ((void *)&gen_exhausted)

/* A generator is a struct whose first member is a struct gen, followed by the
 * variables that must survive a yield (the frame), and a body function:
 *
 *     struct countdown { struct gen gen; int n; };
 *
 *     static int countdown_body(struct gen *g)
 *     {
 *         struct countdown *self = (struct countdown *)g;
 *         GEN_BEGIN(g);
 *         for (; self->n > 0; self->n--)
 *             GEN_YIELD(g, &self->n);
 *         GEN_END(g);
 *     }
 *
 * The macros turn the body into a switch on the saved line: GEN_YIELD records
 * its line and returns; the next call jumps to the case label on that line
 * (Simon Tatham's "Coroutines in C", protothreads' local continuations).
 *
 * Ground rules, all consequences of that switch:
 * - Keep in the frame (self->...) every variable whose value must survive a
 *   yield: the body function returns at each yield, so its locals are gone
 *   when it resumes. A local declared after GEN_BEGIN is the trap: resuming
 *   jumps past its initialisation, so after a yield it holds garbage (gcc at
 *   -O0 often happens to keep the old value; at -O2 it does not):
 *
 *       GEN_BEGIN(g);
 *       for (int i = 0; i < 3; i++)    wrong: i is garbage after the yield
 *           GEN_YIELD(g, NULL);
 *
 *       GEN_BEGIN(g);
 *       for (self->i = 0; self->i < 3; self->i++)    right: i is in the frame
 *           GEN_YIELD(g, &self->i);
 *
 *   A local is fine for what is used only between two yields (a buffer read
 *   and counted before the next one).
 * - Never yield inside a switch statement of your own: its case labels would
 *   mix with the generator's (the compiler accepts it, and it resumes wrong).
 * - One yield per line: the line number is the resume point.
 * - Yield only in the body itself, not in a function it calls: only the body's
 *   switch can resume. (Step 5's "yield from" delegates to another generator.)
 */
#define GEN_BEGIN(g) switch ((g)->line) { case 0:

#define GEN_YIELD(g, value)                                                    \
    do {                                                                       \
        (g)->yielded = (value);                                                \
        (g)->line = __LINE__;                                                  \
        return GEN_YIELDED;                                                    \
    case __LINE__:;                                                            \
    } while (0)

#define GEN_END(g)                                                             \
    }                                                                          \
    return GEN_RETURNED

/* Prepares g (state CREATED) to run body from its start. */
void gen_init(struct gen *g, int (*body)(struct gen *g));
/* Runs g to its next yield and returns the yielded value, or GEN_EXHAUSTED
 * once the body has returned (then g is CLOSED). */
void *gen_next(struct gen *g);
enum gen_state gen_state(const struct gen *g);
/* "GEN_CREATED", "GEN_SUSPENDED", "GEN_RUNNING" or "GEN_CLOSED". */
const char *gen_state_name(enum gen_state state);

#endif
