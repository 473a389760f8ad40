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
/* Runs the loop until SIGINT or SIGTERM stops it. */
void event_loop(struct loop *loop);
/* Raises the soft limit on open fds to the hard one; returns the limit. */
int raise_fd_limit(void);

#endif
