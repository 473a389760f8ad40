/* What the programs of step 6 share around the event loop: the trace, the
 * command line's errors, the listening socket, signals and the fd limit. Earlier
 * steps have these in server.c; here three programs use them. */
#define _POSIX_C_SOURCE 200809L
#include "common.h"
#include "selector.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

const char *prog = "server";
int verbose;

void trace(const char *fmt, ...)
{
    va_list ap;
    if (!verbose)
        return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void bad_usage(const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, arg);
    usage(stderr);
    exit(2);
}

int port_arg(const char *arg, int *have_port)
{
    char *end;
    long n;
    if (*have_port)
        bad_usage("only one PORT can be given; this is a second", arg);
    errno = 0;
    n = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || errno || n < 0 || n > 65535)
        bad_usage("not a port number (0-65535)", arg);
    *have_port = 1;
    return (int)n;
}

void describe_peer(int fd, char *out, size_t size)
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

void set_nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Socket, bind and listen on 127.0.0.1:port, or exit with a message saying what to do. */
int listen_on(int port)
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

#define MACOS_OPEN_MAX 10240 /* OPEN_MAX in macOS's <sys/syslimits.h>, hidden by _POSIX_C_SOURCE */

/* Each client costs an fd: allow as many as the hard limit lets us, and
 * return that limit (no fd is numbered past it). */
int raise_fd_limit(void)
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

/* The connection task's done callback, however its coroutine ended (end of
 * stream, an error raised out of it, or cancelled at shutdown): close the
 * connection and free the frame. */
static void close_connection(struct fut *task, void *data)
{
    struct conn *c = data;
    struct server *server = c->server;
    if (task->error > 0)
        trace("fd %d: %s", c->fd, strerror(task->error));
    fprintf(stderr, "Connection closed %s\n", c->name);
    loop_forget_fd(c->loop, c->fd); /* before close(): its number will be reused */
    close(c->fd);
    free(c);
    server->nclients--;
    if (server->waiting_for_client && !fut_done(&server->client_left))
        fut_set_result(&server->client_left, NULL); /* an fd is free: accept again */
}

/* The server task calls this for each connection it accepts. */
static void accept_connection(struct server *server, int fd)
{
    char name[32];
    struct conn *c;
    describe_peer(fd, name, sizeof name);
    /* Non-blocking: a slow client must never make a recv() or send() wait. */
    set_nonblocking(fd);
    c = calloc(1, server->client_size);
    if (!c) {
        fprintf(stderr, "Refused %s: %s\n", name, strerror(errno));
        close(fd);
        return;
    }
    fprintf(stderr, "Connection from %s\n", name);
    gen_init(&c->gen, server->client_body);
    c->loop = server->loop;
    c->server = server;
    c->fd = fd;
    memcpy(c->name, name, sizeof c->name);
    aio_create_task(c->loop, &c->task, &c->gen); /* the lesson's asyncio.create_task(client(sock)) */
    c->task.name = c->name;
    fut_add_done_callback(&c->task.fut, close_connection, c);
    server->nclients++;
}

/* Out of fds, accept() fails at once, over and over, while the listening
 * socket stays readable: rather than spin, or retry on a timer, wait until a
 * client leaves and frees one. Said once per episode, which ends when every
 * client waiting to be accepted has been. */
static int out_of_fds(struct server *self, int err)
{
    if (err != EMFILE && err != ENFILE)
        return 0;
    if (!self->out_of_fds)
        fprintf(stderr, "%s: out of file descriptors: not accepting until a client leaves\n", prog);
    self->out_of_fds = 1;
    return 1;
}

static int server_body(struct gen *g)
{
    struct server *self = (struct server *)g;
    GEN_BEGIN(g);
    self->listen_fd = listen_on(self->port);
    /* Non-blocking, so a client that vanishes between select() and accept()
     * cannot leave us stuck in accept(). */
    set_nonblocking(self->listen_fd);
    for (;;) {
        sock_accept(self->loop, &self->io, self->listen_fd);
        if (self->out_of_fds && !fut_done(&self->io.fut)) { /* nobody left waiting */
            fprintf(stderr, "%s: accepting again\n", prog);
            self->out_of_fds = 0;
        }
        AWAIT_CATCH(g, &self->io.fut);
        if (g->thrown == ECANCELED) /* shutting down */
            GEN_RAISE(g, g->thrown);
        if (g->thrown && out_of_fds(self, g->thrown) && self->nclients > 0) {
            fut_init(&self->client_left, self->loop);
            self->waiting_for_client = 1;
            AWAIT(g, &self->client_left);
            self->waiting_for_client = 0;
        } else if (g->thrown) {
            /* Something else (or no client to wait for): like asyncio, pause a
             * while rather than fail again at once. */
            if (!self->out_of_fds)
                fprintf(stderr, "%s: accept: %s\n", prog, strerror(g->thrown));
            AWAIT(g, aio_sleep(self->loop, &self->pause, 100));
        } else {
            accept_connection(self, self->io.conn);
        }
    }
    GEN_END(g);
}

int run_server(int port, int (*client_body)(struct gen *g), size_t client_size)
{
    int fd_limit = raise_fd_limit();
    struct sigaction sa;
    struct server server = { .port = port, .listen_fd = -1, .client_body = client_body,
                             .client_size = client_size };
    /* SIGPIPE would kill us when writing to a client that reset; we want EPIPE. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    server.loop = loop_create();
    if (!server.loop) {
        fprintf(stderr, "%s: cannot create the %s selector: %s\n", prog, sel_backend(), strerror(errno));
        exit(1);
    }
    if (verbose)
        loop_set_trace(server.loop, trace);
    trace("selector backend: %s, up to %d fds", sel_backend(), fd_limit);
    gen_init(&server.gen, server_body);
    /* asyncio.run(server()): until SIGINT or SIGTERM cancels it; then every
     * client task is cancelled, and its done callback closes and frees it. */
    if (aio_run(server.loop, &server.gen) < 0) {
        fprintf(stderr, "%s: the event loop failed: %s\n", prog, strerror(errno));
        exit(1);
    }
    loop_close(server.loop);
    if (server.listen_fd >= 0)
        close(server.listen_fd);
    fprintf(stderr, "Stopped\n");
    return 0;
}
