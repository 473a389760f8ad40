/* Step 1: a blocking server. accept() and recv() wait, so while one client is
 * connected the next one waits. Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o server server.c */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_PORT 5000
#define REPLY "Hello world\n"
#define REPLY_LEN (sizeof REPLY - 1)

static const char *prog = "server";
static int verbose;
static volatile sig_atomic_t stop_requested;
/* What the signal handler wakes: accept() on the first, recv() or send() on the
 * second. (A flag alone could be set just after the loop checked it and before
 * the call blocked: it would block on.) */
static volatile sig_atomic_t listening_fd = -1, client_fd = -1;

/* Every reply is the same 12 bytes, so what a client is owed is a number, not
 * a buffer: we send slices of this block of replies. */
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

/* shutdown() is safe in a signal handler: it makes the blocked call return at
 * once, or the next one if none is blocked yet. */
static void on_signal(int sig)
{
    int saved_errno = errno;
    (void)sig;
    stop_requested = 1;
    if (listening_fd >= 0)
        shutdown(listening_fd, SHUT_RDWR);
    if (client_fd >= 0)
        shutdown(client_fd, SHUT_RDWR);
    errno = saved_errno;
}

/* SIGPIPE would kill us when writing to a client that reset; we want EPIPE.
 * SIGINT/SIGTERM set a flag and wake the blocked call, and the loop ends. */
static void setup_signals(void)
{
    struct sigaction sa;
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
                 "  -v  trace what the server does\n"
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

/* Wait for the next client: accept() blocks until one connects. */
static int accept_connection(int listen_fd, char *name, size_t size)
{
    int fd;
    fprintf(stderr, "Before accept()\n");
    fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) {
        if (!stop_requested)
            fprintf(stderr, "accept: %s\n", strerror(errno));
        return -1;
    }
    describe_peer(fd, name, size);
    fprintf(stderr, "Connection from %s\n", name);
    return fd;
}

/* Send every owed reply; send() blocks until the client has taken them. */
static int write_owed(int fd, size_t owed)
{
    while (owed > 0) {
        size_t start = (REPLY_LEN - owed % REPLY_LEN) % REPLY_LEN; /* resume mid-reply */
        size_t len = sizeof replies - start;
        ssize_t n;
        if (len > owed)
            len = owed;
        n = send(fd, replies + start, len, 0);
        if (n < 0) {
            if (errno == EINTR && !stop_requested)
                continue;
            trace("fd %d: send: %s", fd, strerror(errno));
            return -1;
        }
        owed -= (size_t)n;
        trace("fd %d: sent %zd bytes, %zu still owed", fd, n, owed);
    }
    return 0;
}

/* Serve one client until it leaves. Nobody else is served meanwhile: this is
 * the problem the next steps solve. */
static void serve_client(int fd)
{
    char buf[4096];
    while (!stop_requested) {
        ssize_t n;
        size_t lines = 0;
        fprintf(stderr, "Before recv()\n");
        n = recv(fd, buf, sizeof buf, 0);
        if (n == 0) {
            trace("fd %d: end of stream", fd);
            return;
        }
        if (n < 0) {
            if (errno != EINTR)
                trace("fd %d: recv: %s", fd, strerror(errno));
            return;
        }
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        trace("fd %d: read %zd bytes, %zu lines", fd, n, lines);
        if (write_owed(fd, lines * REPLY_LEN) < 0)
            return;
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
    setup_signals();
    listen_fd = listen_on(port);
    listening_fd = listen_fd;
    while (!stop_requested) {
        char name[32];
        int fd = accept_connection(listen_fd, name, sizeof name);
        if (fd < 0)
            continue;
        client_fd = fd;
        serve_client(fd);
        fprintf(stderr, "Connection closed %s\n", name);
        client_fd = -1;
        close(fd);
    }
    close(listen_fd);
    fprintf(stderr, "Stopped\n");
    return 0;
}
