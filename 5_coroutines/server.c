/* Step 5: the server as coroutines that receive the results of their I/O: a
 * client yields the recv() or send() it wants, the loop does it once the fd is
 * ready and sends the result in (gen_send) or throws the error in (gen_throw).
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
 * ('read', sock) and ('write', sock)), and now also the I/O that the loop
 * does for it once the fd is ready. Kept in the generator's frame. */
struct io_wait {
    int events; /* SEL_READ or SEL_WRITE */
    int fd;
    int io;           /* 1: the loop does the recv() (SEL_READ) or send() (SEL_WRITE);
                         0: it only wakes the generator (the server accepts by itself) */
    const char *data; /* SEL_WRITE: the bytes to send */
    size_t len;
};

/* What the loop sends back in once it has done that I/O (an error is thrown
 * in instead, with gen_throw(errno)). */
struct done {
    ssize_t n;        /* bytes received (0: end of stream), or bytes sent */
    const char *data; /* recv(): what came, in the loop's buffer */
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

/* The frame of the writer, the sub-coroutine a client delegates its writes to. */
struct writer {
    struct gen gen;
    struct client *client;
};

/* One client generator's frame: what must survive its yields. 224 bytes on a
 * 64-bit machine (64 of them the struct gen, 72 the writer's frame, 32 the
 * name); that, its key in the selector and its slot in the ready queue are
 * all an idle client costs besides the kernel's socket. */
struct client {
    struct gen gen;
    struct io_wait waits_for; /* what it waits for: the value it yields */
    struct selector *sel; /* to unregister its fd at the end */
    int fd;
    int eof;          /* the client has stopped sending (closed or half-closed) */
    size_t owed;      /* reply bytes owed, sent when the socket is writable */
    char name[32];    /* "127.0.0.1:54321" */
    struct writer writer; /* the sub-coroutine that sends what is owed */
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
    c->waits_for.io = 1; /* the loop does its recv() and send() */
    c->writer.client = c;
    c->sel = sel;
    c->fd = fd;
    memcpy(c->name, name, sizeof name);
    tasks_push(&c->gen); /* the lesson's tasks.append(client(client_socket)) */
}

/* Read what the loop received for the client (sent in, or the error thrown
 * in); every '\n' owes it one reply. The 4 KiB buffer is the loop's, not in
 * the client's frame: the client reads it before it yields again, so nothing
 * in it has to survive a yield (gen.h's ground rule), and an idle client does
 * not cost 4 KiB more. */
static void read_lines(struct client *c, const struct done *got, int err)
{
    if (!err && got->n > 0) {
        size_t lines = 0;
        for (ssize_t i = 0; i < got->n; i++)
            lines += got->data[i] == '\n';
        c->owed += lines * REPLY_LEN;
        trace("fd %d: read %zd bytes, %zu lines, %zu bytes owed", c->fd, got->n, lines, c->owed);
    } else if (!err) {
        trace("fd %d: end of stream, %zu bytes still owed", c->fd, c->owed);
        c->eof = 1;
    } else {
        trace("fd %d: recv: %s", c->fd, strerror(err));
        c->eof = 1;
        c->owed = 0; /* the connection is broken: nobody will read what we owe */
    }
}

/* The writer's body, a sub-coroutine: it asks the loop to send as much of what
 * is owed as the socket takes, and is sent back how many bytes went, until
 * nothing is owed. A send error is thrown into it, and goes on to the client. */
static int write_owed(struct gen *g)
{
    struct client *c = ((struct writer *)g)->client;
    const struct done *sent;
    GEN_BEGIN(g);
    while (c->owed > 0) {
        size_t start = (REPLY_LEN - c->owed % REPLY_LEN) % REPLY_LEN; /* resume mid-reply */
        size_t len = sizeof replies - start;
        if (len > c->owed)
            len = c->owed;
        c->waits_for.events = SEL_WRITE;
        c->waits_for.data = replies + start;
        c->waits_for.len = len;
        GEN_YIELD(g, &c->waits_for);
        sent = g->sent;
        c->owed -= (size_t)sent->n;
        trace("fd %d: sent %zd bytes, %zu still owed", c->fd, sent->n, c->owed);
    }
    GEN_END(g);
}

/* The client generator (the lesson's client()): it yields before each read
 * and each write, and the loop resumes it once the socket is ready, with what
 * recv() returned sent in (or its error thrown in). */
static int client_body(struct gen *g)
{
    struct client *c = (struct client *)g;
    GEN_BEGIN(g);
    while (!c->eof) {
        c->waits_for.events = SEL_READ;
        GEN_YIELD_CATCH(g, &c->waits_for);
        read_lines(c, g->sent, g->thrown);
        /* Write everything owed before reading again. That also bounds the
         * output held for a client that sends but never reads, with no limit
         * to check: one read of 4 KiB owes at most 4,096 replies (48 KiB),
         * and nothing more is read until they are sent. The writer does it;
         * its yields go out to the loop, the loop's results come in to it
         * (yield from). */
        if (c->owed > 0) {
            gen_init(&c->writer.gen, write_owed);
            GEN_YIELD_FROM_CATCH(g, &c->writer.gen);
            if (g->thrown) {
                trace("fd %d: send: %s", c->fd, strerror(g->thrown));
                c->eof = 1;
                c->owed = 0;
            }
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

/* The I/O a generator asked for (w->io), done by the loop now that its fd is
 * ready: recv() into the loop's buffer, or send() of the bytes it gave.
 * Returns 0 with the result in *done, EAGAIN if the fd was not ready after
 * all, or the error to throw into the generator. */
static int do_io(const struct io_wait *w, struct done *done)
{
    static char buf[4096];
    done->data = buf;
    if (w->events == SEL_READ)
        done->n = recv(w->fd, buf, sizeof buf, 0);
    else
        done->n = send(w->fd, w->data, w->len, 0);
    if (done->n >= 0)
        return 0;
    return errno == EWOULDBLOCK || errno == EINTR ? EAGAIN : errno;
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
            struct io_wait *w = task->yielded; /* what it waits for; NULL before it first runs */
            struct done done;
            int err = 0, result = GEN_YIELDED;
            if (task->body == client_body)
                trace("running client fd %d", ((struct client *)task)->fd);
            else
                trace("running server");
            /* Do the I/O it asked for, then resume it with the result sent in,
             * or with the error thrown in. */
            if (w && w->io) {
                err = do_io(w, &done);
                trace("fd %d: %s() done for it, %s", w->fd, w->events == SEL_READ ? "recv" : "send",
                      !err ? "sending the result in"
                      : err == EAGAIN ? "not ready after all" : "throwing the error in");
            }
            if (err != EAGAIN) /* EAGAIN: not ready after all; it waits again, not resumed */
                result = err ? gen_throw(task, err) : gen_send(task, w && w->io ? &done : NULL);
            if (result != GEN_YIELDED) {
                trace("finished: frame freed");
                free(task); /* it has closed its socket */
                continue;
            }
            w = task->yielded;
            /* A socket is almost always writable, so a send is tried at once,
             * on the generator's next turn, as step 4's client does it itself:
             * asking the selector first would cost a turn of the loop and two
             * epoll_ctl() calls per reply. Only a send that would block (EAGAIN
             * just now) waits for the selector. */
            if (w->io && w->events == SEL_WRITE && err != EAGAIN) {
                trace("fd %d: will send at once", w->fd);
                tasks_push(task);
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
    server->waits_for = (struct io_wait){ SEL_READ, listen_fd, 0, NULL, 0 }; /* io 0: it accepts by itself */
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
