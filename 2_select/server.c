/* Step 2: one select() loop serves every client at once.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o server server.c */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 5000
#define REPLY "Hello world\n"
#define REPLY_LEN (sizeof REPLY - 1)
/* Stop reading a client owed more than this: a client that sends but never
 * reads must not make us hold unbounded output for it. */
#define OWED_LIMIT (64 * 1024)

static const char *prog = "server";
static int verbose;
static int stop_requested;
/* The self-pipe: the signal handler writes a byte into it, so a signal becomes
 * an event the loop waits for like any other. (A flag alone could be set just
 * after the loop checked it and before it went to sleep: it would sleep on.) */
static int signal_pipe[2];

/* Every reply is the same 12 bytes, so what a client is owed is a number, not
 * a buffer: we send slices of this block of replies until the count drops to 0. */
static char replies[REPLY_LEN * 341];

static void trace(const char *fmt, ...)
{
    va_list ap;
    if (!verbose)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void set_nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void on_signal(int sig)
{
    int saved_errno = errno;
    (void)sig;
    if (write(signal_pipe[1], "", 1) < 0) {
        /* the pipe is full: a stop is already pending */
    }
    errno = saved_errno;
}

/* SIGPIPE would kill us when writing to a client that reset; we want EPIPE.
 * SIGINT/SIGTERM write to the self-pipe, and the loop ends cleanly. */
static void setup_signals(void)
{
    struct sigaction sa;
    if (pipe(signal_pipe) < 0) {
        perror("pipe");
        exit(1);
    }
    set_nonblocking(signal_pipe[0]);
    set_nonblocking(signal_pipe[1]);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

static void usage(FILE *out)
{
    fprintf(out, "usage: %s [-v] [PORT]\n"
                 "  Answers 'Hello world' to every line, on 127.0.0.1:PORT (default %d, 0 = any free port).\n"
                 "  -v  trace what the event loop decides\n"
                 "  -h  show this help\n",
            prog, DEFAULT_PORT);
}

static void bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, arg);
    usage(stderr);
    exit(2);
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
            char *end;
            long n;
            errno = 0;
            n = strtol(arg, &end, 10);
            if (have_port || end == arg || *end != '\0' || errno || n < 0 || n > 65535)
                bad_usage("not a port number (0-65535)", arg);
            port = (int)n;
            have_port = 1;
        }
    }
    return port;
}

static void describe_peer(int fd, char *out, size_t size)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    char ip[INET_ADDRSTRLEN] = "?";
    if (getpeername(fd, (struct sockaddr *)&addr, &len) == 0) {
        inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof ip);
        snprintf(out, size, "%s:%u", ip, (unsigned)ntohs(addr.sin_port));
    } else {
        snprintf(out, size, "fd %d", fd);
    }
}

