/* Step 5: the server as coroutines that receive the results of their I/O: a
 * generator yields the accept(), recv() or send() it wants, the loop does it
 * once the fd is ready and sends the result in (gen_send) or throws the error
 * in (gen_throw).
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o server server.c net.c gen.c selector.c */
#define DESCRIPTION "Step 5, coroutines: the loop does the I/O and sends the results in" /* for -h */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen.h"
#include "net.h"
#include "selector.h"

/* Every reply is the same 12 bytes, so what a client is owed is a number, not a
 * buffer: we send slices of this block of replies (4,092 bytes, a send() of up to 4 KiB). */
#define REPLIES_PER_BLOCK 341
static char replies[REPLY_LEN * REPLIES_PER_BLOCK];

/* What a generator yields: the event it waits for, on which fd (the lesson's
 * ('read', sock) and ('write', sock)), and now also the I/O that the loop
 * does for it once the fd is ready. Kept in the generator's frame. */
struct io_wait {
    int events; /* SEL_READ or SEL_WRITE; 0: no event, the server waits for a client to leave */
    int fd;
    enum { DO_ACCEPT, DO_RECV, DO_SEND } io; /* what the loop does once fd is ready */
    const char *data; /* DO_SEND: the bytes to send */
    size_t len;
};

/* What the loop sends back in once it has done that I/O (an error is thrown
 * in instead, with gen_throw(errno)). */
union io_result {
    int client_fd; /* DO_ACCEPT: the new client's socket */
    struct {
        const char *data; /* in the loop's buffer */
        ssize_t len;      /* 0: end of stream */
    } received;           /* DO_RECV */
    size_t sent;          /* DO_SEND: how many bytes the socket took */
};

/* How every generator's frame starts: the generator, then the link that
 * keeps it in tasks. */
struct task {
    struct gen gen;
    struct task *next; /* the next in tasks, while it is there */
};

/* tasks (the lesson's list of generators that can run now): first in, first
 * out, linked through the frames themselves, so adding one never fails. */
static struct {
    struct task *first, *last;
} tasks;

static void tasks_append(struct task *task)
{
    task->next = NULL;
    if (tasks.last)
        tasks.last->next = task;
    else
        tasks.first = task;
    tasks.last = task;
}

static struct task *tasks_pop(void)
{
    struct task *task = tasks.first;
    tasks.first = task->next;
    if (!tasks.first)
        tasks.last = NULL;
    return task;
}

/* to_read and to_write (the lesson's dicts, socket -> generator), indexed by
 * fd: the generator waiting to read or to write on it. The table grows with
 * the largest fd accepted, never to the fd limit (often a million). */
static struct waiting {
    struct task *to_read, *to_write;
} *waiting;
static int waiting_size;
/* The server while we are out of fds: it waits for a client to leave. */
static struct task *waits_for_a_free_fd;

/* Makes room for fd in the table before its generator first runs, so that
 * filing a generator there never fails. -1 if memory is short. */
static int make_room(int fd)
{
    int size = waiting_size ? waiting_size : 64;
    struct waiting *w;
    while (size <= fd)
        size *= 2;
    if (size == waiting_size)
        return 0;
    w = realloc(waiting, (size_t)size * sizeof *w);
    if (!w)
        return -1;
    memset(w + waiting_size, 0, (size_t)(size - waiting_size) * sizeof *w);
    waiting = w;
    waiting_size = size;
    return 0;
}

/* The frame of the writer, the sub-coroutine a client delegates its writes to. */
struct writer {
    struct gen gen;
    struct client *client;
};

/* One client generator's frame: what must survive its yields. 232 bytes on a
 * 64-bit machine (64 of them the struct gen, 72 the writer's frame, 32 the
 * name); that, its key in the selector and its slot in to_read and to_write
 * are all an idle client costs besides the kernel's socket. */
struct client {
    struct task task;
    struct io_wait waits_for; /* what it waits for: the value it yields */
    struct selector *sel; /* to unregister its fd at the end */
    int fd;
    int eof;          /* the client has stopped sending (closed or half-closed) */
    size_t owed;      /* reply bytes owed, sent when the socket is writable */
    char name[32];    /* "127.0.0.1:54321" */
    struct writer writer; /* the sub-coroutine that sends what is owed */
};

static int client_body(struct gen *g);

/* The callback of every generator's fd: the generator waiting on it goes back
 * to tasks (the lesson's tasks.append(to_read.pop(sock))). The fd stays
 * registered for the same event, so that waiting for it again, as a woken
 * generator mostly does, costs no system call. */
