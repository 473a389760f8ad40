/* Coroutines in C: generators that also receive values (send), errors (throw)
 * and a request to finish (close), return a value, and delegate to another
 * generator (yield from), as Python's generators do. Stackless: the generator's
 * frame is a struct that outlives each call, like Python's heap-allocated frame. */
#ifndef GEN_H
#define GEN_H

/* As inspect.getgeneratorstate() names them. */
enum gen_state { GEN_CREATED, GEN_SUSPENDED, GEN_RUNNING, GEN_CLOSED };

/* What a generator's body function returns, and how send, throw and next end:
 * the generator yielded a value, returned one (Python's StopIteration.value),
 * or raised an error. (GEN_DELEGATING: GEN_YIELD_FROM asks gen_send() to run
 * the sub-generator; only the body ever returns it.) */
enum { GEN_YIELDED, GEN_RETURNED, GEN_RAISED, GEN_DELEGATING };

/* Errors are ints: a positive errno value (ECONNRESET, ...) or one of these. */
enum {
    GEN_EXIT = -1,        /* GeneratorExit: close() asks the generator to finish */
    GEN_STOP = -2,        /* thrown in to ask a generator to stop (the lesson's
                             throw(StopIteration)); it may catch it and return */
    GEN_BAD_SEND = -3,    /* TypeError: a value sent to a generator not started yet */
    GEN_IGNORED_EXIT = -4, /* RuntimeError: the generator yielded after close() */
    GEN_REENTERED = -5     /* ValueError: resumed from inside itself ("already executing") */
};

struct gen {
    int line;                    /* where to resume: the line of the last yield, 0 = the start */
    enum gen_state state;
    int (*body)(struct gen *g);  /* runs from `line` to the next yield or the end */
    void *yielded;               /* the value of the last yield */
    void *sent;                  /* what the paused yield evaluates to: the value sent in, or
                                    the return value of the generator delegated to */
    int thrown;                  /* the error thrown in at the paused yield, 0 if none */
    void *returned;              /* the return value, once finished */
    int error;                   /* the error it raised, once finished that way */
    struct gen *delegate;        /* the generator it delegates to (yield from), or NULL */
};

/* What gen_next() returns once the generator has finished: Python's next()
 * raising StopIteration out of a finished generator. It comes out; GEN_STOP,
 * an error, is thrown in. */
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
 *   switch can resume. To pause inside another generator, delegate to it with
 *   GEN_YIELD_FROM.
 * - A generator delegated to lives in the frame too (a member of the
 *   delegator's struct, not a local): it must outlive every yield it makes.
 * - (g)->sent is borrowed: it points at the sender's value, which is valid
 *   only until the body yields again. Copy into the frame what must last.
 * - There is no finally: GEN_YIELD and GEN_YIELD_FROM raise a thrown error on
 *   by returning from the body at once, so nothing after them runs. Cleanup
 *   that must run however the body ends goes after a GEN_YIELD_CATCH or
 *   GEN_YIELD_FROM_CATCH, which leave the error in (g)->thrown to look at.
 */
#define GEN_BEGIN(g) switch ((g)->line) { case 0:

/* Yields value; resumes with (g)->sent holding what was sent in. An error
 * thrown in at this yield is raised on, out of the generator. */
#define GEN_YIELD(g, value)                                                    \
    do {                                                                       \
        GEN_YIELD_CATCH(g, value);                                             \
        if ((g)->thrown)                                                       \
            GEN_RAISE(g, (g)->thrown);                                         \
    } while (0)

/* Like GEN_YIELD, but an error thrown in is left in (g)->thrown for the body to
 * handle (Python's try/except around the yield). */
#define GEN_YIELD_CATCH(g, value)                                              \
    do {                                                                       \
        (g)->yielded = (value);                                                \
        (g)->line = __LINE__;                                                  \
        return GEN_YIELDED;                                                    \
    case __LINE__:;                                                            \
    } while (0)

/* Python's `yield from sub`: runs sub to its end, passing its yields out and
 * every send and throw in; resumes with (g)->sent holding sub's return value.
 * An error sub raises is raised on, out of the generator. */
#define GEN_YIELD_FROM(g, sub)                                                 \
    do {                                                                       \
        GEN_YIELD_FROM_CATCH(g, sub);                                          \
        if ((g)->thrown)                                                       \
            GEN_RAISE(g, (g)->thrown);                                         \
    } while (0)

/* Like GEN_YIELD_FROM, but sub's error is left in (g)->thrown. */
#define GEN_YIELD_FROM_CATCH(g, sub)                                           \
    do {                                                                       \
        (g)->delegate = (sub);                                                 \
        (g)->line = __LINE__;                                                  \
        return GEN_DELEGATING;                                                 \
    case __LINE__:;                                                            \
    } while (0)

/* Finishes the generator with a return value (Python's `return value`). */
#define GEN_RETURN(g, value)                                                   \
    do {                                                                       \
        (g)->returned = (value);                                               \
        return GEN_RETURNED;                                                   \
    } while (0)

/* Finishes the generator with an error (Python's `raise`). */
#define GEN_RAISE(g, err)                                                      \
    do {                                                                       \
        (g)->error = (err);                                                    \
        return GEN_RAISED;                                                     \
    } while (0)

/* The end of the body: falling off it returns NULL (Python's None). */
#define GEN_END(g)                                                             \
    }                                                                          \
    GEN_RETURN(g, NULL)

/* Prepares g (state CREATED) to run body from its start. */
void gen_init(struct gen *g, int (*body)(struct gen *g));
/* Runs g to its next yield and returns the yielded value, or GEN_EXHAUSTED
 * once it has finished (then g is CLOSED): Python's next(g), or send(None). */
void *gen_next(struct gen *g);
/* Resumes g with value as the result of its paused yield (NULL starts a new
 * generator; anything else then is GEN_BAD_SEND). Returns GEN_YIELDED (value
 * in g->yielded), GEN_RETURNED (g->returned) or GEN_RAISED (g->error). */
int gen_send(struct gen *g, void *value);
/* Raises err at g's paused yield, with the same results as gen_send. A
 * generator not started yet is closed and err comes straight back. */
int gen_throw(struct gen *g, int err);
/* Throws GEN_EXIT so the generator can clean up, and closes it. Returns 0, or
 * the error it raised instead (GEN_IGNORED_EXIT if it yielded again), or
 * GEN_REENTERED if it is running. */
int gen_close(struct gen *g);
/* Starts g (sends NULL) so it waits at its first yield, ready for values:
 * the lesson's @coroutine decorator. Returns g. */
struct gen *coro_start(struct gen *g);
enum gen_state gen_state(const struct gen *g);
/* "GEN_CREATED", "GEN_SUSPENDED", "GEN_RUNNING" or "GEN_CLOSED". */
const char *gen_state_name(enum gen_state state);

#endif
