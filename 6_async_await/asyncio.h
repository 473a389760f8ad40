/* A small asyncio, read in this order: tasks run coroutines (gen.h) that await
 * futures (tasks.c); a future is a result that will exist later (futures.c);
 * the event loop runs what is ready, timers and I/O (loop.c), and signal
 * handlers (signals.c); socket operations are futures the loop finishes when
 * an fd is ready (sockets.c). */
#ifndef ASYNCIO_H
#define ASYNCIO_H

#include <stddef.h>
#include <sys/socket.h>

#include "gen.h"

struct loop;
struct fut;
struct timer;

/* What loop_call_soon(), loop_call_later() and the readers and writers run. */
typedef void loop_callback(void *arg);
/* A future's done callback: gets the future that finished and its own arg. */
typedef void fut_callback(struct fut *fut, void *arg);
/* A scheduled timer, as loop_call_later() returns it (asyncio: TimerHandle). */
struct timer_handle {
    struct timer *timer;
    unsigned long long seq; /* tells a recycled timer from this one */
};

/* ---- futures (futures.c) ------------------------------------------------ */

enum fut_state { FUT_PENDING, FUT_DONE, FUT_CANCELLED };

struct fut_waiter {
    fut_callback *fn;
    void *arg;
};

/* A result that will exist later. Embed it where it is awaited (in the frame):
 * awaiting allocates nothing. The one done callback a future nearly always
 * has (the task awaiting it) sits in `first`; more are malloc'd in `more`. */
struct fut {
    struct loop *loop;
    enum fut_state state;
    int error;          /* 0, or the error it finished with (ECANCELED if cancelled) */
    void *result;       /* once DONE without error; while PENDING, the operation's
                           own data, if it needs any (aio_sleep: its timer) */
    int ncallbacks;     /* done callbacks waiting: first, then more[] */
    int nmore;          /* room in more[] */
    struct fut_waiter first;
    struct fut_waiter *more;
    /* Set by whatever will finish this future (a timer, a socket operation,
     * wait_for, gather, a task): fut_cancel() calls it first, so the operation
     * stops and never touches the future again. It returns 1 to let fut_cancel()
     * cancel the future now, 0 if the operation will finish it itself later
     * (a task: its coroutine sees ECANCELED and decides). */
    int (*cancel_op)(struct fut *fut);
};

/* Makes fut PENDING, with no callbacks, belonging to loop. */
void fut_init(struct fut *fut, struct loop *loop);
/* 1 once DONE or CANCELLED. */
int fut_done(const struct fut *fut);
/* 1 if CANCELLED. */
int fut_cancelled(const struct fut *fut);
/* Finishes fut with a result (error: a positive errno value or a GEN_* code)
 * and schedules its done callbacks. 0, or -1 if it was done already. */
int fut_set_result(struct fut *fut, void *result);
int fut_set_error(struct fut *fut, int error);
/* Cancels a pending fut (error ECANCELED); a task is only asked to stop. Returns
 * 1 if cancelled or asked, 0 if it was done already. */
int fut_cancel(struct fut *fut);
/* fn(fut, arg) will run once, through the loop (never from inside this call or
 * from fut_set_result), in the order added; at once in the next iteration if
 * fut is done already. */
void fut_add_done_callback(struct fut *fut, fut_callback *fn, void *arg);

/* ---- tasks and await (tasks.c) ------------------------------------------ */

/* A task runs a coroutine and is itself a future (its first member), done with
 * the coroutine's return value or error: awaiting &task->fut waits for it. */
struct task {
    struct fut fut;
    struct gen *coro;
    struct fut *waiting;       /* the future the coroutine awaits, or NULL */
    int must_cancel;           /* throw ECANCELED in at the next step */
    const char *name;          /* for -v: "task NAME runs" (NULL: "(unnamed)") */
    struct task *prev, *next;  /* the loop's pending tasks, for loop_shutdown() */
};

/* Wraps coro in task and schedules its first step (asyncio.create_task).
 * task and coro must live until the task is done. Returns task. */
struct task *aio_create_task(struct loop *loop, struct task *task, struct gen *coro);
/* Throws ECANCELED into the coroutine at its await point (cancelling the future
 * it awaits): it may catch it and clean up; if not, the task ends CANCELLED.
 * Returns 1 if asked, 0 if the task was done already. */
