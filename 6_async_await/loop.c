/* The event loop, after asyncio's: a queue of ready callbacks, a heap of timers,
 * the fds it watches through the selector, and signals; each iteration waits
 * for whichever comes first, then runs what is ready. */
#define _POSIX_C_SOURCE 200809L
#include "loop_private.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *loop_xrealloc(void *p, size_t n, size_t size)
{
    p = realloc(p, n * size);
    if (!p) {
        fputs("asyncio: out of memory\n", stderr);
        exit(1);
    }
    return p;
}

/* ---- the ready queue ---- */

void loop_push_call(struct loop *loop, struct call call)
{
    if (loop->count == loop->cap) { /* full: double it, unwrapping the ring */
        size_t cap = loop->cap ? loop->cap * 2 : 64;
        struct call *ready = loop_xrealloc(NULL, cap, sizeof *ready);
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
    loop_push_call(loop, (struct call){ .kind = CALL_SOON, .fn = fn, .arg = arg });
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
        t = loop_xrealloc(NULL, 1, sizeof *t);
    if (loop->ntimers == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 16;
        loop->heap = loop_xrealloc(loop->heap, loop->heap_cap, sizeof *loop->heap);
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

/* Interest is kept, not given back, between one operation and the next: as in
 * libuv, a change is only noted here, and the selector told just before the
 * loop waits, if the interest still differs from what it has then. A task that
 * waits to read, reads, replies and waits to read again costs no system call. */

static int wanted(const struct watch *w)
{
    return (w->fn[0] ? SEL_READ : 0) | (w->fn[1] ? SEL_WRITE : 0);
}

/* The selector's callback, as it reports fd ready: run its reader and writer
 * now, unless set after this wait began (those events are not theirs: they
 * might be a closed fd's, whose number was reused). */
static void fd_ready(struct selector *sel, int fd, int events, void *data)
{
    struct loop *loop = data;
    (void)sel;
    for (int which = 0; which < 2; which++) {
        struct watch *w = &loop->watches[fd]; /* again: the reader may have changed the table */
        if ((events & (which ? SEL_WRITE : SEL_READ)) && w->fn[which] &&
            w->since[which] != (unsigned char)loop->iteration)
            w->fn[which](w->arg[which]);
    }
}

static struct watch *get_watch(struct loop *loop, int fd)
{
    if (fd >= loop->nwatches) {
        int n = loop->nwatches ? loop->nwatches : 64;
        while (n <= fd)
            n *= 2;
        loop->watches = loop_xrealloc(loop->watches, (size_t)n, sizeof *loop->watches);
        memset(loop->watches + loop->nwatches, 0, (size_t)(n - loop->nwatches) * sizeof *loop->watches);
        loop->nwatches = n;
    }
    return &loop->watches[fd];
}

/* Sets (fn) or clears (NULL) fd's reader (which 0) or writer (which 1). An fd
 * the selector does not have yet is registered at once, so a bad fd fails here;
 * any other change waits for the next wait. */
static int set_watch(struct loop *loop, int fd, int which, loop_callback *fn, void *arg)
{
    struct watch *w;
    if (fd < 0) {
        errno = EINVAL;
        return -1;
    }
    w = get_watch(loop, fd);
    w->fn[which] = fn;
    w->arg[which] = arg;
    w->since[which] = (unsigned char)loop->iteration;
    if (w->registered == 0 && wanted(w)) {
        if (sel_register(loop->sel, fd, wanted(w), fd_ready, loop) < 0) {
            w->fn[which] = NULL;
            return -1;
        }
        w->registered = (unsigned char)wanted(w);
    } else if (wanted(w) != w->registered && !w->queued) {
        if (loop->nchanged == loop->changed_cap) {
            loop->changed_cap = loop->changed_cap ? loop->changed_cap * 2 : 64;
            loop->changed = loop_xrealloc(loop->changed, loop->changed_cap, sizeof *loop->changed);
        }
        loop->changed[loop->nchanged++] = fd;
        w->queued = 1;
    }
    return 0;
}

/* Just before waiting: make the selector's registrations what the watches want. */
static void apply_changes(struct loop *loop)
{
    for (size_t i = 0; i < loop->nchanged; i++) {
        int fd = loop->changed[i], want, rc;
        struct watch *w = &loop->watches[fd];
        w->queued = 0;
        want = wanted(w);
        if (want == w->registered)
            continue; /* changed, then changed back: nothing to tell */
        rc = want ? sel_modify(loop->sel, fd, want, fd_ready, loop) : sel_unregister(loop->sel, fd);
        if (rc < 0) {
            /* Closed without loop_forget_fd(), say: let its reader and writer
             * run, retry their call and meet the error themselves. */
            sel_unregister(loop->sel, fd);
            want = 0;
            loop_push_call(loop, (struct call){ .kind = CALL_IO, .fd = fd, .events = wanted(w) });
        }
        w->registered = (unsigned char)want;
    }
    loop->nchanged = 0;
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

void loop_forget_fd(struct loop *loop, int fd)
{
    struct watch *w;
    if (fd < 0 || fd >= loop->nwatches)
        return;
    w = &loop->watches[fd];
    if (w->registered)
        sel_unregister(loop->sel, fd);
    w->fn[0] = w->fn[1] = NULL;
    w->registered = 0; /* if queued, the next wait finds nothing to do */
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

void loop_close(struct loop *loop)
{
    struct timer *t;
    if (!loop)
        return;
    loop_close_signals(loop);
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
    free(loop->changed);
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
        for (int which = 0; which < 2; which++) {
            struct watch *w = &loop->watches[call.fd];
            if ((call.events & (which ? SEL_WRITE : SEL_READ)) && w->fn[which])
                w->fn[which](w->arg[which]);
        }
        break;
    }
}

int loop_run_once(struct loop *loop)
{
    int timeout, n;
    long long now;
    size_t todo;
    loop->iteration++;
    apply_changes(loop);
    timeout = select_timeout(loop);
    if (timeout != 0)
        TRACE(loop, timeout < 0 ? "loop: waiting for I/O" : "loop: waiting for I/O, %d ms at most", timeout);
    /* A virtual clock never waits for time to pass: it jumps to the timer. */
    n = sel_select(loop->sel, loop->events, MAX_EVENTS, loop->virtual_clock && timeout > 0 ? 0 : timeout);
    if (n < 0 && errno != EINTR)
        return -1;
    if (n < 0) /* a signal: its byte in the self-pipe is ready for the next wait */
        n = 0;
    if (loop->virtual_clock && n == 0 && timeout > 0)
        loop->virtual_now += timeout;
    /* Ready fds first: each reader finishes its future, whose done callbacks
     * (the tasks awaiting it) are queued to run in this same iteration. */
    for (int i = 0; i < n; i++) {
        const struct sel_key *key = sel_get_key(loop->sel, loop->events[i].fd);
        if (key && (loop->events[i].events & key->events))
            key->callback(loop->sel, key->fd, loop->events[i].events & key->events, key->data);
    }
    now = loop_time(loop);
    while (loop->ntimers && loop->heap[0]->when <= now) {
        struct timer *t = loop->heap[0];
        heap_remove(loop, t);
        loop_push_call(loop, (struct call){ .kind = CALL_TIMER, .arg = t });
    }
    /* Only what is ready now: callbacks these add run in the next iteration, so
     * a callback that keeps rescheduling itself cannot starve the selector. */
    todo = loop->count;
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
        if (loop_run_once(loop) < 0)
            return -1;
    return 0;
}
