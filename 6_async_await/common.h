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
/* The PORT argument, 0-65535 and given once (have_port says whether it was
 * already); or bad_usage(). */
int port_arg(const char *arg, int *have_port);
/* One line on stderr, only with -v. */
void trace(const char *fmt, ...);
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
    struct server *server;
    int fd;
    char name[32];    /* "127.0.0.1:54321" */
};

/* The server's main coroutine (the lesson's async server()): it listens, then
 * accepts connections; each gets a zeroed frame of client_size bytes (a struct
 * whose first member is a struct conn) and a task running client_body on it.
 * When that task ends, for whatever reason, the connection is closed and the
 * frame freed. */
struct server {
    struct gen gen;
    struct sock_op io;       /* always an accept on the listening socket */
    struct fut pause;        /* after a failed accept */
    struct fut client_left;  /* out of fds: done when a client leaves */
    int waiting_for_client, out_of_fds;
    struct loop *loop;
    int port, listen_fd;
    size_t nclients;
    int (*client_body)(struct gen *g);
    size_t client_size;
};

/* A whole server's life, asyncio.run(server()): a loop, 127.0.0.1:port, every
 * client served until SIGINT or SIGTERM, then every task cancelled and freed.
 * Returns 0. */
int run_server(int port, int (*client_body)(struct gen *g), size_t client_size);

#endif