static void wake(struct selector *sel, int fd, int events, void *data)
{
    struct task **waiter = events & SEL_READ ? &waiting[fd].to_read : &waiting[fd].to_write;
    (void)sel, (void)data;
    if (!*waiter)
        return;
    trace("fd %d %s: %s fd %d back to tasks", fd, events & SEL_READ ? "readable" : "writable",
          (*waiter)->gen.body == client_body ? "client" : "server", fd);
    tasks_append(*waiter);
    *waiter = NULL;
}

/* The server generator calls this with what the loop's accept() gave it (sent
 * in, or the error thrown in). Returns -1 when we are out of fds. */
static int accept_connection(struct selector *sel, const union io_result *accepted, int err)
{
    int fd = err ? -1 : accepted->client_fd;
    char name[32];
    struct client *c;
    if (fd < 0) {
        if (out_of_fds(err))
            return -1;
        fprintf(stderr, "accept: %s\n", strerror(err));
        return 0;
    }
    describe_peer(fd, name, sizeof name);
    /* Non-blocking: a slow client must never make a recv() or send() wait. */
    set_nonblocking(fd);
    c = calloc(1, sizeof *c);
    /* Make room for the fd and register it now, so that a client with no room
     * is refused here; once it runs, filing it cannot fail. */
    if (!c || make_room(fd) < 0 || sel_register(sel, fd, SEL_READ, wake, NULL) < 0) {
        fprintf(stderr, "Refused %s: %s\n", name, strerror(errno));
        free(c);
        close(fd);
        return 0;
    }
    fprintf(stderr, "Connection from %s\n", name);
    gen_init(&c->task.gen, client_body);
    c->waits_for.fd = fd;
    c->writer.client = c;
    c->sel = sel;
    c->fd = fd;
    memcpy(c->name, name, sizeof name);
    tasks_append(&c->task); /* the lesson's tasks.append(client(client_socket)) */
    return 0;
}

/* The frame itself is freed by the loop, once the generator has finished. */
static void close_client(struct selector *sel, struct client *c)
{
    fprintf(stderr, "Connection closed %s\n", c->name);
    sel_unregister(sel, c->fd); /* before close(): the fd number may be reused at once */
    close(c->fd);
    if (waits_for_a_free_fd && !stop_requested) {
        accepting_again();
        tasks_append(waits_for_a_free_fd);
        waits_for_a_free_fd = NULL;
    }
}

/* Read what the loop received for the client (sent in, or the error thrown
 * in); every '\n' owes it one reply. The 4 KiB buffer is the loop's, not in
 * the client's frame: the client reads it before it yields again, so nothing
 * in it has to survive a yield (gen.h's ground rule), and an idle client does
 * not cost 4 KiB more. */
static void read_lines(struct client *c, const union io_result *got, int err)
{
    ssize_t n = err ? -1 : got->received.len;
    if (n > 0) {
        size_t lines = 0;
        for (ssize_t i = 0; i < n; i++)
            lines += got->received.data[i] == '\n';
        c->owed += lines * REPLY_LEN;
        trace("fd %d: read %zd bytes, %zu lines, %zu bytes owed", c->fd, n, lines, c->owed);
    } else if (n == 0) {
        trace("fd %d: end of stream, %zu bytes still owed", c->fd, c->owed);
        c->eof = 1;
    } else {
        trace("fd %d: recv: %s", c->fd, strerror(err));
        c->eof = 1;
        c->owed = 0; /* the connection is broken: nobody will read what we owe */
    }
}

/* The writer's body, a sub-coroutine: it asks the loop to send as much of what
 * is owed as the socket takes, and is sent back how many bytes went, until
 * nothing is owed. A send error is thrown into it, and goes on to the client. */
static int writer_body(struct gen *g)
{
    struct client *c = ((struct writer *)g)->client;
    const union io_result *done;
    GEN_BEGIN(g);
    while (c->owed > 0) {
        size_t start = (REPLY_LEN - c->owed % REPLY_LEN) % REPLY_LEN; /* resume mid-reply */
        size_t len = sizeof replies - start;
        if (len > c->owed)
            len = c->owed;
        c->waits_for = (struct io_wait){ SEL_WRITE, c->fd, DO_SEND, replies + start, len };
        GEN_YIELD(g, &c->waits_for);
        done = g->sent;
        c->owed -= done->sent;
        trace("fd %d: sent %zu bytes, %zu still owed", c->fd, done->sent, c->owed);
    }
    GEN_END(g);
}

