/* The loop's insides, shared by the runtime's own files (loop.c, futures.c,
 * tasks.c, sockets.c) and by no program: programs use asyncio.h only. */
#ifndef LOOP_PRIVATE_H
#define LOOP_PRIVATE_H

#include <stddef.h>

#include "asyncio.h"
#include "selector.h"

#define MAX_EVENTS 256
#define MAX_SIGNALS 8
#define TRACE(loop, ...)                                                       \
    do {                                                                       \
        if ((loop)->trace)                                                     \
            (loop)->trace(__VA_ARGS__);                                        \
    } while (0)

/* One entry of the ready queue (asyncio's Handle): a callback, a future's done
 * callback, a due timer, or an fd whose registration failed (its reader and
 * writer run, so the operation retries and meets the error itself). */
struct call {
    enum { CALL_SOON, CALL_DONE, CALL_TIMER, CALL_IO } kind;
    int fd, events;     /* CALL_IO */
    loop_callback *fn;  /* CALL_SOON */
    fut_callback *done; /* CALL_DONE: done(fut, arg) */
    struct fut *fut;
    void *arg;          /* CALL_TIMER: the struct timer */
};

/* A timer lives in the heap until due, then in the ready queue until it runs;
 * its node is then recycled, so sleeping allocates nothing once warmed up. A
 * cancelled timer leaves the heap at once, so the heap never fills with them. */
struct timer {
    long long when;
    unsigned long long seq; /* call order: breaks ties between equal deadlines; 0 once recycled */
    loop_callback *fn;      /* NULL: cancelled while queued to run */
    void *arg;
    size_t pos;             /* index in the heap, or NOT_IN_HEAP */
    struct timer *next_free;
};
#define NOT_IN_HEAP ((size_t)-1)

/* What the loop watches one fd for: fn[0] its reader, fn[1] its writer.
 * registered: what the selector has now; the two differ between a change and
 * the next wait, when the loop makes them agree (if they still differ).
 * since[]: the iteration that set each (its low byte), whose events came
 * before it was set. */
struct watch {
    loop_callback *fn[2];
    void *arg[2];
    unsigned char since[2], registered, queued;
};

struct loop {
    struct selector *sel;
    struct watch *watches;   /* indexed by fd */
    int nwatches;
    int *changed;            /* fds whose watch changed since the last wait */
    size_t nchanged, changed_cap;
    struct call *ready;      /* FIFO ring buffer of callbacks to run */
    size_t head, count, cap;
    struct timer **heap;     /* binary min-heap: heap[0] is due first */
    size_t ntimers, heap_cap;
    struct timer *free_timers;
    unsigned long long seq;
    unsigned iteration;
    int virtual_clock, stopping;
    long long virtual_now;
    struct task *tasks;      /* every pending task */
    struct task *current;    /* the task running now (asyncio.current_task()) */
    int wakeup[2];           /* the self-pipe signals write to, or -1 */
    struct { int sig; loop_callback *fn; void *arg; } signals[MAX_SIGNALS];
    int nsignals;
    void (*trace)(const char *fmt, ...);
    struct sel_event events[MAX_EVENTS];
};

/* realloc, or say so and exit: the loop cannot drop a promise it made. */
void *loop_xrealloc(void *p, size_t n, size_t size);
/* Appends call to the ready queue. */
void loop_push_call(struct loop *loop, struct call call);
/* Finishes fut in any state (a task or a gather may end CANCELLED): 0, or -1
 * if it was done already. */
int fut_finish(struct fut *fut, enum fut_state state, void *result, int error);
/* The name of the task fut's first done callback wakes, or NULL (tasks.c). */
const char *fut_waiter_name(const struct fut *fut);
/* Gives the signals the loop handled their default action back, and closes
 * its self-pipe (signals.c). */
void loop_close_signals(struct loop *loop);
/* The name of the running task, for traces ("main" outside any task). */
const char *loop_current_name(const struct loop *loop);

#endif
