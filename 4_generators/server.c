/* Step 4: the server as generators (gen.h) that yield what they wait for,
 * (SEL_READ or SEL_WRITE, fd); a round-robin loop runs the ready ones.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o server server.c gen.c selector.c */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gen.h"
#include "selector.h"

#define DEFAULT_PORT 5000
#define REPLY "Hello world\n"
#define REPLY_LEN (sizeof REPLY - 1)

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

/* What a generator yields: the event it waits for, on which fd (the lesson's
 * ('read', sock) and ('write', sock)). Kept in the generator's frame. */
struct io_wait {
    int events; /* SEL_READ or SEL_WRITE */
    int fd;
};

/* The ready queue (the lesson's tasks list): generators that can run now,
 * first in, first out. The generators waiting to read or to write (the
 * lesson's to_read and to_write) are in the selector: each fd's key holds the
 * generator waiting on it. */
static struct {
    struct gen **items; /* a ring: items[head] is next, then the following len - 1 */
    size_t head, len, size;
} tasks;

/* Makes room for the generator owning fd, before it is created. Every
 * generator owns one fd, and is either in the queue or in its fd's key, never
 * both; so with a slot per fd number, adding to the queue never fails, even
 * when the selector wakes every generator at once. -1 if memory is short. */
static int tasks_reserve(int fd)
{
    size_t size = tasks.size ? tasks.size : 64;
    struct gen **items;
    while (size <= (size_t)fd)
        size *= 2;
    if (size == tasks.size)
        return 0;
    items = malloc(size * sizeof *items);
    if (!items)
        return -1;
    for (size_t i = 0; i < tasks.len; i++)
        items[i] = tasks.items[(tasks.head + i) % tasks.size];
    free(tasks.items);
    tasks.items = items;
    tasks.head = 0;
    tasks.size = size;
    return 0;
}

static void tasks_push(struct gen *g)
{
    tasks.items[(tasks.head + tasks.len++) % tasks.size] = g;
}

static struct gen *tasks_pop(void)
{
    struct gen *g = tasks.items[tasks.head];
    tasks.head = (tasks.head + 1) % tasks.size;
    tasks.len--;
    return g;
}

/* The callback of every key: the generator waiting on this fd can run again.
 * The fd stays registered for the same event, so that waiting for it again
 * costs no system call; but its key no longer holds the generator, which is
 * now in the ready queue only: an fd reported twice cannot queue it twice. */
static void wake(struct selector *sel, int fd, int events, void *data)
{
    (void)events;
    if (!data)
        return; /* woken already */
    sel_modify(sel, fd, sel_get_key(sel, fd)->events, wake, NULL);
    tasks_push(data);
}

/* One client generator's frame: what must survive its yields. 88 bytes on a
 * 64-bit machine (24 of them the struct gen, 32 the name); that, its key in
 * the selector and its slot in the ready queue are all an idle client costs
 * besides the kernel's socket. */
struct client {
    struct gen gen;
    struct io_wait waits_for; /* what it waits for: the value it yields */
    struct selector *sel; /* to unregister its fd at the end */
    int fd;
    int eof;          /* the client has stopped sending (closed or half-closed) */
    size_t owed;      /* reply bytes owed, sent when the socket is writable */
    char name[32];    /* "127.0.0.1:54321" */
};

/* The frame itself is freed by the loop, once the generator has finished. */
static void close_client(struct selector *sel, struct client *c)
{
    fprintf(stderr, "Connection closed %s\n", c->name);
    sel_unregister(sel, c->fd); /* before close(): the fd number may be reused at once */
    close(c->fd);
}

static int client_body(struct gen *g);

/* The server generator calls this each time the listening socket is readable. */
static void accept_connection(struct selector *sel, int listen_fd)
{
    int fd = accept(listen_fd, NULL, NULL);
    char name[32];
    struct client *c;
    if (fd < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            fprintf(stderr, "accept: %s\n", strerror(errno));
        return;
    }
    describe_peer(fd, name, sizeof name);
    /* Non-blocking: a slow client must never make a recv() or send() wait. */
    set_nonblocking(fd);
    c = calloc(1, sizeof *c);
    /* Register the fd now, with no generator in its key yet (the client fills
     * it in when it first yields), so that a client with no room is refused here. */
    if (!c || tasks_reserve(fd) < 0 || sel_register(sel, fd, SEL_READ, wake, NULL) < 0) {
        fprintf(stderr, "Refused %s: %s\n", name, strerror(errno));
        free(c);
        close(fd);
        return;
    }
    fprintf(stderr, "Connection from %s\n", name);
    gen_init(&c->gen, client_body);
    c->waits_for.fd = fd;
    c->sel = sel;
    c->fd = fd;
    memcpy(c->name, name, sizeof name);
    tasks_push(&c->gen); /* the lesson's tasks.append(client(client_socket)) */
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

/* Send as much of what is owed as the socket takes now; the rest waits for
 * the next time the selector says the socket is writable. */
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
    struct gen gen;
    struct io_wait waits_for; /* always (SEL_READ, the listening socket) */
    struct selector *sel;
};