/* The client generator (the lesson's client()): it yields before each read
 * and each write, and the loop resumes it once the socket is ready, with what
 * recv() returned sent in (or its error thrown in). */
static int client_body(struct gen *g)
{
    struct client *c = (struct client *)g;
    GEN_BEGIN(g);
    while (!c->eof) {
        c->waits_for = (struct io_wait){ SEL_READ, c->fd, DO_RECV, NULL, 0 };
        GEN_YIELD_CATCH(g, &c->waits_for);
        read_lines(c, g->sent, g->thrown);
        /* Write everything owed before reading again. That also bounds the
         * output held for a client that sends but never reads, with no limit
         * to check: one read of 4 KiB owes at most 4,096 replies (48 KiB),
         * and nothing more is read until they are sent. The writer does it;
         * its yields go out to the loop, the loop's results come in to it
         * (yield from). Its frame is in the client's: a sub-generator must
         * outlive every yield it makes (gen.h). */
        if (c->owed > 0) {
            gen_init(&c->writer.gen, writer_body);
            GEN_YIELD_FROM_CATCH(g, &c->writer.gen);
            if (g->thrown) {
                trace("fd %d: send: %s", c->fd, strerror(g->thrown));
                c->eof = 1;
                c->owed = 0;
            }
        }
    }
    /* The client stopped sending and is owed nothing: we are done. */
    close_client(c->sel, c);
    GEN_END(g);
}

/* The server generator (the lesson's server()): it yields the accept() it
 * wants, and the loop sends the new client's socket in. */
struct server {
    struct task task;
    struct io_wait waits_for; /* (SEL_READ, the listening socket, DO_ACCEPT) */
    struct selector *sel;
};

static int server_body(struct gen *g)
{
    struct server *self = (struct server *)g;
    GEN_BEGIN(g);
    for (;;) {
        self->waits_for.events = SEL_READ;
        GEN_YIELD_CATCH(g, &self->waits_for);
        if (accept_connection(self->sel, g->sent, g->thrown) < 0) {
            /* Out of fds, accept() fails at once and the listening socket
             * stays readable: the loop would wake us at once, forever. Wait
             * for no event on it until a client leaves and frees an fd. */
            self->waits_for.events = 0;
            GEN_YIELD(g, &self->waits_for);
        }
    }
    GEN_END(g);
}

/* A generator that will not run again (we stop, or cannot watch its fd):
 * close a client's connection, as its body will not get to, and free the frame. */
static void end_task(struct task *task)
{
    if (task->gen.body == client_body)
        close_client(((struct client *)task)->sel, (struct client *)task);
    free(task);
}

/* The signal pipe's callback: a signal arrived. */
static void stop_loop(struct selector *sel, int fd, int events, void *data)
{
    (void)sel, (void)fd, (void)events, (void)data;
    trace("signal pipe readable: a signal arrived, stopping");
    stop_requested = 1;
}

static const char *event_names(int events)
{
    static const char *names[] = { "nothing", "read", "write", "read+write" };
    return names[events & (SEL_READ | SEL_WRITE)];
}

/* The I/O a generator asked for, done by the loop now that its fd is ready:
 * accept(), recv() into the loop's buffer, or send() of the bytes it gave.
 * Returns 0 with the result in *result, EAGAIN if the fd was not ready after
 * all, or the error to throw into the generator. */
static int do_io(const struct io_wait *w, union io_result *result)
{
    static char buf[4096];
    ssize_t n;
    if (w->io == DO_ACCEPT) {
        n = result->client_fd = accept(w->fd, NULL, NULL);
    } else if (w->io == DO_RECV) {
        n = result->received.len = recv(w->fd, buf, sizeof buf, 0);
        result->received.data = buf;
    } else {
        n = send(w->fd, w->data, w->len, 0);
        result->sent = n < 0 ? 0 : (size_t)n;
    }
    if (n >= 0)
        return 0;
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? EAGAIN : errno;
}

static const char *const io_names[] = { "accept", "recv", "send" };

/* The scheduler (the lesson's event_loop()): run the ready generators, each to
 * its next yield, then wait for the selector to wake some. */
