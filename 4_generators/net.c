/* The servers' plumbing (net.h): nothing here is the lesson of any step, so it
 * is written once and copied, byte for byte, into each step folder. */
#define _POSIX_C_SOURCE 200809L
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

const char *prog = "server";
int verbose;
volatile sig_atomic_t stop_requested;
volatile sig_atomic_t shutdown_on_signal[2] = { -1, -1 };
int signal_pipe[2] = { -1, -1 };

static void usage(FILE *out, const char *description)
{
    fprintf(out, "usage: %s [-v] [PORT]\n"
                 "  %s.\n"
                 "  Answers 'Hello world' to every line, on 127.0.0.1:PORT (default %d, 0 = any free port).\n"
                 "  -v  trace what the server does\n"
                 "  -h  show this help\n",
            prog, description, DEFAULT_PORT);
}

static void bad_usage(const char *description, const char *what, const char *arg)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, arg);
    usage(stderr, description);
    exit(2);
}

int parse_args(int argc, char **argv, const char *description)
{
    int port = DEFAULT_PORT, have_port = 0;
    if (argc > 0)
        prog = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout, description);
            exit(0);
        } else if (strcmp(arg, "-v") == 0) {
            verbose = 1;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            bad_usage(description, "unknown option", arg);
        } else {
            char *end;
            long n;
            errno = 0;
            n = strtol(arg, &end, 10);
            if (have_port)
                bad_usage(description, "only one PORT can be given; this is a second", arg);
            if (end == arg || *end != '\0' || errno || n < 0 || n > 65535)
                bad_usage(description, "not a port number (0-65535)", arg);
            port = (int)n;
            have_port = 1;
        }
    }
    return port;
}

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

void die(const char *what)
{
    perror(what);
    exit(1);
}

void set_nonblocking(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
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

int out_of_fds(int err)
{
    if (err != EMFILE && err != ENFILE)
        return 0;
    fprintf(stderr, "out of file descriptors: not accepting until a client leaves\n");
    return 1;
}

void accepting_again(void)
{
    fprintf(stderr, "accepting again\n");
}

/* Step 1's handler. shutdown() is safe in a signal handler: it makes the
 * blocked call return at once, or the next one if none is blocked yet. */
static void shutdown_blocked(int sig)
{
    int saved_errno = errno;
    (void)sig;
    stop_requested = 1;
    for (int i = 0; i < 2; i++)
        if (shutdown_on_signal[i] >= 0)
            shutdown(shutdown_on_signal[i], SHUT_RDWR);
    errno = saved_errno;
}

/* The handler of steps 2 to 5. */
static void write_signal_pipe(int sig)
{
    int saved_errno = errno;
    (void)sig;
    if (write(signal_pipe[1], "", 1) < 0) {
        /* the pipe is full: a stop is already pending */
    }
    errno = saved_errno;
}

static void handle_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = handler;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

void stop_by_shutdown(void)
{
    handle_signals(shutdown_blocked);
}

void stop_by_self_pipe(void)
{
    if (pipe(signal_pipe) < 0)
        die("pipe");
    /* Non-blocking: a handler must never wait on a full pipe, nor the loop on an empty one. */
    set_nonblocking(signal_pipe[0]);
    set_nonblocking(signal_pipe[1]);
    handle_signals(write_signal_pipe);
}

void close_signal_pipe(void)
{
    close(signal_pipe[0]);
    close(signal_pipe[1]);
}
