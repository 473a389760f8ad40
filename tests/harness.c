/* Test harness: servers as child processes, clients as plain sockets, every
 * wait bounded by a deadline so a broken server fails a test instead of hanging it. */
#define _POSIX_C_SOURCE 200809L
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Milliseconds left until deadline, never negative. */
static int left_ms(long long deadline)
{
    long long left = deadline - now_ms();
    return left < 0 ? 0 : (int)left;
}

/* Waits for events on fd until deadline; returns revents, or 0 on timeout. */
static short wait_fd(int fd, short events, long long deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    for (;;) {
        int n = poll(&p, 1, left_ms(deadline));
        if (n > 0)
            return p.revents;
        if (n == 0 || errno != EINTR)
            return 0;
    }
}

/* Execs binary args... extra (may be NULL), behind the words of wrapper if
 * given (e.g. "valgrind -q --error-exitcode=99"). */
static void exec_program(const char *wrapper, const char *binary, const char *const *args, const char *extra)
{
    const char *argv[48];
    char words[256];
    int n = 0;
    if (wrapper && *wrapper) {
        snprintf(words, sizeof words, "%s", wrapper);
        for (char *w = strtok(words, " "); w && n < 16; w = strtok(NULL, " "))
            argv[n++] = w;
    }
    argv[n++] = binary;
    for (; args && *args && n < 30; args++)
        argv[n++] = *args;
    if (extra)
        argv[n++] = extra;
    argv[n] = NULL;
    execvp(argv[0], (char *const *)argv);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

static int wait_exit(pid_t pid, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    int status;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0 || now_ms() >= deadline)
            break;
        nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int server_start(struct server *s, const char *binary, const char *const *args)
{
    static int counter;
    char line[128];
    size_t len = 0;
    long long deadline = now_ms() + MUST_MS;
    int out[2], log_fd;
    const char *base = strrchr(binary, '/');

    signal(SIGPIPE, SIG_IGN);
    mkdir("build", 0777);
    mkdir("build/logs", 0777);
    /* Name the log after the step folder, e.g. build/logs/2_select-server.1234.5.log */
    base = base && base > binary ? base - 1 : binary;
    while (base > binary && base[-1] != '/')
        base--;
    snprintf(s->log, sizeof s->log, "build/logs/%.*s.%d.%d.log", (int)strcspn(base, "/"), base,
             (int)getpid(), ++counter);
    log_fd = open(s->log, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (log_fd < 0 || pipe(out) < 0)
        return -1;
    s->pid = fork();
    if (s->pid == 0) {
        dup2(out[1], 1);
        dup2(log_fd, 2);
        close(out[0]);
        close(out[1]);
        close(log_fd);
        if (s->fd_limit > 0) {
            struct rlimit lim = { (rlim_t)s->fd_limit, (rlim_t)s->fd_limit };
            setrlimit(RLIMIT_NOFILE, &lim);
        }
        exec_program(getenv("SERVER_WRAPPER"), binary, args, "0");
    }
    close(out[1]);
    close(log_fd);
    if (s->pid < 0) {
        close(out[0]);
        return -1;
    }
    /* Read the first line, byte by byte so nothing after it is consumed. */
    while (len < sizeof line - 1 && (wait_fd(out[0], POLLIN, deadline) & (POLLIN | POLLHUP))) {
        if (read(out[0], &line[len], 1) != 1)
            break;
        if (line[len++] == '\n')
            break;
    }
    line[len] = '\0';
    close(out[0]);
    if (sscanf(line, "Listening on 127.0.0.1:%d", &s->port) != 1 || s->port <= 0) {
        fprintf(stderr, "# %s did not print its port (got \"%s\"), see %s\n", binary, line, s->log);
        wait_exit(s->pid, 0);
        s->pid = -1;
        return -1;
    }
    return 0;
}

int server_stop(struct server *s)
{
    int status;
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    /* Sanitizers and valgrind check for leaks at exit, which takes a while. */
    status = wait_exit(s->pid, MUST_MS * 3);
    s->pid = -1;
    if (status != 0)
        fprintf(stderr, "# server exit status %d, see %s\n", status, s->log);
    return status;
}

int server_alive(const struct server *s)
{
    return s->pid > 0 && waitpid(s->pid, NULL, WNOHANG) == 0;
}

long server_rss_kib(const struct server *s)
{
    char path[64], line[256];
    long kib = -1;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

double server_cpu_seconds(const struct server *s)
{
    char path[64], stat[1024], *fields;
    unsigned long utime, stime;
    long ticks = sysconf(_SC_CLK_TCK);
    size_t len;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)s->pid);
    f = fopen(path, "r");
    if (!f)
        return -1;
    len = fread(stat, 1, sizeof stat - 1, f);
    fclose(f);
    stat[len] = '\0';
    /* After "pid (comm) ", utime and stime are the 12th and 13th fields. */
    fields = strrchr(stat, ')');
    if (!fields || ticks <= 0 ||
        sscanf(fields + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)ticks;
}

int server_log_count(const struct server *s, const char *text)
{
    FILE *f = fopen(s->log, "r");
    char *line = NULL;
    size_t size = 0;
    int n = 0;
    if (!f)
        return 0;
    while (getline(&line, &size, f) > 0)
        n += strstr(line, text) != NULL;
    free(line);
    fclose(f);
    return n;
}

int run_program(const char *binary, const char *const *args, char *out, size_t size)
{
    int fds[2];
    size_t len = 0;
    ssize_t n;
    char sink[512];
    pid_t pid;
    if (pipe(fds) < 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        exec_program(NULL, binary, args, NULL);
    }
    close(fds[1]);
    while ((n = read(fds[0], len + 1 < size ? out + len : sink,
                     len + 1 < size ? size - 1 - len : sizeof sink)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0 && len + 1 < size)
            len += (size_t)n;
    out[len] = '\0';
    close(fds[0]);
    return pid < 0 ? -1 : wait_exit(pid, MUST_MS);
}

int run_expect(const char *binary, const char *arg, int status, const char *text)
{
    const char *args[] = { arg, NULL };
    char out[4096];
    int got = run_program(binary, args, out, sizeof out);
    if (got == status && strstr(out, text))
        return 1;
    fprintf(stderr, "# %s %s: exit %d, printed:\n%s", binary, arg, got, out);
    return 0;
}

int raise_fd_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0)
        return 1024;
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
    return lim.rlim_cur > 1000000 ? 1000000 : (int)lim.rlim_cur;
}

int client_connect(int port)
{
    struct sockaddr_in addr = { .sin_family = AF_INET };
    struct timeval tv = { MUST_MS / 1000, 0 };
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    /* 127.0.0.1: macOS hides INADDR_LOOPBACK under _POSIX_C_SOURCE */
    addr.sin_addr.s_addr = htonl(0x7f000001);
    addr.sin_port = htons((unsigned short)port);
    /* Bounds connect() too, on Linux. */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

size_t client_send(int fd, const void *buf, size_t len, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    size_t sent = 0;
    while (sent < len) {
        ssize_t n;
        if (!(wait_fd(fd, POLLOUT, deadline) & POLLOUT))
            break;
        n = send(fd, (const char *)buf + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            break;
        if (n > 0)
            sent += (size_t)n;
    }
    return sent;
}

size_t client_recv(int fd, void *buf, size_t len, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    size_t got = 0;
    while (got < len) {
        ssize_t n;
        if (!(wait_fd(fd, POLLIN, deadline) & (POLLIN | POLLHUP | POLLERR)))
            break;
        n = recv(fd, (char *)buf + got, len - got, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            break;
        if (n > 0)
            got += (size_t)n;
    }
    return got;
}

/* Checks that got bytes, starting at offset `at` of the reply stream, are
 * replies. */
static int replies_intact(const char *buf, size_t got, size_t at)
{
    for (size_t i = 0; i < got; i++)
        if (buf[i] != REPLY[(at + i) % REPLY_LEN])
            return 0;
    return 1;
}

int client_expect_replies(int fd, size_t n, int timeout_ms)
{
    return client_exchange(fd, NULL, 0, n, timeout_ms);
}

int client_exchange(int fd, const void *buf, size_t len, size_t n, int timeout_ms)
{
    long long deadline = now_ms() + timeout_ms;
    const char *p = buf;
    size_t want = n * REPLY_LEN, got = 0;
    char in[65536];
    while (len > 0 || got < want) {
        struct pollfd pfd = { .fd = fd, .events = (short)((got < want ? POLLIN : 0) | (len > 0 ? POLLOUT : 0)) };
        int r = poll(&pfd, 1, left_ms(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            fprintf(stderr, "# timed out: %zu bytes unsent, %zu of %zu reply bytes received\n", len, got,
                    want);
            return -1;
        }
        if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
            size_t room = want - got < sizeof in ? want - got : sizeof in;
            ssize_t k = recv(fd, in, room, MSG_DONTWAIT);
            if (k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                fprintf(stderr, "# connection closed after %zu of %zu reply bytes\n", got, want);
                return -1;
            }
            if (k > 0) {
                if (!replies_intact(in, (size_t)k, got)) {
                    fprintf(stderr, "# wrong bytes in the replies at offset %zu\n", got);
                    return -1;
                }
                got += (size_t)k;
            }
        }
        if (len > 0 && (pfd.revents & POLLOUT)) {
            ssize_t k = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
            if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                return -1;
            if (k > 0) {
                p += k;
                len -= (size_t)k;
            }
        }
    }
    return 0;
}

int client_quiet(int fd, int ms)
{
    return wait_fd(fd, POLLIN, now_ms() + ms) == 0;
}

int client_wait_close(int fd, int timeout_ms)
{
    char c;
    ssize_t n;
    if (!(wait_fd(fd, POLLIN, now_ms() + timeout_ms) & (POLLIN | POLLHUP | POLLERR)))
        return 0;
    n = recv(fd, &c, 1, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno == ECONNRESET);
}

void client_reset(int fd)
{
    /* A zero linger time makes close() send RST and drop unsent data. */
    struct linger lg = { 1, 0 };
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fd);
}
