/* Step 2: one select() loop serves every client at once.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o server server.c net.c */
#define DESCRIPTION "Step 2, a select() loop: every client at once" /* for -h */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

/* Stop reading a client owed more than this: a client that sends but never
 * reads must not make us hold unbounded output for it. */
#define OWED_LIMIT (64 * 1024)

/* Every reply is the same 12 bytes, so what a client is owed is a number, not a
 * buffer: we send slices of this block of replies (4,092 bytes, a send() of up to 4 KiB). */
#define REPLIES_PER_BLOCK 341
static char replies[REPLY_LEN * REPLIES_PER_BLOCK];

/* One client. select() needs fds below FD_SETSIZE, so they index this table. */
struct client {
    int fd;           /* -1: slot free */
    int eof;          /* the client has stopped sending (closed or half-closed) */
    size_t owed;      /* reply bytes owed, sent when the socket is writable */
    char name[32];    /* "127.0.0.1:54321" */
};

static struct client clients[FD_SETSIZE];
static int accepting = 1; /* 0 while we are out of fds: see accept_connection() */

static void accept_connection(int listen_fd)
{
    int fd = accept(listen_fd, NULL, NULL);
    char name[32];
    if (fd < 0) {
        /* Out of fds, accept() fails at once and the listening socket stays
         * readable: the loop would wake at once, forever. Stop watching it
         * until a client leaves and frees an fd. */
        if (out_of_fds(errno))
            accepting = 0;
        else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fprintf(stderr, "accept: %s\n", strerror(errno));
        return;
    }
    describe_peer(fd, name, sizeof name);
    /* Non-blocking: a slow client must never make a recv() or send() wait. */
    set_nonblocking(fd);
    /* FD_SET on an fd >= FD_SETSIZE writes past the fd_set: undefined behaviour.
     * select() cannot watch this client, so refuse it politely. */
    if (fd >= FD_SETSIZE) {
        fprintf(stderr, "Refused %s: fd %d is past select()'s limit of %d descriptors\n", name, fd, FD_SETSIZE);
        close(fd);
        return;
    }
    fprintf(stderr, "Connection from %s\n", name);
    clients[fd] = (struct client){ .fd = fd };
    memcpy(clients[fd].name, name, sizeof name);
}

static void close_client(struct client *c)
{
    fprintf(stderr, "Connection closed %s\n", c->name);
    close(c->fd);
    c->fd = -1;
    if (!accepting && !stop_requested) {
        accepting_again();
        accepting = 1;
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

/* A client select() says is ready: do what is ready. */
static void client_ready(struct client *c, int readable)
{
    if (readable)
        read_lines(c);
    /* Send what is owed at once, as asyncio's transports do: the socket is
     * almost always writable, and waiting to be told so would cost a turn of
     * the loop per reply. Only what the socket does not take waits for the
     * write set. */
    if (c->owed > 0)
        write_owed(c);
    /* Once the client stopped sending and is owed nothing, we are done. */
    if (c->eof && c->owed == 0)
        close_client(c);
}

static void event_loop(int listen_fd)
{
    while (!stop_requested) {
        fd_set readable, writable;
        int max_fd = listen_fd > signal_pipe[0] ? listen_fd : signal_pipe[0], n;
        FD_ZERO(&readable);
        FD_ZERO(&writable);
        if (accepting)
            FD_SET(listen_fd, &readable);
        FD_SET(signal_pipe[0], &readable);
        for (int fd = 0; fd < FD_SETSIZE; fd++) {
            struct client *c = &clients[fd];
            if (c->fd < 0)
                continue;
            /* Watch for reading only while the owed output is bounded, and for
             * writing only while something is owed: select() would otherwise
             * wake us at once, forever, for a socket we have nothing to send to. */
            if (!c->eof && c->owed <= OWED_LIMIT)
                FD_SET(fd, &readable);
            if (c->owed > 0)
                FD_SET(fd, &writable);
            if (fd > max_fd)
                max_fd = fd;
        }
        trace("select(): read set: the clients, the signal pipe%s; write set: the clients owed replies",
              accepting ? ", the listening socket" : "");
        n = select(max_fd + 1, &readable, &writable, NULL, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("select");
        }
        trace("select(): %d ready", n);
        if (FD_ISSET(signal_pipe[0], &readable)) {
            trace("signal pipe readable: a signal arrived, stopping");
            stop_requested = 1;
        }
        if (FD_ISSET(listen_fd, &readable)) {
            trace("listening socket readable: accept");
            accept_connection(listen_fd);
        }
        for (int fd = 0; fd <= max_fd; fd++) {
            struct client *c = &clients[fd]; /* c->fd < 0: a free slot, the listening socket or the signal pipe */
            if (c->fd >= 0 && (FD_ISSET(fd, &readable) || FD_ISSET(fd, &writable)))
                client_ready(c, FD_ISSET(fd, &readable));
        }
    }
}

int main(int argc, char **argv)
{
    int listen_fd, port = parse_args(argc, argv, DESCRIPTION);
    for (size_t i = 0; i < sizeof replies; i += REPLY_LEN)
        memcpy(replies + i, REPLY, REPLY_LEN);
    for (int fd = 0; fd < FD_SETSIZE; fd++)
        clients[fd].fd = -1;
    stop_by_self_pipe();
    listen_fd = listen_on(port);
    /* Non-blocking, so a client that vanishes between select() and accept()
     * cannot leave us stuck in accept(). */
    set_nonblocking(listen_fd);
    event_loop(listen_fd);
    for (int fd = 0; fd < FD_SETSIZE; fd++)
        if (clients[fd].fd >= 0)
            close_client(&clients[fd]);
    close(listen_fd);
    close_signal_pipe();
    fprintf(stderr, "Stopped\n");
    return 0;
}