static int server_body(struct gen *g)
{
    struct server *self = (struct server *)g;
    GEN_BEGIN(g);
    for (;;) {
        GEN_YIELD(g, &self->waits_for);
        accept_connection(self->sel, self->waits_for.fd);
    }
    GEN_END(g);
}

/* A generator that will not run again (we stop, or cannot watch its fd):
 * close a client's connection, as its body will not get to, and free the frame. */
static void end_task(struct gen *task)
{
    if (task->body == client_body)
        close_client(((struct client *)task)->sel, (struct client *)task);
    free(task);
}

/* The self-pipe's callback: a signal arrived. */
static void stop_loop(struct selector *sel, int fd, int events, void *data)
{
    (void)sel, (void)fd, (void)events, (void)data;
    trace("signal received: stopping");
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
        while (tasks.len > 0) {
            struct gen *task = tasks_pop();
            struct io_wait *w;
            if (task->body == client_body)
                trace("running client fd %d", ((struct client *)task)->fd);
            else
                trace("running server");
            w = gen_next(task);
            if (w == GEN_EXHAUSTED) {
                trace("finished: frame freed");
                free(task); /* it has closed its socket */
                continue;
            }
            /* File it under what it waits for: the key of its fd, registered
             * when the fd was opened, now holds it. Waiting again for the same
             * event, as a woken generator mostly does, changes nothing in the
             * kernel: no system call. */
            trace("fd %d waits to %s", w->fd, event_names(w->events));
            if (sel_modify(sel, w->fd, w->events, wake, task) < 0) {
                /* The kernel cannot watch the fd (short of memory): give up on
                 * that client. (The server always waits for the same event.) */
                fprintf(stderr, "cannot wait on fd %d: %s\n", w->fd, strerror(errno));
                end_task(task);
            }
        }
        trace("select(): waiting");
        n = sel_select(sel, ready, 256, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("select");
            exit(1);
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

#define MACOS_OPEN_MAX 10240 /* OPEN_MAX in macOS's <sys/syslimits.h>, hidden by _POSIX_C_SOURCE */

/* Each client costs an fd: allow as many as the hard limit lets us, and
 * return that limit (no fd is numbered past it). */
static int raise_fd_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
        return 1024;
    if (lim.rlim_cur < lim.rlim_max) {
        rlim_t was = lim.rlim_cur;
        lim.rlim_cur = lim.rlim_max;
        /* macOS may report an unlimited hard limit and still refuse more than
         * OPEN_MAX (setrlimit(2)): then ask for that much. */
        if (setrlimit(RLIMIT_NOFILE, &lim) < 0 && was < MACOS_OPEN_MAX && lim.rlim_max > MACOS_OPEN_MAX) {
            lim.rlim_cur = MACOS_OPEN_MAX;
            setrlimit(RLIMIT_NOFILE, &lim);
        }
        getrlimit(RLIMIT_NOFILE, &lim);
    }
    return lim.rlim_cur > INT_MAX ? INT_MAX : (int)lim.rlim_cur;
}

int main(int argc, char **argv)
{
    int port, listen_fd, fd_limit;
    struct selector *sel;
    struct server *server;
    if (argc > 0)
        prog = argv[0];
    port = parse_args(argc, argv);
    for (size_t i = 0; i < sizeof replies; i += REPLY_LEN)
        memcpy(replies + i, REPLY, REPLY_LEN);
    fd_limit = raise_fd_limit();
    setup_signals();
    listen_fd = listen_on(port);
    /* Non-blocking, so a client that vanishes between select() and accept()
     * cannot leave us stuck in accept(). */
    set_nonblocking(listen_fd);
    sel = sel_create();
    server = calloc(1, sizeof *server);
    if (!sel || !server || tasks_reserve(listen_fd) < 0 ||
        sel_register(sel, listen_fd, SEL_READ, wake, NULL) < 0 ||
        sel_register(sel, signal_pipe[0], SEL_READ, stop_loop, NULL) < 0) {
        fprintf(stderr, "%s: cannot create the %s selector: %s\n", prog, sel_backend(), strerror(errno));
        exit(1);
    }
    trace("selector backend: %s, up to %d fds", sel_backend(), fd_limit);
    gen_init(&server->gen, server_body);
    server->waits_for = (struct io_wait){ SEL_READ, listen_fd };
    server->sel = sel;
    tasks_push(&server->gen); /* the lesson's tasks.append(server()) */
    event_loop(sel);
    /* Free every generator: each is either in the ready queue or in its fd's key. */
    while (tasks.len > 0)
        end_task(tasks_pop());
    for (int fd = 0; fd < fd_limit; fd++) {
        const struct sel_key *key = sel_get_key(sel, fd);
        if (key && key->data)
            end_task(key->data);
    }
    free(tasks.items);
    sel_close(sel);
    close(listen_fd);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    fprintf(stderr, "Stopped\n");
    return 0;
}
