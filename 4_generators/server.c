/* Step 4: the server as generators (gen.h) that yield what they wait for,
 * (SEL_READ or SEL_WRITE, fd); a round-robin loop runs the ready ones.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o server server.c net.c gen.c selector.c */
#define DESCRIPTION "Step 4, generators: the server as generators on a ready queue" /* for -h */
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
 * ('read', sock) and ('write', sock)). Kept in the generator's frame. */
struct io_wait {
    int events; /* SEL_READ or SEL_WRITE; 0: no event, the server waits for a client to leave */
    int fd;
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

/* One client generator's frame: what must survive its yields. 96 bytes on a
 * 64-bit machine (24 of them the struct gen, 32 the name); that, its key in
 * the selector and its slot in to_read and to_write are all an idle client
 * costs besides the kernel's socket. */
struct client {
    struct task task;
    struct io_wait waits_for; /* what it waits for: the value it yields */
    struct selector *sel; /* to unregister its fd at the end */
    int fd;
    int eof;          /* the client has stopped sending (closed or half-closed) */
    size_t owed;      /* reply bytes owed, sent when the socket is writable */
    char name[32];    /* "127.0.0.1:54321" */
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

/* The server generator calls this each time the listening socket is readable.
 * Returns -1 when we are out of fds. */
static int accept_connection(struct selector *sel, int listen_fd)
{
    int fd = accept(listen_fd, NULL, NULL);
    char name[32];
    struct client *c;
    if (fd < 0) {
        if (out_of_fds(errno))
            return -1;
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fprintf(stderr, "accept: %s\n", strerror(errno));
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

/* Read what the client sent; every '\n' owes it one reply. The 4 KiB buffer
 * is a local, not in the client's frame: it is used only between two yields,
 * so nothing in it has to survive one (gen.h's ground rule), and an idle
 * client does not cost 4 KiB more. */
static void read_lines(struct client *c)
{
    char buf[4096];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n > 0) {
        size_t lines = 0;
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        c->owed += lines * REPLY_LEN;
        trace("fd %d: read %zd bytes, %zu lines, %zu bytes owed", c->fd, n, lines, c->owed);
    } else if (n == 0) {
        trace("fd %d: end of stream, %zu bytes still owed", c->fd, c->owed);
        c->eof = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        trace("fd %d: recv: %s", c->fd, strerror(errno));
        c->eof = 1;
        c->owed = 0; /* the connection is broken: nobody will read what we owe */
    }
}

/* Send as much of what is owed as the socket takes now; the rest waits until
 * the socket is writable again. */
static void write_owed(struct client *c)
{
    size_t start = (REPLY_LEN - c->owed % REPLY_LEN) % REPLY_LEN; /* resume mid-reply */
    size_t len = sizeof replies - start;
    ssize_t n;
    if (len > c->owed)
        len = c->owed;
    n = send(c->fd, replies + start, len, 0);
    if (n >= 0) {
        c->owed -= (size_t)n;
        trace("fd %d: sent %zd bytes, %zu still owed", c->fd, n, c->owed);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        trace("fd %d: send: %s", c->fd, strerror(errno));
        c->eof = 1;
        c->owed = 0;
    }
}

/* The client generator (the lesson's client()): it yields before each read
 * and each write, and the loop resumes it once the socket is ready. */
static int client_body(struct gen *g)
{
    struct client *c = (struct client *)g;
    GEN_BEGIN(g);
    while (!c->eof) {
        c->waits_for.events = SEL_READ;
        GEN_YIELD(g, &c->waits_for);
        read_lines(c);
        /* Write everything owed before reading again. That also bounds the
         * output held for a client that sends but never reads, with no limit
         * to check: one read of 4 KiB owes at most 4,096 replies (48 KiB),
         * and nothing more is read until they are sent. As in step 3, what is
         * owed is sent at once: the socket is almost always writable, and
         * asking the selector first would cost a turn of the loop and two
         * epoll_ctl() calls per reply. Only what the socket does not take
         * waits for (SEL_WRITE, fd). */
        if (c->owed > 0)
            write_owed(c);
        while (c->owed > 0) {
            c->waits_for.events = SEL_WRITE;
            GEN_YIELD(g, &c->waits_for);
            write_owed(c);
        }
    }
    /* The client stopped sending and is owed nothing: we are done. */
    close_client(c->sel, c);
    GEN_END(g);
}

/* The server generator (the lesson's server()): it yields before each accept. */
struct server {
    struct task task;
    struct io_wait waits_for; /* (SEL_READ, the listening socket) */
    struct selector *sel;
};

static int server_body(struct gen *g)
{
    struct server *self = (struct server *)g;
    GEN_BEGIN(g);
    for (;;) {
        self->waits_for.events = SEL_READ;
        GEN_YIELD(g, &self->waits_for);
        if (accept_connection(self->sel, self->waits_for.fd) < 0) {
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

/* The scheduler (the lesson's event_loop()): run the ready generators, each to
 * its next yield, then wait for the selector to wake some. */
static void event_loop(struct selector *sel)
{
    struct sel_event ready[256];
    while (!stop_requested) {
        int n;
        while (tasks.first) {
            struct task *task = tasks_pop(), **slot;
            struct io_wait *w;
            if (task->gen.body == client_body)
                trace("running client fd %d", ((struct client *)task)->fd);
            else
                trace("running server");
            w = gen_next(&task->gen);
            if (w == GEN_EXHAUSTED) {
                trace("finished: frame freed");
                free(task); /* it has closed its socket */
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
    server->waits_for.fd = listen_fd;
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
