/* What the programs of step 6 share around the event loop (common.c). The
 * names are those the servers of earlier steps give the same functions. */
#ifndef COMMON_H
#define COMMON_H

#include <stddef.h>
#include <stdio.h>

#include "asyncio.h"

/* The program's name for messages (argv[0]), and whether -v was given. */
extern const char *prog;
extern int verbose;

/* Each program's own help text; bad_usage() prints it after the error. */
void usage(FILE *out);
/* "PROG: what: arg", the usage, and exit 2. */
void bad_usage(const char *what, const char *arg);
/* One line on stderr, only with -v. */
void trace(const char *fmt, ...);
/* SIGPIPE ignored (EPIPE instead); SIGINT and SIGTERM stop the loop. */
void setup_signals(struct loop *loop);
/* "127.0.0.1:54321" for a connected socket. */
void describe_peer(int fd, char *out, size_t size);
void set_nonblocking(int fd);
/* A socket listening on 127.0.0.1:port, announced on stdout as
 * "Listening on 127.0.0.1:PORT"; or exit with a message saying what to do. */
int listen_on(int port);
/* Raises the soft limit on open fds to the hard one; returns the limit. */
int raise_fd_limit(void);

/* One connection's task: the first member of each server's client frame. */
struct conn {
    struct gen gen;   /* first: the coroutine's frame starts here */
    struct task task; /* runs the coroutine; done once it has ended */
    struct loop *loop;
    int fd;
    char name[32];    /* "127.0.0.1:54321" */
};

/* The task that accepts connections (the lesson's async server()). */
struct server {
    struct gen gen;
    struct task task;
    struct sock_op io; /* always an accept on the listening socket */
    struct fut pause;  /* after a failed accept */
    struct loop *loop;
    int listen_fd;
    int (*client_body)(struct gen *g);
    size_t client_size;
};

/* asyncio.start_server(): a task accepting connections on listen_fd; each
 * gets a zeroed frame of client_size bytes (a struct whose first member is a
 * struct conn) and a task running client_body on it. When that task ends, for
 * whatever reason, the connection is closed and the frame freed. */
void aio_start_server(struct loop *loop, struct server *server, int listen_fd, int (*client_body)(struct gen *g),
                  size_t client_size);
/* A whole server's life, asyncio.run(aio_start_server(...)) then serve_forever():
 * a loop, signals, 127.0.0.1:port, aio_start_server(), then the loop runs until
 * SIGINT or SIGTERM, and every task is cancelled and freed. Returns 0. */
int run_server(int port, int (*client_body)(struct gen *g), size_t client_size);

#endif