int task_cancel(struct task *task);

/* asyncio.run(main()): runs main as a task named "main" until it ends. Ctrl-C
 * (SIGINT) or SIGTERM cancels it; then every task still pending is cancelled
 * and the loop runs until they have finished. Returns how main ended: 0 (it
 * returned), ECANCELED (a signal stopped it), or the error it raised; -1 with
 * errno if the selector failed. The loop stays open for the caller to close. */
int aio_run(struct loop *loop, struct gen *main);

/* Inside a coroutine body (see gen.h): waits for fut; resumes with (g)->sent =
 * its result, or raises its error on, out of the coroutine. Through a task only.
 * A future that is done already does not wait: the task goes on at once. */
#define AWAIT(g, fut) GEN_YIELD(g, fut_awaitable(fut))
/* Like AWAIT, but leaves the error in (g)->thrown (0 if none). */
#define AWAIT_CATCH(g, fut) GEN_YIELD_CATCH(g, fut_awaitable(fut))
/* Awaits another coroutine (a struct gen *), by delegation (yield from):
 * resumes with (g)->sent = its return value, or raises its error on. */
#define AWAIT_CORO(g, sub) GEN_YIELD_FROM(g, sub)
#define AWAIT_CORO_CATCH(g, sub) GEN_YIELD_FROM_CATCH(g, sub)

/* Only lets a struct fut * be awaited (a compile error otherwise). */
static inline void *fut_awaitable(struct fut *fut)
{
    return fut;
}

/* ---- awaitables: each fills a future the caller provides, and returns it ---- */

/* fut is done with result NULL once ms have passed (asyncio.sleep). */
struct fut *aio_sleep(struct loop *loop, struct fut *fut, long long ms);

/* Done once every one of futs[0..n) is: results[i] = futs[i]'s result, in
 * argument order (results may be NULL), and its result is results. Its error is
 * the first error a child finished with. Unlike asyncio it waits for every child
 * even after an error, so no child outlives the frame that awaits the gather.
 * Cancelling it cancels every child. */
struct gather_fut {
    struct fut fut;
    struct fut **futs;
    void **results;
    size_t n, pending;
    int error;      /* the first error, kept until all are done */
    int cancelling;
};
struct fut *aio_gather(struct loop *loop, struct gather_fut *g, struct fut **futs, void **results, size_t n);

/* Done like inner, unless timeout_ms pass first: then inner is cancelled and,
 * once it has finished, this fails with ETIMEDOUT (asyncio.wait_for). If inner
 * is done already, so is this, at once. */
struct wait_for_fut {
    struct fut fut;
    struct fut *inner;
    struct timer_handle timer;
    int timed_out;
};
struct fut *aio_wait_for(struct loop *loop, struct wait_for_fut *w, struct fut *inner, long long timeout_ms);

/* ---- the event loop (loop.c) -------------------------------------------- */

/* The loop's own structure is private to the runtime; programs hold a pointer.
 * Out of memory later, the loop says so and exits: it cannot drop a callback. */
struct loop *loop_create(void);
/* Frees the loop (not the fds registered with it, nor pending futures), and
 * gives the signals it handled back their default action. */
void loop_close(struct loop *loop);
/* The loop's clock, in milliseconds: monotonic, or the virtual clock. */
long long loop_time(const struct loop *loop);
/* Switches to a virtual clock starting at 0 (for tests): when the loop would wait
 * for a timer, it polls the selector without waiting and jumps to the timer's time. */
void loop_use_virtual_clock(struct loop *loop);
/* Tells the loop's story (one line each: which task runs, what it awaits, which
 * fd or timer finished what and woke which task) through a printf-like
 * function, e.g. the server's -v trace; NULL turns tracing off. */
void loop_set_trace(struct loop *loop, void (*trace)(const char *fmt, ...));

/* Runs fn(arg) in a coming iteration, in FIFO order (asyncio: call_soon). */
void loop_call_soon(struct loop *loop, loop_callback *fn, void *arg);
/* Runs fn(arg) once delay_ms have passed; equal deadlines run in call order. */
struct timer_handle loop_call_later(struct loop *loop, long long delay_ms, loop_callback *fn, void *arg);
/* Cancels a timer that has not run yet; returns 1 if cancelled, 0 if it had run
 * or was cancelled already. */