/* Socket, bind and listen on 127.0.0.1:port, or exit with a message saying what to do. */
static int listen_on(int port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    /* Restarting the server must not fail for the minute the last run's
     * connections linger in TIME_WAIT. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    /* 127.0.0.1: macOS hides INADDR_LOOPBACK under _POSIX_C_SOURCE */
    addr.sin_addr.s_addr = htonl(0x7f000001);
    addr.sin_port = htons((unsigned short)port);
    if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        if (errno == EADDRINUSE)
            fprintf(stderr, "%s: port %d is in use; try: %s %d\n", prog, port, prog,
                    port < 65535 ? port + 1 : 0);
        else
            fprintf(stderr, "%s: cannot bind 127.0.0.1:%d: %s\n", prog, port, strerror(errno));
        exit(1);
    }
    /* The largest backlog the system allows: with a small one, a burst of
     * connections waits seconds for SYN retries. */
    if (listen(fd, SOMAXCONN) < 0) {
        perror("listen");
        exit(1);
    }
    getsockname(fd, (struct sockaddr *)&addr, &len);
    printf("Listening on 127.0.0.1:%u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

/* One client. select() needs fds below FD_SETSIZE, so they index this table. */
struct client {
    int fd;           /* -1: slot free */
    int eof;          /* the client has stopped sending (closed or half-closed) */
    size_t owed;      /* reply bytes owed, sent when the socket is writable */
    char name[32];    /* "127.0.0.1:54321" */
};

static struct client clients[FD_SETSIZE];

static void close_client(struct client *c)
{
    fprintf(stderr, "Connection closed %s\n", c->name);
    close(c->fd);
    c->fd = -1;
}

static void accept_connection(int listen_fd)
{
    int fd = accept(listen_fd, NULL, NULL);
    char name[32];
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fprintf(stderr, "accept: %s\n", strerror(errno));
        return;
    }
    describe_peer(fd, name, sizeof name);
    /* FD_SET on an fd >= FD_SETSIZE writes past the fd_set: undefined behaviour.
     * select() cannot watch this client, so refuse it politely. */
    if (fd >= FD_SETSIZE) {
        fprintf(stderr, "Refused %s: fd %d is past select()'s limit of %d descriptors\n",
                name, fd, FD_SETSIZE);
        close(fd);
        return;
    }
    /* Non-blocking: a slow client must never make a recv() or send() wait. */
    set_nonblocking(fd);
    fprintf(stderr, "Connection from %s\n", name);
    clients[fd] = (struct client){ .fd = fd };
    memcpy(clients[fd].name, name, sizeof name);
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

/* Send as much of what is owed as the socket takes now; the rest waits for
 * the next time select() says the socket is writable. */
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

static int count_set(const fd_set *set, int max_fd)
{
    int n = 0;
    for (int fd = 0; fd <= max_fd; fd++)
        n += FD_ISSET(fd, set) != 0;
    return n;
}

static void event_loop(int listen_fd)
{
    while (!stop_requested) {
        fd_set readable, writable;
        int max_fd = listen_fd > signal_pipe[0] ? listen_fd : signal_pipe[0];
        FD_ZERO(&readable);
        FD_ZERO(&writable);
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
        trace("select(): waiting for %d fds to read, %d to write", count_set(&readable, max_fd),
              count_set(&writable, max_fd));
        if (select(max_fd + 1, &readable, &writable, NULL, NULL) < 0) {
            if (errno == EINTR)
                continue;
            perror("select");
            exit(1);
        }
        trace("select(): %d readable, %d writable", count_set(&readable, max_fd),
              count_set(&writable, max_fd));
        if (FD_ISSET(signal_pipe[0], &readable)) {
            trace("signal received: stopping");
            stop_requested = 1;
        }
        if (FD_ISSET(listen_fd, &readable)) {
            trace("listening socket readable: accept");
            accept_connection(listen_fd);
        }
        for (int fd = 0; fd <= max_fd; fd++) {
            struct client *c = &clients[fd];
            if (c->fd < 0) /* a free slot, or the listening socket or the self-pipe */
                continue;
            if (FD_ISSET(fd, &readable))
                read_lines(c);
            /* Send what is owed at once, as asyncio's transports do: the
             * socket is almost always writable, and waiting for select() to
             * say so would cost a turn of the loop per reply. Only what the
             * socket does not take waits for the write set. */
            if (c->owed > 0 && (FD_ISSET(fd, &readable) || FD_ISSET(fd, &writable)))
                write_owed(c);
            /* Once the client stopped sending and is owed nothing, we are done. */
            if (c->eof && c->owed == 0)
                close_client(c);
        }
    }
}

int main(int argc, char **argv)
{
    int port, listen_fd;
    if (argc > 0)
        prog = argv[0];
    port = parse_args(argc, argv);
    for (size_t i = 0; i < sizeof replies; i += REPLY_LEN)
        memcpy(replies + i, REPLY, REPLY_LEN);
    for (int fd = 0; fd < FD_SETSIZE; fd++)
        clients[fd].fd = -1;
    setup_signals();
    listen_fd = listen_on(port);
    /* Non-blocking, so a client that vanishes between select() and accept()
     * cannot leave us stuck in accept(). */
    set_nonblocking(listen_fd);
    event_loop(listen_fd);
    for (int fd = 0; fd < FD_SETSIZE; fd++)
        if (clients[fd].fd >= 0)
            close_client(&clients[fd]);
    close(listen_fd);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    fprintf(stderr, "Stopped\n");
    return 0;
}
