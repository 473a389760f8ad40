/* The plumbing every server of steps 1 to 5 shares, so that each server.c holds
 * only its step's idea: the command line, the listening socket, peer names,
 * the trace, non-blocking sockets, the fd limit, and how a signal stops the
 * server. The same bytes in every step folder (tests/copies_test.c checks). */
#ifndef NET_H
#define NET_H

#include <signal.h>
#include <stddef.h>

#define DEFAULT_PORT 5000
/* The protocol every server speaks: this reply for every line it receives. */
#define REPLY "Hello world\n"
#define REPLY_LEN (sizeof REPLY - 1)

/* The program's name for messages (argv[0]), and whether -v was given. */
extern const char *prog;
extern int verbose;

/* Reads the command line, [-v] [PORT], and returns the port. -h prints the
 * usage, with the program's one-line description, and exits 0; anything
 * else says what is wrong, prints the usage and exits 2. */
int parse_args(int argc, char **argv, const char *description);
/* One line on stderr, only with -v. */
void trace(const char *fmt, ...);
/* A socket listening on 127.0.0.1:port, announced on stdout as
 * "Listening on 127.0.0.1:PORT"; or exit 1 with a message saying what to do. */
int listen_on(int port);
/* "127.0.0.1:54321" for a connected socket (32 bytes are enough). */
void describe_peer(int fd, char *out, size_t size);
void set_nonblocking(int fd);
/* perror(what), then exit 1: a call the server cannot go on without failed. */
void die(const char *what);
/* Raises the soft limit on open fds to the hard one; returns the limit. */
int raise_fd_limit(void);
/* Out of fds, accept() fails at once while the listening socket stays
 * readable, so the servers of steps 2 to 5 stop watching it until a client
 * leaves. out_of_fds() is 1 if err (from accept()) says so, and then says
 * "out of file descriptors: not accepting until a client leaves";
 * accepting_again() says "accepting again". */
int out_of_fds(int err);
void accepting_again(void);

/* How SIGINT (Ctrl-C) and SIGTERM stop a server. Each step uses one of the
 * two; both ignore SIGPIPE, so that writing to a client that reset fails
 * with EPIPE instead of killing us.
 * - Step 1, stop_by_shutdown(): the handler sets stop_requested and shuts
 *   down the sockets in shutdown_on_signal, so that the accept(), recv() or
 *   send() blocked on one of them returns at once.
 * - Steps 2 to 5, stop_by_self_pipe(): the handler writes a byte into
 *   signal_pipe, so a signal becomes an event the loop waits for like any
 *   other; the loop then sets stop_requested itself.
 * (A flag alone could be set just after the loop checked it and before the
 * call blocked: it would block on.) */
extern volatile sig_atomic_t stop_requested;
extern volatile sig_atomic_t shutdown_on_signal[2]; /* step 1: fds, -1 for none */
extern int signal_pipe[2];                          /* steps 2-5: read from [0] */
void stop_by_shutdown(void);
void stop_by_self_pipe(void);
void close_signal_pipe(void);

#endif