int loop_cancel_timer(struct loop *loop, struct timer_handle handle);

/* Calls fn(arg) whenever fd is readable (writable), until removed; adding again
 * replaces fn. 0, or -1 with errno (an fd the selector refuses). The kernel is
 * told only what really changed, just before the loop waits: removing a reader
 * and adding one back before then costs no system call. */
int loop_add_reader(struct loop *loop, int fd, loop_callback *fn, void *arg);
int loop_add_writer(struct loop *loop, int fd, loop_callback *fn, void *arg);
/* Stop watching fd for reading (writing). Returns 1 if a reader (writer) was
 * removed, 0 if there was none. */
int loop_remove_reader(struct loop *loop, int fd);
int loop_remove_writer(struct loop *loop, int fd);
/* Before closing an fd the loop has watched: drops its reader and writer and
 * its registration now (once closed, its number may come back as a new fd). */
void loop_forget_fd(struct loop *loop, int fd);

/* One iteration: tell the selector what changed, wait for I/O (not at all if
 * callbacks are ready, at most until the next timer), run the ready readers
 * and writers, queue the due timers, then run the callbacks that were ready at
 * this point (those they add wait for the next iteration). A signal arriving
 * only ends the wait early. 0, or -1 with errno if the selector failed. */
int loop_run_once(struct loop *loop);
/* Runs fn(arg) from the loop when signal sig arrives (asyncio: add_signal_handler;
 * signals.c). The C handler only writes to a pipe the loop watches, so a signal
 * arriving at any moment, even just before the loop waits, wakes it. 0, or -1
 * with errno. */
int loop_add_signal_handler(struct loop *loop, int sig, loop_callback *fn, void *arg);
/* Gives sig its default action back and forgets its handler. */
void loop_remove_signal_handler(struct loop *loop, int sig);
/* Runs iterations until loop_stop(): 0, or -1 with errno if the selector failed. */
int loop_run_forever(struct loop *loop);
/* Runs iterations until fut is done: 0, or -1 with errno as loop_run_forever. */
int loop_run_until_complete(struct loop *loop, struct fut *fut);
/* Makes loop_run_forever() return once the current iteration is over. */
void loop_stop(struct loop *loop);
/* asyncio.run()'s cleanup: cancels every pending task and runs the loop until
 * all have finished and no callback is left. 0, or -1 with errno. */
int loop_shutdown(struct loop *loop);

/* ---- socket operations (sockets.c) -------------------------------------- */

/* A socket operation on a non-blocking fd, done when it completed (result NULL:
 * read its fields) or failed (error: the errno value). Cancelling it stops
 * watching the fd. */
struct sock_op {
    struct fut fut;
    int fd;
    int events;     /* SEL_READ or SEL_WRITE while it watches fd */
    char *buf;      /* recv: where to; sendall: what */
    size_t len;
    size_t n;       /* recv: bytes received, 0 = end of stream; sendall: bytes sent */
    int conn;       /* accept: the new connection's fd */
};
/* Done once fd is readable, so that one recv() then reads without blocking:
 * curio's `await read_wait(sock)`. Nothing is read, so no buffer waits with it. */
struct fut *sock_read_wait(struct loop *loop, struct sock_op *op, int fd);
/* Accepts a connection on listen_fd: op->conn (blocking as accept() returns it). */
struct fut *sock_accept(struct loop *loop, struct sock_op *op, int listen_fd);
/* Receives some bytes, at most len, into buf: op->n (0: the peer closed). */
struct fut *sock_recv(struct loop *loop, struct sock_op *op, int fd, void *buf, size_t len);
/* Sends all len bytes of buf, continuing partial sends as fd becomes writable.
 * If the first send() takes it all, the future is done at once. */
struct fut *sock_sendall(struct loop *loop, struct sock_op *op, int fd, const void *buf, size_t len);
/* Connects fd to addr; fails with the connection's error (ECONNREFUSED, ...). */
struct fut *sock_connect(struct loop *loop, struct sock_op *op, int fd, const struct sockaddr *addr,
                         socklen_t addrlen);

#endif
