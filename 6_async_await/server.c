/* Step 6: the server on a small asyncio (asyncio.h): one task per client awaits
 * socket operations (futures); the loop runs each task when its future is done.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o server server.c common.c tasks.c futures.c loop.c signals.c sockets.c gen.c selector.c */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "asyncio.h"
#include "common.h"

#define DEFAULT_PORT 5000
#define REPLY "Hello world\n"
#define REPLY_LEN (sizeof REPLY - 1)

#define REPLIES_PER_BLOCK 341 /* 4 KiB of replies */

/* Every reply is the same 12 bytes, so what a client is owed is a number, not
 * a buffer: we send slices of this block of replies until the count drops to 0. */
static char replies[REPLY_LEN * REPLIES_PER_BLOCK];

void usage(FILE *out)
{
    fprintf(out, "usage: %s [-v] [PORT]\n"
                 "  Answers 'Hello world' to every line, on 127.0.0.1:PORT (default %d, 0 = any free port).\n"
                 "  -v  trace what the event loop decides\n"
                 "  -h  show this help\n",
            prog, DEFAULT_PORT);
}

static int parse_args(int argc, char **argv)
{
    int port = DEFAULT_PORT, have_port = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(arg, "-v") == 0) {
            verbose = 1;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            bad_usage("unknown option", arg);
        } else {
            port = port_arg(arg, &have_port);
        }
    }
    return port;
}

/* The frame of the writer, the sub-coroutine a client delegates its writes to. */
struct writer {
    struct gen gen;
    struct client *client;
};

/* One client task: its connection (common.h: the task, the fd, the name), the
 * socket operation it awaits and its coroutine's frame, in one allocation of
 * about 420 bytes on a 64-bit machine: all a client costs besides its socket.
 * No receive buffer: a task reads only once its socket is readable, into the
 * one buffer all clients share, and counts the lines before awaiting again. */
struct client {
    struct conn conn;      /* first: its task, fd and name (common.h) */
    struct sock_op io;     /* the socket operation it awaits: its future */
    int eof;          /* the client has stopped sending (closed or half-closed) */
    size_t owed;      /* reply bytes owed, sent before reading more */
    struct writer writer; /* the sub-coroutine that sends what is owed */
};

static char buf[4096];

/* One recv(), which cannot block now, into the buffer all clients share; every
 * '\n' owes the client one reply. Returns 0, or -1 with errno (to raise). */
static int read_lines(struct client *c)
{
    ssize_t n = recv(c->conn.fd, buf, sizeof buf, 0);
    size_t lines = 0;
    if (n < 0) /* nothing after all (another reader took it, a signal): wait again */
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    for (ssize_t i = 0; i < n; i++)
        lines += buf[i] == '\n';
    c->owed += lines * REPLY_LEN;
    if ((c->eof = n == 0))
        trace("fd %d: end of stream, %zu bytes still owed", c->conn.fd, c->owed);
    else
        trace("fd %d: read %zd bytes, %zu lines, %zu bytes owed", c->conn.fd, n, lines, c->owed);
    return 0;
}

/* The writer's body, a sub-coroutine: it awaits the sending of what is owed,
 * a block of replies at a time (sock_sendall continues partial sends as the
 * socket becomes writable), until nothing is owed. A send error is raised out
 * of it, through the client, and ends the client's task. */
static int write_owed_body(struct gen *g)
{
    struct client *c = ((struct writer *)g)->client;
    GEN_BEGIN(g);
    while (c->owed > 0) {
        size_t len = c->owed < sizeof replies ? c->owed : sizeof replies;
        AWAIT(g, sock_sendall(c->conn.loop, &c->io, c->conn.fd, replies, len));
        c->owed -= c->io.n;
        trace("fd %d: sent %zu bytes, %zu still owed", c->conn.fd, c->io.n, c->owed);
    }
    GEN_END(g);
}

/* The client coroutine (the lesson's async client()): it awaits readability
 * and each send; an error (a reset, ...) is raised out of it and ends its task. */
static int client_body(struct gen *g)
{
    struct client *c = (struct client *)g;
    GEN_BEGIN(g);
    c->writer.client = c;
    while (!c->eof) {
        /* curio's `await read_wait(sock)`, then one recv() that cannot block. */
        AWAIT(g, sock_read_wait(c->conn.loop, &c->io, c->conn.fd));
        if (read_lines(c) < 0)
            GEN_RAISE(g, errno);
        /* Write everything owed before reading again. That also bounds the
         * output held for a client that sends but never reads, with no limit
         * to check: one read of 4 KiB owes at most 4,096 replies (48 KiB),
         * and nothing more is read until they are sent. The writer does it:
         * awaiting a coroutine is delegating to it (yield from). */
        if (c->owed > 0) {
            gen_init(&c->writer.gen, write_owed_body);
            AWAIT_CORO(g, &c->writer.gen);
        }
    }
    /* The client stopped sending and is owed nothing: we are done. */
    GEN_END(g);
}

int main(int argc, char **argv)
{
    int port;
    if (argc > 0)
        prog = argv[0];
    port = parse_args(argc, argv);
    for (size_t i = 0; i < sizeof replies; i += REPLY_LEN)
        memcpy(replies + i, REPLY, REPLY_LEN);
    return run_server(port, client_body, sizeof(struct client));
}
