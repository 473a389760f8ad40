/* Step 3: a selector (selector.h) keeps (fd, events, callback) keys; the loop
 * asks it what is ready and calls back. No FD_SETSIZE cap: 10,000 clients work.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o server server.c net.c selector.c */
#define DESCRIPTION "Step 3, a selector and callbacks: thousands of clients" /* for -h */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "selector.h"

/* Stop reading a client owed more than this: a client that sends but never
 * reads must not make us hold unbounded output for it. */
#define OWED_LIMIT (64 * 1024)

/* Every reply is the same 12 bytes, so what a client is owed is a number, not a
 * buffer: we send slices of this block of replies (4,092 bytes, a send() of up to 4 KiB). */
#define REPLIES_PER_BLOCK 341
static char replies[REPLY_LEN * REPLIES_PER_BLOCK];

/* One client: the data its key carries. */
struct client {
    int fd;
    int eof;          /* the client has stopped sending (closed or half-closed) */
    size_t owed;      /* reply bytes owed, sent when the socket is writable */
    char name[32];    /* "127.0.0.1:54321" */
};

static int max_client_fd = -1; /* shutdown looks for clients up to this fd */
static int paused_fd = -1;     /* the listening socket while we are out of fds: see accept_connection() */

static void client_ready(struct selector *sel, int fd, int events, void *data);

static void accept_connection(struct selector *sel, int listen_fd, int events, void *data)
{
    int fd = accept(listen_fd, NULL, NULL);
    char name[32];
    struct client *c;
    (void)events, (void)data;
    if (fd < 0) {
        /* Out of fds, accept() fails at once and the listening socket stays
         * readable: the loop would wake at once, forever. Stop watching it
         * until a client leaves and frees an fd. */
        if (out_of_fds(errno)) {
            sel_modify(sel, listen_fd, 0, accept_connection, NULL);
            paused_fd = listen_fd;
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            fprintf(stderr, "accept: %s\n", strerror(errno));
        }
        return;
    }
    describe_peer(fd, name, sizeof name);
    /* Non-blocking: a slow client must never make a recv() or send() wait. */
    set_nonblocking(fd);
    c = calloc(1, sizeof *c);
    if (!c || sel_register(sel, fd, SEL_READ, client_ready, c) < 0) {
        fprintf(stderr, "Refused %s: %s\n", name, strerror(errno));
        free(c);
        close(fd);
        return;
    }
    fprintf(stderr, "Connection from %s\n", name);
    trace("fd %d: registered for reading, callback client_ready", fd);
    c->fd = fd;
    memcpy(c->name, name, sizeof name);
    if (fd > max_client_fd)
        max_client_fd = fd;
}

static void close_client(struct selector *sel, struct client *c)
{
    fprintf(stderr, "Connection closed %s\n", c->name);
    sel_unregister(sel, c->fd); /* before close(): the fd number may be reused at once */
    close(c->fd);
    free(c);
    if (paused_fd >= 0 && !stop_requested) {
        accepting_again();
        sel_modify(sel, paused_fd, SEL_READ, accept_connection, NULL);
        paused_fd = -1;
    }
}

/* Read what the client sent; every '\n' owes it one reply. */
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

/* The client's callback: do what is ready, then say what to wait for next. */
static void client_ready(struct selector *sel, int fd, int events, void *data)
{
    struct client *c = data;
    (void)fd;
    if (events & SEL_READ)
        read_lines(c);
    /* Send what is owed at once, as asyncio's transports do: the socket is
     * almost always writable, and waiting to be told so would cost a turn of
     * the loop and two epoll_ctl() calls per reply. Only what the socket does
     * not take waits for SEL_WRITE. */
    if (c->owed > 0)
        write_owed(c);
    /* Once the client stopped sending and is owed nothing, we are done. */
    if (c->eof && c->owed == 0) {
        close_client(sel, c);
        return;
    }
    /* Wait for reading only while the owed output is bounded, and for writing
     * only while something is owed: the selector would otherwise wake us at
     * once, forever, for a socket we have nothing to send to. */
    sel_modify(sel, c->fd, (!c->eof && c->owed <= OWED_LIMIT ? SEL_READ : 0) | (c->owed > 0 ? SEL_WRITE : 0),
               client_ready, c);
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

static void event_loop(struct selector *sel)
{
    struct sel_event ready[256];
    while (!stop_requested) {
        int n;
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
            trace("fd %d ready to %s: calling back", key->fd, event_names(events));
            key->callback(sel, key->fd, events, key->data);
        }
    }
}

int main(int argc, char **argv)
{
    int listen_fd, port = parse_args(argc, argv, DESCRIPTION);
    int fd_limit = raise_fd_limit();
    struct selector *sel = sel_create();
    for (size_t i = 0; i < sizeof replies; i += REPLY_LEN)
        memcpy(replies + i, REPLY, REPLY_LEN);
    stop_by_self_pipe();
    listen_fd = listen_on(port);
    /* Non-blocking, so a client that vanishes between select() and accept()
     * cannot leave us stuck in accept(). */
    set_nonblocking(listen_fd);
    if (!sel || sel_register(sel, listen_fd, SEL_READ, accept_connection, NULL) < 0 ||
        sel_register(sel, signal_pipe[0], SEL_READ, stop_loop, NULL) < 0) {
        fprintf(stderr, "%s: cannot create the %s selector: %s\n", prog, sel_backend(), strerror(errno));
        exit(1);
    }
    trace("selector backend: %s, up to %d fds", sel_backend(), fd_limit);
    trace("fd %d (listening socket): registered for reading, callback accept_connection", listen_fd);
    event_loop(sel);
    for (int fd = 0; fd <= max_client_fd; fd++) {
        const struct sel_key *key = sel_get_key(sel, fd);
        if (key && key->callback == client_ready)
            close_client(sel, key->data);
    }
    sel_close(sel);
    close(listen_fd);
    close_signal_pipe();
    fprintf(stderr, "Stopped\n");
    return 0;
}
