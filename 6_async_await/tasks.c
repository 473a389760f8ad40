/* Tasks, after asyncio's Task: a task is a future that runs a coroutine. The
 * loop steps it: resume the coroutine with what it awaited, run it to its next
 * await, and sleep until that future is done. Then sleep, gather, wait_for and
 * run(), all made of futures and tasks. */
#define _POSIX_C_SOURCE 200809L
#include "loop_private.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static void task_step(void *arg);

static const char *name_of(const struct task *task)
{
    return task->name ? task->name : "(unnamed)";
}

const char *loop_current_name(const struct loop *loop)
{
    return loop->current ? name_of(loop->current) : "(no task)";
}

static void task_wakeup(struct fut *fut, void *arg)
{
    (void)fut;
    task_step(arg);
}

const char *fut_waiter_name(const struct fut *fut)
{
    return fut->ncallbacks > 0 && fut->first.fn == task_wakeup ? name_of(fut->first.arg) : NULL;
}

/* fut_cancel() on a task (from gather, wait_for, another task awaiting it):
 * only ask; the coroutine decides how the task ends. */
static int task_cancel_op(struct fut *fut)
{
    task_cancel((struct task *)fut);
    return 0;
}

struct task *aio_create_task(struct loop *loop, struct task *task, struct gen *coro)
{
    fut_init(&task->fut, loop);
    task->fut.cancel_op = task_cancel_op;
    task->coro = coro;
    task->waiting = NULL;
    task->must_cancel = 0;
    task->name = NULL;
    task->prev = NULL;
    task->next = loop->tasks;
    if (loop->tasks)
        loop->tasks->prev = task;
    loop->tasks = task;
    loop_call_soon(loop, task_step, task);
    return task;
}

int task_cancel(struct task *task)
{
    if (task->fut.state != FUT_PENDING)
        return 0;
    /* Waiting: cancelling what it awaits wakes it with ECANCELED. Otherwise its
     * next step is scheduled already: that step throws ECANCELED in. */
    if (task->waiting && fut_cancel(task->waiting))
        return 1;
    task->must_cancel = 1;
    return 1;
}

/* Resumes the coroutine with what it awaited: its result, or its error thrown
 * in (ECANCELED if the task was cancelled meanwhile). */
static int resume(struct task *task, struct fut *awaited)
{
    if (task->must_cancel) {
        task->must_cancel = 0;
        return gen_throw(task->coro, ECANCELED);
    }
    if (awaited && awaited->error)
        return gen_throw(task->coro, awaited->error);
    return gen_send(task->coro, awaited ? awaited->result : NULL);
}

static void task_end(struct task *task, int result)
{
    struct loop *loop = task->fut.loop;
    struct gen *coro = task->coro;
    if (task->prev)
        task->prev->next = task->next;
    else
        loop->tasks = task->next;
    if (task->next)
        task->next->prev = task->prev;
    if (result == GEN_RETURNED) {
        TRACE(loop, "task %s ends", name_of(task));
        fut_finish(&task->fut, FUT_DONE, coro->returned, 0);
    } else if (coro->error == ECANCELED) { /* not caught: the task is cancelled */
        TRACE(loop, "task %s is cancelled", name_of(task));
        fut_finish(&task->fut, FUT_CANCELLED, NULL, ECANCELED);
    } else {
        TRACE(loop, "task %s ends with an error (%s)", name_of(task),
              coro->error > 0 ? strerror(coro->error) : "a generator error");
        fut_finish(&task->fut, FUT_DONE, NULL, coro->error);
    }
}

/* One step: resume the coroutine and run it to an await of a future not done
 * yet (then sleep until it is) or to its end. A future done already does not
 * stop it: it goes on at once with that result, as Python's await does. */
static void task_step(void *arg)
{
    struct task *task = arg;
    struct loop *loop = task->fut.loop;
    struct fut *awaited = task->waiting;
    int result;
    task->waiting = NULL;
    loop->current = task;
    TRACE(loop, "task %s runs", name_of(task));
    while ((result = resume(task, awaited)) == GEN_YIELDED) {
        awaited = task->coro->yielded;
        if (!awaited) { /* a bare yield: let the others run, then go on (asyncio.sleep(0)) */
            loop_call_soon(loop, task_step, task);
            break;
        }
        if (!fut_done(awaited)) {
            task->waiting = awaited;
            fut_add_done_callback(awaited, task_wakeup, task);
            if (awaited->cancel_op == task_cancel_op)
                TRACE(loop, "task %s awaits task %s", name_of(task), name_of((struct task *)awaited));
            if (task->must_cancel && fut_cancel(awaited)) /* cancelled during this step */
                task->must_cancel = 0;
            break;
        }
    }
    loop->current = NULL;
    if (result != GEN_YIELDED)
        task_end(task, result);
}

/* ---- sleep, gather, wait_for ---- */

static void sleep_done(void *arg)
{
    struct fut *fut = arg;
    const char *waiter;
    if (fut->loop->trace && (waiter = fut_waiter_name(fut)))
        TRACE(fut->loop, "timer: sleep over, wakes task %s", waiter);
    fut_set_result(fut, NULL);
}

