/* Step 6's runtime, after Python's asyncio: an event loop running ready callbacks,
 * timers and I/O callbacks; futures; tasks that step coroutines to their awaits. */
#define _POSIX_C_SOURCE 200809L
#include "asyncio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "selector.h"

#define MAX_EVENTS 256
#define MAX_SIGNALS 8
#define TRACE(loop, ...)                                                       \
    do {                                                                       \
        if ((loop)->trace)                                                     \
            (loop)->trace(__VA_ARGS__);                                        \
    } while (0)

/* One entry of the ready queue (asyncio's Handle). An fd's readiness is queued
 * as (fd, events), and its reader or writer looked up only when it runs: an
 * earlier callback of the same iteration may have removed or replaced it. */
struct call {
    enum { CALL_SOON, CALL_DONE, CALL_TIMER, CALL_IO } kind;
    int fd, events;     /* CALL_IO */
    loop_callback *fn;  /* CALL_SOON */
    fut_callback *done; /* CALL_DONE: done(fut, arg) */
    struct fut *fut;
    void *arg;          /* CALL_TIMER: the struct timer */
};

/* A timer lives in the heap until due, then in the ready queue until it runs;
 * its node is then recycled, so sleeping allocates nothing once warmed up. */
struct timer {
    long long when;
    unsigned long long seq; /* call order: breaks ties between equal deadlines; 0 once recycled */
    loop_callback *fn;      /* NULL: cancelled while queued to run */
    void *arg;
    size_t pos;             /* index in the heap, or NOT_IN_HEAP */
    struct timer *next_free;
};
#define NOT_IN_HEAP ((size_t)-1)

/* What the loop watches one fd for: [0] its reader, [1] its writer. since[]:
 * the iteration that set it. The selector reported that iteration's events
 * before it was set, so they are not its events (they might be a closed fd's,
 * whose number was reused): they are dropped, and a level-triggered selector
 * reports the fd again next time if it is still ready. */
struct watch {
    loop_callback *fn[2];
    void *arg[2];
    unsigned long long since[2];
};

struct loop {
    struct selector *sel;
    struct watch *watches;   /* indexed by fd */
    int nwatches;
    struct call *ready;      /* FIFO ring buffer of callbacks to run */
    size_t head, count, cap;
    struct timer **heap;     /* binary min-heap: heap[0] is due first */
    size_t ntimers, heap_cap;
    struct timer *free_timers;
    unsigned long long seq, iteration;
    int virtual_clock, stopping;
    long long virtual_now;
    struct task *tasks;      /* every pending task */
    int wakeup[2];           /* the self-pipe signals write to, or -1 */
    struct { int sig; loop_callback *fn; void *arg; } signals[MAX_SIGNALS];
    int nsignals;
    void (*trace)(const char *fmt, ...);
    struct sel_event events[MAX_EVENTS];
};

/* Without memory the loop cannot keep a promise (a callback it was asked to run,
 * a timer): it says so and exits rather than silently dropping one. */
