/* Futures, after asyncio's Future: a result that will exist later. Whoever
 * finishes one (a timer, an fd ready, a task ending) sets its result or error;
 * the loop then runs its done callbacks, such as the task that awaits it. */
#define _POSIX_C_SOURCE 200809L
#include "loop_private.h"

#include <errno.h>
#include <stdlib.h>

void fut_init(struct fut *fut, struct loop *loop)
{
    *fut = (struct fut){ .loop = loop, .state = FUT_PENDING };
}

int fut_done(const struct fut *fut)
{
    return fut->state != FUT_PENDING;
}

int fut_cancelled(const struct fut *fut)
{
    return fut->state == FUT_CANCELLED;
}

static void schedule(struct fut *fut, struct fut_waiter w)
{
    loop_push_call(fut->loop, (struct call){ .kind = CALL_DONE, .done = w.fn, .fut = fut, .arg = w.arg });
}

/* Every way a future ends: its callbacks are queued, never called from here,
 * so whoever finishes a future never finds its own code re-entered. */
int fut_finish(struct fut *fut, enum fut_state state, void *result, int error)
{
    if (fut->state != FUT_PENDING)
        return -1; /* asyncio's InvalidStateError */
    fut->state = state;
    fut->result = result;
    fut->error = error;
    fut->cancel_op = NULL;
    if (fut->ncallbacks > 0)
        schedule(fut, fut->first);
    for (int i = 1; i < fut->ncallbacks; i++)
        schedule(fut, fut->more[i - 1]);
    fut->ncallbacks = 0;
    free(fut->more);
    fut->more = NULL;
    fut->nmore = 0;
    return 0;
}

int fut_set_result(struct fut *fut, void *result)
{
    return fut_finish(fut, FUT_DONE, result, 0);
}

int fut_set_error(struct fut *fut, int error)
{
    return error ? fut_finish(fut, FUT_DONE, NULL, error) : -1;
}

int fut_cancel(struct fut *fut)
{
    if (fut->state != FUT_PENDING)
        return 0;
    if (fut->cancel_op && !fut->cancel_op(fut))
        return 1; /* the operation finishes it itself, later */
    fut_finish(fut, FUT_CANCELLED, NULL, ECANCELED);
    return 1;
}

void fut_add_done_callback(struct fut *fut, fut_callback *fn, void *arg)
{
    struct fut_waiter w = { fn, arg };
    int i = fut->ncallbacks - 1;
    if (fut->state != FUT_PENDING) {
        schedule(fut, w);
        return;
    }
    if (i < 0) {
        fut->first = w;
        fut->ncallbacks = 1;
        return;
    }
    if (i == fut->nmore) { /* the rare second waiter: a gather, a closing callback */
        fut->nmore = fut->nmore ? fut->nmore * 2 : 4;
        fut->more = loop_xrealloc(fut->more, (size_t)fut->nmore, sizeof *fut->more);
    }
    fut->more[i] = w;
    fut->ncallbacks++;
}