static void event_loop(struct selector *sel)
{
    struct sel_event ready[256];
    while (!stop_requested) {
        int n;
        while (tasks.first) {
            struct task *task = tasks_pop(), **slot;
            struct io_wait *w = task->gen.yielded; /* what it waits for; NULL before it first runs */
            union io_result result;
            int err = 0, status = GEN_YIELDED;
            if (task->gen.body == client_body)
                trace("running client fd %d", ((struct client *)task)->fd);
            else
                trace("running server");
            /* Do the I/O it asked for, then resume it with the result sent in,
             * or with the error thrown in. */
            if (w && w->events) {
                err = do_io(w, &result);
                trace("fd %d: %s() done for it, %s", w->fd, io_names[w->io],
                      !err ? "sending the result in"
                      : err == EAGAIN ? "not ready after all" : "throwing the error in");
            }
            if (err != EAGAIN) /* EAGAIN: not ready after all; it waits again, not resumed */
                status = err ? gen_throw(&task->gen, err) : gen_send(&task->gen, w && w->events ? &result : NULL);
            if (status != GEN_YIELDED) {
                trace("finished: frame freed");
                free(task); /* it has closed its socket */
                continue;
            }
            w = task->gen.yielded;
            /* A socket is almost always writable, so a send is tried at once,
             * on the generator's next turn, as step 4's client does it itself:
             * asking the selector first would cost a turn of the loop and two
             * epoll_ctl() calls per reply. Only a send that would block (EAGAIN
             * just now) waits for the selector. */
            if (w->io == DO_SEND && err != EAGAIN) {
                trace("fd %d: will send at once", w->fd);
                tasks_append(task);
                continue;
            }
            /* File it under what it waits for (the lesson's to_read[sock] =
             * task). Its fd stays registered: waiting again for the same
             * event, as a woken generator mostly does, changes nothing in the
             * kernel: no system call. */
            trace("fd %d waits to %s", w->fd, event_names(w->events));
            slot = w->events == SEL_READ ? &waiting[w->fd].to_read
                 : w->events == SEL_WRITE ? &waiting[w->fd].to_write : &waits_for_a_free_fd;
            if (sel_modify(sel, w->fd, w->events, wake, NULL) < 0) {
                /* The kernel cannot watch the fd (short of memory): give up on
                 * that generator (a client is closed; without the server, the
                 * clients already connected are still served). */
                fprintf(stderr, "cannot wait on fd %d: %s\n", w->fd, strerror(errno));
                end_task(task);
                continue;
            }
            *slot = task;
        }
        trace("select(): waiting");
        n = sel_select(sel, ready, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("select");
        }
        trace("select(): %d ready", n);
        for (int i = 0; i < n; i++) {
            /* Look the key up again: an earlier callback may have unregistered it. */
            const struct sel_key *key = sel_get_key(sel, ready[i].fd);
            int events = key ? ready[i].events & key->events : 0;
            if (!events)
                continue;
            key->callback(sel, key->fd, events, key->data);
        }
    }
}

int main(int argc, char **argv)
{
    int listen_fd, port = parse_args(argc, argv, DESCRIPTION);
    int fd_limit = raise_fd_limit();
    struct selector *sel = sel_create();
    struct server *server = calloc(1, sizeof *server);
    for (size_t i = 0; i < sizeof replies; i += REPLY_LEN)
        memcpy(replies + i, REPLY, REPLY_LEN);
    stop_by_self_pipe();
    listen_fd = listen_on(port);
    /* Non-blocking, so a client that vanishes between select() and accept()
     * cannot leave us stuck in accept(). */
    set_nonblocking(listen_fd);
    if (!sel || !server || make_room(listen_fd) < 0 || sel_register(sel, listen_fd, SEL_READ, wake, NULL) < 0 ||
        sel_register(sel, signal_pipe[0], SEL_READ, stop_loop, NULL) < 0) {
        fprintf(stderr, "%s: cannot create the %s selector: %s\n", prog, sel_backend(), strerror(errno));
        exit(1);
    }
    trace("selector backend: %s, up to %d fds", sel_backend(), fd_limit);
    gen_init(&server->task.gen, server_body);
    server->waits_for = (struct io_wait){ SEL_READ, listen_fd, DO_ACCEPT, NULL, 0 };
    server->sel = sel;
    tasks_append(&server->task); /* the lesson's tasks.append(server()) */
    event_loop(sel);
    /* End every generator: each is in tasks, to_read or to_write, or waits for a free fd. */
    while (tasks.first)
        end_task(tasks_pop());
    for (int fd = 0; fd < waiting_size; fd++) {
        if (waiting[fd].to_read)
            end_task(waiting[fd].to_read);
        if (waiting[fd].to_write)
            end_task(waiting[fd].to_write);
    }
    if (waits_for_a_free_fd)
        end_task(waits_for_a_free_fd);
    free(waiting);
    sel_close(sel);
    close(listen_fd);
    close_signal_pipe();
    fprintf(stderr, "Stopped\n");
    return 0;
}