static int sleep_cancel(struct fut *fut)
{
    struct timer *t = fut->result; /* pending, so the timer has not run: still ours */
    loop_cancel_timer(fut->loop, (struct timer_handle){ t, t->seq });
    return 1;
}

struct fut *aio_sleep(struct loop *loop, struct fut *fut, long long ms)
{
    fut_init(fut, loop);
    TRACE(loop, "task %s sleeps %lld ms", loop_current_name(loop), ms);
    fut->result = loop_call_later(loop, ms, sleep_done, fut).timer;
    fut->cancel_op = sleep_cancel;
    return fut;
}

static void gather_child_done(struct fut *child, void *arg)
{
    struct gather_fut *g = arg;
    if (child->error && !g->error)
        g->error = child->error;
    if (--g->pending > 0)
        return;
    if (g->results)
        for (size_t i = 0; i < g->n; i++)
            g->results[i] = g->futs[i]->result;
    if (g->cancelling)
        fut_finish(&g->fut, FUT_CANCELLED, NULL, ECANCELED);
    else
        fut_finish(&g->fut, FUT_DONE, g->error ? NULL : g->results, g->error);
}

static int gather_cancel(struct fut *fut)
{
    struct gather_fut *g = (struct gather_fut *)fut;
    g->cancelling = 1;
    for (size_t i = 0; i < g->n; i++)
        fut_cancel(g->futs[i]);
    return 0; /* done when the children are */
}

struct fut *aio_gather(struct loop *loop, struct gather_fut *g, struct fut **futs, void **results, size_t n)
{
    fut_init(&g->fut, loop);
    g->futs = futs;
    g->results = results;
    g->n = g->pending = n;
    g->error = 0;
    g->cancelling = 0;
    TRACE(loop, "task %s gathers %zu futures", loop_current_name(loop), n);
    if (n == 0) {
        fut_set_result(&g->fut, results);
        return &g->fut;
    }
    g->fut.cancel_op = gather_cancel;
    for (size_t i = 0; i < n; i++)
        fut_add_done_callback(futs[i], gather_child_done, g);
    return &g->fut;
}

static void wait_for_inner_done(struct fut *inner, void *arg)
{
    struct wait_for_fut *w = arg;
    loop_cancel_timer(w->fut.loop, w->timer);
    if (w->timed_out)
        fut_finish(&w->fut, FUT_DONE, NULL, ETIMEDOUT);
    else if (inner->state == FUT_CANCELLED)
        fut_finish(&w->fut, FUT_CANCELLED, NULL, ECANCELED);
    else
        fut_finish(&w->fut, FUT_DONE, inner->result, inner->error);
}

static void wait_for_timeout(void *arg)
{
    struct wait_for_fut *w = arg;
    if (fut_done(w->inner)) /* finished in time; its callback is on its way */
        return;
    TRACE(w->fut.loop, "timer: time is up, cancels what task %s awaits",
          fut_waiter_name(&w->fut) ? fut_waiter_name(&w->fut) : "(none)");
    w->timed_out = 1;
    fut_cancel(w->inner);
}

static int wait_for_cancel(struct fut *fut)
{
    struct wait_for_fut *w = (struct wait_for_fut *)fut;
    loop_cancel_timer(fut->loop, w->timer);
    fut_cancel(w->inner);
    return 0; /* done when inner is */
}

struct fut *aio_wait_for(struct loop *loop, struct wait_for_fut *w, struct fut *inner, long long timeout_ms)
{
    fut_init(&w->fut, loop);
    w->inner = inner;
    w->timed_out = 0;
    /* Done already (a send the socket took whole, bytes that were there): so
     * is this, with no timer, and the task that awaits it goes on at once. */
    if (fut_done(inner)) {
        fut_finish(&w->fut, inner->state, inner->result, inner->error);
        return &w->fut;
    }
    w->timer = loop_call_later(loop, timeout_ms, wait_for_timeout, w);
    w->fut.cancel_op = wait_for_cancel;
    fut_add_done_callback(inner, wait_for_inner_done, w);
    return &w->fut;
}

/* ---- run ---- */

/* Ctrl-C or SIGTERM while main runs: what asyncio.run() does, cancel main. */
static void cancel_main(void *task)
{
    task_cancel(task);
}

int aio_run(struct loop *loop, struct gen *main)
{
    struct task task;
    int rc;
    if (loop_add_signal_handler(loop, SIGINT, cancel_main, &task) < 0 ||
        loop_add_signal_handler(loop, SIGTERM, cancel_main, &task) < 0)
        return -1;
    aio_create_task(loop, &task, main);
    task.name = "main";
    rc = loop_run_until_complete(loop, &task.fut);
    loop_remove_signal_handler(loop, SIGINT);
    loop_remove_signal_handler(loop, SIGTERM);
    /* What main leaves behind is cancelled, and runs until it has finished. */
    if (loop_shutdown(loop) < 0 || rc < 0)
        return -1;
    return task.fut.error;
}