static void *xrealloc(void *p, size_t n, size_t size)
{
    p = realloc(p, n * size);
    if (!p) {
        fputs("asyncio: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

/* ---- the ready queue ---- */

static void push_call(struct loop *loop, struct call call)
{
    if (loop->count == loop->cap) { /* full: double it, unwrapping the ring */
        size_t cap = loop->cap ? loop->cap * 2 : 64;
        struct call *ready = xrealloc(NULL, cap, sizeof *ready);
        for (size_t i = 0; i < loop->count; i++)
            ready[i] = loop->ready[(loop->head + i) % loop->cap];
        free(loop->ready);
        loop->ready = ready;
        loop->cap = cap;
        loop->head = 0;
    }
    loop->ready[(loop->head + loop->count++) % loop->cap] = call;
}

static struct call pop_call(struct loop *loop)
{
    struct call call = loop->ready[loop->head];
    loop->head = (loop->head + 1) % loop->cap;
    loop->count--;
    return call;
}

void loop_call_soon(struct loop *loop, loop_callback *fn, void *arg)
{
    push_call(loop, (struct call){ .kind = CALL_SOON, .fn = fn, .arg = arg });
}

/* ---- the clock and timers ---- */

long long loop_time(const struct loop *loop)
{
    struct timespec ts;
    if (loop->virtual_clock)
        return loop->virtual_now;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void loop_use_virtual_clock(struct loop *loop)
{
    loop->virtual_clock = 1;
    loop->virtual_now = 0;
}

static int earlier(const struct timer *a, const struct timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

static void heap_put(struct loop *loop, size_t i, struct timer *t)
{
    loop->heap[i] = t;
    t->pos = i;
}

/* Move heap[i] up while it is due before its parent, then down while a child
 * is due before it: after any change at i, one of the two restores the order. */
static void heap_fix(struct loop *loop, size_t i)
{
    struct timer *t = loop->heap[i];
    while (i > 0 && earlier(t, loop->heap[(i - 1) / 2])) {
        heap_put(loop, i, loop->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= loop->ntimers)
            break;
        if (child + 1 < loop->ntimers && earlier(loop->heap[child + 1], loop->heap[child]))
            child++;
        if (!earlier(loop->heap[child], t))
            break;
        heap_put(loop, i, loop->heap[child]);
        i = child;
    }
    heap_put(loop, i, t);
}

static void heap_remove(struct loop *loop, struct timer *t)
{
    size_t i = t->pos;
    struct timer *last = loop->heap[--loop->ntimers];
    t->pos = NOT_IN_HEAP;
    if (last != t) {
        heap_put(loop, i, last);
        heap_fix(loop, i);
    }
}

static void recycle_timer(struct loop *loop, struct timer *t)
{
    t->seq = 0; /* old handles no longer match */
    t->next_free = loop->free_timers;
    loop->free_timers = t;
}

struct timer_handle loop_call_later(struct loop *loop, long long delay_ms, loop_callback *fn, void *arg)
{
    struct timer *t = loop->free_timers;
    if (t)
        loop->free_timers = t->next_free;
    else
        t = xrealloc(NULL, 1, sizeof *t);
    if (loop->ntimers == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
        loop->heap = xrealloc(loop->heap, loop->heap_cap, sizeof *loop->heap);
    }
    *t = (struct timer){ .when = loop_time(loop) + (delay_ms > 0 ? delay_ms : 0), .seq = ++loop->seq,
                         .fn = fn, .arg = arg };
    heap_put(loop, loop->ntimers++, t);
    heap_fix(loop, t->pos);
    return (struct timer_handle){ t, t->seq };
}

int loop_cancel_timer(struct loop *loop, struct timer_handle handle)
{
    struct timer *t = handle.timer;
    if (!t || t->seq != handle.seq || !t->fn)
        return 0;
    if (t->pos != NOT_IN_HEAP) {
        heap_remove(loop, t);
        recycle_timer(loop, t);
    } else {
        t->fn = NULL; /* due and queued already: it will not run */
    }
    return 1;
}

/* ---- watching fds ---- */

static int watched_events(const struct watch *w)
{
    return (w->fn[0] ? SEL_READ : 0) | (w->fn[1] ? SEL_WRITE : 0);
}

/* The selector's callback: queue the fd's readiness to run with the others. */
static void fd_ready(struct selector *sel, int fd, int events, void *data)
{
    (void)sel;
    push_call(data, (struct call){ .kind = CALL_IO, .fd = fd, .events = events });
}

/* Sets (fn) or clears (NULL) fd's reader (which 0) or writer (which 1), and
 * makes the fd's one selector key wait for the union of the two. */
static int set_watch(struct loop *loop, int fd, int which, loop_callback *fn, void *arg)
{
    struct watch *w, saved;
    int old, now, rc;
    if (fd < 0) {
        errno = EINVAL;
        return -1;
    }
    if (fd >= loop->nwatches) {
        int n = loop->nwatches ? loop->nwatches : 64;
        while (n <= fd)
            n *= 2;
        loop->watches = xrealloc(loop->watches, (size_t)n, sizeof *loop->watches);
        memset(loop->watches + loop->nwatches, 0, (size_t)(n - loop->nwatches) * sizeof *loop->watches);
        loop->nwatches = n;
    }
    w = &loop->watches[fd];
    saved = *w;
    old = watched_events(w);
    w->fn[which] = fn;
    w->arg[which] = arg;
    w->since[which] = loop->iteration;
    now = watched_events(w);
    if (now == old)
        rc = 0;
    else if (old == 0)
        rc = sel_register(loop->sel, fd, now, fd_ready, loop);
    else if (now == 0)
        rc = sel_unregister(loop->sel, fd);
    else
        rc = sel_modify(loop->sel, fd, now, fd_ready, loop);
    if (rc < 0)
        *w = saved;
    return rc;
}

int loop_add_reader(struct loop *loop, int fd, loop_callback *fn, void *arg)
{
    return set_watch(loop, fd, 0, fn, arg);
}

int loop_add_writer(struct loop *loop, int fd, loop_callback *fn, void *arg)
{
    return set_watch(loop, fd, 1, fn, arg);
}

static int clear_watch(struct loop *loop, int fd, int which)
{
    if (fd < 0 || fd >= loop->nwatches || !loop->watches[fd].fn[which])
        return 0;
    set_watch(loop, fd, which, NULL, NULL);
    return 1;
}

int loop_remove_reader(struct loop *loop, int fd)
{
    return clear_watch(loop, fd, 0);
}

int loop_remove_writer(struct loop *loop, int fd)
{
    return clear_watch(loop, fd, 1);
}

/* ---- the loop ---- */

struct loop *loop_create(void)
{
    struct loop *loop = calloc(1, sizeof *loop);
    if (loop && !(loop->sel = sel_create())) {
        free(loop);
        return NULL;
    }
    if (loop)
        loop->wakeup[0] = loop->wakeup[1] = -1;
    return loop;
}

/* ---- signals ---- */

/* A signal handler may interrupt anything, so it only does what is safe there:
 * write the signal's number to the self-pipe. The loop reads it like any fd. */
static int signal_pipe = -1; /* its write end: a handler knows no loop */

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char byte = (unsigned char)sig;
    ssize_t n = write(signal_pipe, &byte, 1); /* full pipe: that signal is pending already */
    (void)n;
    errno = saved;
}

/* The self-pipe's reader: run the handlers of the signals that arrived. */
static void read_signals(void *arg)
{
    struct loop *loop = arg;
    unsigned char sigs[64];
    ssize_t n;
    while ((n = read(loop->wakeup[0], sigs, sizeof sigs)) > 0)
        for (ssize_t i = 0; i < n; i++)
            for (int k = 0; k < loop->nsignals; k++)
                if (loop->signals[k].sig == sigs[i])
                    loop->signals[k].fn(loop->signals[k].arg);
}

int loop_add_signal_handler(struct loop *loop, int sig, loop_callback *fn, void *arg)
{
    struct sigaction sa;
    int k = 0;
    while (k < loop->nsignals && loop->signals[k].sig != sig)
        k++;
    if (k == MAX_SIGNALS || sig <= 0 || sig > UCHAR_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (loop->wakeup[0] < 0) {
        if (pipe(loop->wakeup) < 0)
            return -1;
        for (int i = 0; i < 2; i++) {
            fcntl(loop->wakeup[i], F_SETFL, fcntl(loop->wakeup[i], F_GETFL) | O_NONBLOCK);
            fcntl(loop->wakeup[i], F_SETFD, FD_CLOEXEC);
        }
        if (loop_add_reader(loop, loop->wakeup[0], read_signals, loop) < 0)
            return -1;
        signal_pipe = loop->wakeup[1];
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* the pipe wakes the loop; other calls may go on */
    if (sigaction(sig, &sa, NULL) < 0)
        return -1;
    loop->signals[k].sig = sig;
    loop->signals[k].fn = fn;
    loop->signals[k].arg = arg;
    if (k == loop->nsignals)
        loop->nsignals++;
    return 0;
}

void loop_close(struct loop *loop)
{
    struct timer *t;
    if (!loop)
        return;
    for (int k = 0; k < loop->nsignals; k++)
        signal(loop->signals[k].sig, SIG_DFL);
    if (loop->wakeup[0] >= 0) {
        signal_pipe = -1;
        close(loop->wakeup[0]);
        close(loop->wakeup[1]);
    }
    while (loop->count) {
        struct call call = pop_call(loop);
        if (call.kind == CALL_TIMER)
            free(call.arg);
    }
    for (size_t i = 0; i < loop->ntimers; i++)
        free(loop->heap[i]);
    while ((t = loop->free_timers)) {
        loop->free_timers = t->next_free;
        free(t);
    }
    free(loop->heap);
    free(loop->ready);
    free(loop->watches);
    sel_close(loop->sel);
    free(loop);
}

void loop_set_trace(struct loop *loop, void (*trace)(const char *fmt, ...))
{
    loop->trace = trace;
}

void loop_stop(struct loop *loop)
{
    loop->stopping = 1;
}

/* How long the selector may wait: not at all if a callback is ready, until
 * the next timer if there is one, else until an fd is ready (-1). */
static int select_timeout(struct loop *loop)
{
    long long wait;
    if (loop->count || loop->stopping)
        return 0;
    if (!loop->ntimers)
        return -1;
    wait = loop->heap[0]->when - loop_time(loop);
    return wait <= 0 ? 0 : wait > INT_MAX ? INT_MAX : (int)wait;
}

static void run_call(struct loop *loop, struct call call)
{
    static const char *const names[] = { "", "read", "write", "read+write" };
    struct watch *w;
    struct timer *t;
    loop_callback *fn;
    switch (call.kind) {
    case CALL_SOON:
        call.fn(call.arg);
        break;
    case CALL_DONE:
        call.done(call.fut, call.arg);
        break;
    case CALL_TIMER: /* recycled first, so its callback may schedule timers with it */
        t = call.arg;
        fn = t->fn;
        recycle_timer(loop, t);
        if (fn)
            fn(t->arg);
        break;
    case CALL_IO:
        TRACE(loop, "fd %d ready to %s: calling back", call.fd, names[call.events & 3]);
        for (int which = 0; which < 2; which++) {
            if (!(call.events & (which ? SEL_WRITE : SEL_READ)) || call.fd >= loop->nwatches)
                continue;
            w = &loop->watches[call.fd]; /* again: the reader may have changed the table */
            if (w->fn[which] && w->since[which] < loop->iteration)
                w->fn[which](w->arg[which]);
        }
        break;
    }
}

int loop_run_once(struct loop *loop)
{
    int timeout = select_timeout(loop), n;
    long long now;
    size_t todo;
    loop->iteration++;
    if (timeout < 0)
        TRACE(loop, "select(): waiting");
    else
        TRACE(loop, "select(): waiting up to %d ms", timeout);
    /* A virtual clock never waits for time to pass: it jumps to the timer. */
    n = sel_select(loop->sel, loop->events, MAX_EVENTS, loop->virtual_clock && timeout > 0 ? 0 : timeout);
    if (n < 0)
        return -1;
    if (loop->virtual_clock && n == 0 && timeout > 0)
        loop->virtual_now += timeout;
    for (int i = 0; i < n; i++) {
        const struct sel_key *key = sel_get_key(loop->sel, loop->events[i].fd);
        if (key && (loop->events[i].events & key->events))
            key->callback(loop->sel, key->fd, loop->events[i].events & key->events, key->data);
    }
    now = loop_time(loop);
    while (loop->ntimers && loop->heap[0]->when <= now) {
        struct timer *t = loop->heap[0];
        heap_remove(loop, t);
        push_call(loop, (struct call){ .kind = CALL_TIMER, .arg = t });
    }
    /* Only what is ready now: callbacks these add run in the next iteration, so
     * a callback that keeps rescheduling itself cannot starve the selector. */
    todo = loop->count;
    TRACE(loop, "select(): %d ready; running %zu callbacks", n, todo);
    while (todo--)
        run_call(loop, pop_call(loop));
    return 0;
}

int loop_run_forever(struct loop *loop)
{
    for (;;) {
        if (loop_run_once(loop) < 0)
            return -1;
        if (loop->stopping) {
            loop->stopping = 0;
            return 0;
        }
    }
}

int loop_run_until_complete(struct loop *loop, struct fut *fut)
{
    while (!fut_done(fut))
        if (loop_run_once(loop) < 0)
            return -1;
    return 0;
}

int loop_shutdown(struct loop *loop)
{
    for (struct task *t = loop->tasks; t; t = t->next)
        task_cancel(t);
    while (loop->tasks || loop->count)
        if (loop_run_once(loop) < 0 && errno != EINTR)
            return -1;
    return 0;
}

/* ---- futures ---- */

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

/* Every way a future ends: its callbacks are queued, never called from here,
 * so whoever finishes a future never finds its own code re-entered. */
static int fut_finish(struct fut *fut, enum fut_state state, void *result, int error)
{
    if (fut->state != FUT_PENDING)
        return -1; /* asyncio's InvalidStateError */
    fut->state = state;
    fut->result = result;
    fut->error = error;
    fut->cancel_op = NULL;
    fut->op = NULL;
    for (int i = 0; i < fut->ncallbacks; i++) {
        struct fut_waiter *w =
            i < FUT_INLINE_CALLBACKS ? &fut->callbacks[i] : &fut->more[i - FUT_INLINE_CALLBACKS];
        push_call(fut->loop, (struct call){ .kind = CALL_DONE, .done = w->fn, .fut = fut, .arg = w->arg });
    }
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
    int i = fut->ncallbacks - FUT_INLINE_CALLBACKS;
    if (fut->state != FUT_PENDING) {
        push_call(fut->loop, (struct call){ .kind = CALL_DONE, .done = fn, .fut = fut, .arg = arg });
        return;
    }
    if (i < 0) {
        fut->callbacks[fut->ncallbacks++] = w;
        return;
    }
    if (i == fut->nmore) {
        fut->nmore = fut->nmore ? fut->nmore * 2 : 4;
        fut->more = xrealloc(fut->more, (size_t)fut->nmore, sizeof *fut->more);
    }
    fut->more[i] = w;
    fut->ncallbacks++;
}

/* ---- tasks ---- */

static void task_step(void *arg);

static void task_wakeup(struct fut *fut, void *arg)
{
    (void)fut;
    task_step(arg);
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

/* One step: resume the coroutine with what it awaited, and run it to its next
 * await (then sleep until that future is done) or to its end. */
static void task_step(void *arg)
{
    struct task *task = arg;
    struct fut *awaited = task->waiting;
    struct gen *coro = task->coro;
    int result;
    task->waiting = NULL;
    if (task->must_cancel) {
        task->must_cancel = 0;
        result = gen_throw(coro, ECANCELED);
    } else if (awaited && awaited->error) {
        result = gen_throw(coro, awaited->error);
    } else {
        result = gen_send(coro, awaited ? awaited->result : NULL);
    }
    if (result == GEN_YIELDED) {
        struct fut *fut = coro->yielded;
        if (!fut) { /* a bare yield: let the others run, then go on (asyncio.sleep(0)) */
            loop_call_soon(task->fut.loop, task_step, task);
            return;
        }
        task->waiting = fut;
        fut_add_done_callback(fut, task_wakeup, task);
        if (task->must_cancel && fut_cancel(fut)) /* cancelled during this step */
            task->must_cancel = 0;
        return;
    }
    if (task->prev)
        task->prev->next = task->next;
    else
        task->fut.loop->tasks = task->next;
    if (task->next)
        task->next->prev = task->prev;
    if (result == GEN_RETURNED)
        fut_finish(&task->fut, FUT_DONE, coro->returned, 0);
    else if (coro->error == ECANCELED) /* not caught: the task is cancelled */
        fut_finish(&task->fut, FUT_CANCELLED, NULL, ECANCELED);
    else
        fut_finish(&task->fut, FUT_DONE, NULL, coro->error);
}

/* ---- sleep, gather, wait_for ---- */

static void sleep_done(void *arg)
{
    fut_set_result(arg, NULL);
}

static int sleep_cancel(struct fut *fut)
{
    struct timer *t = fut->op;
    loop_cancel_timer(fut->loop, (struct timer_handle){ t, t->seq });
    return 1;
}

struct fut *aio_sleep(struct loop *loop, struct fut *fut, long long ms)
{
    fut_init(fut, loop);
    fut->op = loop_call_later(loop, ms, sleep_done, fut).timer;
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
    w->timer = loop_call_later(loop, timeout_ms, wait_for_timeout, w);
    w->fut.cancel_op = wait_for_cancel;
    fut_add_done_callback(inner, wait_for_inner_done, w);
    return &w->fut;
}

/* ---- sockets ---- */

/* Each operation tries its system call at once (as asyncio's sock_recv does)
 * and watches the fd only when the call would block; the reader or writer
 * tries again. So no call ever waits, and no task can block the loop. */

static int would_block(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK || err == EINTR;
}

/* Done or cancelled: stop watching, so the fd's callback never touches op again. */
static void stop_watching(struct sock_op *op)
{
    if (op->events == SEL_READ)
        loop_remove_reader(op->fut.loop, op->fd);
    else if (op->events == SEL_WRITE)
        loop_remove_writer(op->fut.loop, op->fd);
    op->events = 0;
}

static int sock_op_cancel(struct fut *fut)
{
    stop_watching((struct sock_op *)fut);
    return 1;
}

static void sock_op_finish(struct sock_op *op, int error)
{
    stop_watching(op);
    if (error)
        fut_set_error(&op->fut, error);
    else
        fut_set_result(&op->fut, NULL);
}

static void sock_op_wait(struct sock_op *op, int events, loop_callback *retry)
{
    int rc;
    if (op->events)
        return; /* watching already */
    rc = events == SEL_READ ? loop_add_reader(op->fut.loop, op->fd, retry, op)
                            : loop_add_writer(op->fut.loop, op->fd, retry, op);
    if (rc < 0)
        sock_op_finish(op, errno);
    else
        op->events = events;
}

static struct fut *sock_op_start(struct loop *loop, struct sock_op *op, int fd, const void *buf, size_t len)
{
    fut_init(&op->fut, loop);
    op->fut.cancel_op = sock_op_cancel;
    op->fd = fd;
    op->events = 0;
    op->buf = (char *)buf; /* sendall only reads it */
    op->len = len;
    op->n = 0;
    op->conn = -1;
    return &op->fut;
}

static void accept_ready(void *arg)
{
    struct sock_op *op = arg;
    int fd = accept(op->fd, NULL, NULL);
    if (fd >= 0) {
        op->conn = fd;
        sock_op_finish(op, 0);
    } else if (would_block(errno) || errno == ECONNABORTED) { /* gone before accepted: wait for the next */
        sock_op_wait(op, SEL_READ, accept_ready);
    } else {
        sock_op_finish(op, errno);
    }
}

struct fut *sock_accept(struct loop *loop, struct sock_op *op, int listen_fd)
{
    sock_op_start(loop, op, listen_fd, NULL, 0);
    accept_ready(op);
    return &op->fut;
}

static void recv_ready(void *arg)
{
    struct sock_op *op = arg;
    ssize_t n = recv(op->fd, op->buf, op->len, 0);
    if (n >= 0) {
        op->n = (size_t)n;
        sock_op_finish(op, 0);
    } else if (would_block(errno)) {
        sock_op_wait(op, SEL_READ, recv_ready);
    } else {
        sock_op_finish(op, errno);
    }
}

struct fut *sock_recv(struct loop *loop, struct sock_op *op, int fd, void *buf, size_t len)
{
    sock_op_start(loop, op, fd, buf, len);
    recv_ready(op);
    return &op->fut;
}

static void send_ready(void *arg)
{
    struct sock_op *op = arg;
    while (op->n < op->len) {
        ssize_t n = send(op->fd, op->buf + op->n, op->len - op->n, 0);
        if (n < 0 && would_block(errno)) { /* the socket's buffer is full: go on when writable */
            sock_op_wait(op, SEL_WRITE, send_ready);
            return;
        }
        if (n < 0) {
            sock_op_finish(op, errno);
            return;
        }
        op->n += (size_t)n;
    }
    sock_op_finish(op, 0);
}

struct fut *sock_sendall(struct loop *loop, struct sock_op *op, int fd, const void *buf, size_t len)
{
    sock_op_start(loop, op, fd, buf, len);
    send_ready(op);
    return &op->fut;
}

/* Writable: the connection is made or failed; SO_ERROR says which. */
static void connect_ready(void *arg)
{
    struct sock_op *op = arg;
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    sock_op_finish(op, err);
}

struct fut *sock_connect(struct loop *loop, struct sock_op *op, int fd, const struct sockaddr *addr,
                         socklen_t addrlen)
{
    sock_op_start(loop, op, fd, NULL, 0);
    if (connect(fd, addr, addrlen) == 0)
        sock_op_finish(op, 0);
    else if (errno == EINPROGRESS || errno == EINTR) /* under way: done when writable */
        sock_op_wait(op, SEL_WRITE, connect_ready);
    else
        sock_op_finish(op, errno);
    return &op->fut;
}
