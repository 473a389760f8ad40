/* The lesson's scene for one step, played and checked: `tour STEP [TOP]` starts
 * step STEP's server or programs from the tree at TOP (default .), drives
 * clients A, B and C from here (one process, poll(), non-blocking sockets),
 * prints one timeline of what everyone sent, received and logged, and ends with
 * the lesson's conclusion, or says what it saw instead and exits 1.
 * Verdicts rest on the order of events, with generous timeouts: never on how
 * fast a machine is, and on the servers' traces only loosely (their wording
 * may change). Output: TAP lines ("ok - tour step N: ...") for tests/run.sh.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o tour tests/tour.c */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MUST_S 30.0     /* what must happen has this long: a loaded machine is slow */
#define MAX_EVENTS 4096
#define MAX_PROCS 4
#define MAX_CLIENTS 3
/* Step 6: how long the image server waits before each picture. The waiting,
 * not the CPU, is what async overlaps, and it dwarfs what a busy machine adds. */
#define PICTURE_DELAY "500"

/* --- the timeline --- */

enum kind { EV_NOTE, EV_LINE, EV_SENT, EV_RECEIVED, EV_CONNECTED, EV_LEFT, EV_CLOSED_BY_PEER, EV_EXIT };

struct event {
    double t;          /* seconds since the tour started */
    enum kind kind;
    const void *src;   /* the process or client it concerns */
    char text[240];
};

static struct event events[MAX_EVENTS];
static int nevents;
static struct timespec start;
static int step;
static char failure[1024];     /* what was seen instead, once a check failed */
static volatile sig_atomic_t interrupted;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(ts.tv_sec - start.tv_sec) + (double)(ts.tv_nsec - start.tv_nsec) / 1e9;
}

/* Prints one line of the timeline and keeps it for the verdict. */
static struct event *record(enum kind kind, const void *src, const char *who, const char *fmt, ...)
{
    static struct event spare;
    struct event *e = nevents < MAX_EVENTS ? &events[nevents++] : &spare;
    va_list ap;
    e->t = now();
    e->kind = kind;
    e->src = src;
    va_start(ap, fmt);
    vsnprintf(e->text, sizeof e->text, fmt, ap);
    va_end(ap);
    printf("%7.3f s  %-12s %s\n", e->t, who, e->text);
    fflush(stdout);
    return e;
}

/* The first failed check says what happened; later ones would only repeat it. */
static int fail(const char *fmt, ...)
{
    va_list ap;
    if (failure[0] == '\0') {
        va_start(ap, fmt);
        vsnprintf(failure, sizeof failure, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static int contains(const char *text, const char *needle)
{
    size_t n = strlen(needle);
    for (; *text; text++) {
        size_t i = 0;
        while (i < n && text[i] && tolower((unsigned char)text[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

/* --- processes: a step's server or program, its stdout and stderr merged --- */

struct proc {
    const char *who;   /* its name in the timeline */
    pid_t pid;         /* 0 once reaped */
    int out;           /* read end of its output, -1 at end */
    int in;            /* write end of its stdin, or -1 */
    int status;        /* exit status, or -1 after a signal */
    double started, exited;
    char buf[4096];
    size_t len;
};

static struct proc procs[MAX_PROCS];
static int nprocs;

struct client {
    const char *name;
    int fd;            /* -1 once it left */
    int port;          /* its own port, as the server names it */
    int connected, closed_by_peer;
    int replies;       /* lines received */
    double left;       /* when it closed (0: still connected) */
    double first_reply;
    int left_ev, reply_ev; /* the events of both, for their order (-1: not yet) */
    char buf[512];
    size_t len;
};

static struct client clients[MAX_CLIENTS];
static int nclients;

static void set_flags(int fd, int nonblocking)
{
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    if (nonblocking)
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Starts path with args (argv[0] excluded, NULL-terminated); with_stdin gives
 * it a pipe to write commands into, else /dev/null. */
static struct proc *spawn(const char *who, const char *path, const char *const *args, int with_stdin)
{
    struct proc *p = &procs[nprocs];
    const char *argv[16];
    int out[2], in[2] = { -1, -1 }, n = 0;
    char line[512];
    size_t len;
    if (nprocs == MAX_PROCS || pipe(out) < 0 || (with_stdin && pipe(in) < 0)) {
        fail("cannot start %s: %s", path, strerror(errno));
        return NULL;
    }
    /* None of our fds reach the program: dup2() below gives it only its own. */
    set_flags(out[0], 0);
    set_flags(out[1], 0);
    if (with_stdin) {
        set_flags(in[0], 0);
        set_flags(in[1], 0);
    }
    argv[n++] = path;
    for (; args && *args && n < 15; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    len = (size_t)snprintf(line, sizeof line, "$ %s", path);
    for (int i = 1; i < n && len < sizeof line; i++)
        len += (size_t)snprintf(line + len, sizeof line - len, " %s", argv[i]);
    memset(p, 0, sizeof *p);
    p->who = who;
    p->in = -1;
    record(EV_NOTE, p, who, "%s", line);
    p->started = now();
    p->pid = fork();
    if (p->pid < 0) {
        fail("cannot start %s: %s", path, strerror(errno));
        return NULL;
    }
    if (p->pid == 0) {
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        signal(SIGPIPE, SIG_DFL);
        dup2(with_stdin ? in[0] : null, 0);
        dup2(out[1], 1);
        dup2(out[1], 2);
        execv(path, (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s (build it first: make)\n", path, strerror(errno));
        _exit(127);
    }
    nprocs++;
    close(out[1]);
    p->out = out[0];
    set_flags(p->out, 1);
    if (with_stdin) {
        close(in[0]);
        p->in = in[1];
    }
    return p;
}

/* Every line "127.0.0.1:PORT" of a client's port gets the client's name. */
static void annotate(const char *line, char *out, size_t size)
{
    size_t len = 0;
    while (*line && len + 1 < size) {
        int matched = 0;
        if (strncmp(line, "127.0.0.1:", 10) == 0) {
            char *end;
            long port = strtol(line + 10, &end, 10);
            for (int i = 0; i < nclients; i++)
                if (end != line + 10 && port == clients[i].port) {
                    len += (size_t)snprintf(out + len, size - len, "%.*s (%s)", (int)(end - line), line,
                                            clients[i].name);
                    line = end;
                    matched = 1;
                    break;
                }
        }
        if (len >= size)
            len = size - 1;
        if (!matched)
            out[len++] = *line++;
    }
    out[len < size ? len : size - 1] = '\0';
}

static void proc_line(struct proc *p, const char *line)
{
    char text[240];
    annotate(line, text, sizeof text);
    record(EV_LINE, p, p->who, "%s", text);
}

static void proc_read(struct proc *p)
{
    ssize_t n = read(p->out, p->buf + p->len, sizeof p->buf - 1 - p->len);
    char *nl;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n > 0)
        p->len += (size_t)n;
    p->buf[p->len] = '\0';
    while ((nl = strchr(p->buf, '\n')) != NULL) {
        *nl = '\0';
        proc_line(p, p->buf);
        p->len -= (size_t)(nl + 1 - p->buf);
        memmove(p->buf, nl + 1, p->len);
        p->buf[p->len] = '\0';
    }
    if (n <= 0 || p->len == sizeof p->buf - 1) { /* the end, or a line too long to keep whole */
        if (p->len > 0)
            proc_line(p, p->buf);
        p->len = 0;
    }
    if (n <= 0) {
        close(p->out);
        p->out = -1;
    }
}

/* Reaps whatever process has exited, once its output is all read. */
static void reap(void)
{
    for (int i = 0; i < nprocs; i++) {
        struct proc *p = &procs[i];
        int status;
        if (p->pid > 0 && p->out < 0 && waitpid(p->pid, &status, WNOHANG) == p->pid) {
            p->pid = 0;
            p->exited = now();
            p->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
            if (WIFEXITED(status))
                record(EV_EXIT, p, p->who, "(exited with status %d)", p->status);
            else
                record(EV_EXIT, p, p->who, "(killed by signal %d)", WTERMSIG(status));
        }
    }
}

/* --- clients --- */

static struct client *client_connect(const char *name, int port)
{
    struct client *c = &clients[nclients++];
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    memset(c, 0, sizeof *c);
    c->name = name;
    c->left_ev = c->reply_ev = -1;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) {
        fail("%s: socket: %s", name, strerror(errno));
        return c;
    }
    set_flags(c->fd, 1);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(0x7f000001);
    addr.sin_port = htons((unsigned short)port);
    /* The kernel completes it without the server's help (accept() only takes
     * it from the backlog), so wait for this socket alone: the timeline then
     * shows the client connected before whatever the server logs about it. */
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
        c->connected = 1;
    } else if (errno == EINPROGRESS) {
        struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
        int err = 0;
        socklen_t err_len = sizeof err;
        if (poll(&pfd, 1, (int)(MUST_S * 1000)) == 1 &&
            getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &err_len) == 0 && err == 0)
            c->connected = 1;
        else
            fail("%s cannot connect to 127.0.0.1:%d: %s", name, port, err ? strerror(err) : "timed out");
    } else {
        fail("%s cannot connect to 127.0.0.1:%d: %s", name, port, strerror(errno));
    }
    if (!c->connected) {
        close(c->fd);
        c->fd = -1;
        return c;
    }
    getsockname(c->fd, (struct sockaddr *)&addr, &len);
    c->port = ntohs(addr.sin_port);
    record(EV_CONNECTED, c, name, "connects (from 127.0.0.1:%d)", c->port);
    return c;
}

/* A line is a few bytes: the socket's buffer takes it whole. */
static int client_send(struct client *c, const char *line)
{
    size_t len = strlen(line);
    ssize_t n = c->fd >= 0 ? send(c->fd, line, len, 0) : -1;
    if (n != (ssize_t)len)
        return fail("%s could not send %s: %s", c->name, line, n < 0 ? strerror(errno) : "short send");
    record(EV_SENT, c, c->name, "sends \"%.*s\\n\"", (int)len - 1, line);
    return 0;
}

static void client_leave(struct client *c)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    c->left = now();
    record(EV_LEFT, c, c->name, "leaves (closes its connection)");
    c->left_ev = nevents - 1;
}

static void client_read(struct client *c)
{
    ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - 1 - c->len, 0);
    char *nl;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        record(EV_CLOSED_BY_PEER, c, c->name, "the server closed the connection%s%s", n < 0 ? ": " : "",
               n < 0 ? strerror(errno) : "");
        c->closed_by_peer = 1;
        close(c->fd);
        c->fd = -1;
        c->left = now();
        c->left_ev = nevents - 1;
        return;
    }
    c->len += (size_t)n;
    c->buf[c->len] = '\0';
    while ((nl = strchr(c->buf, '\n')) != NULL || c->len == sizeof c->buf - 1) {
        size_t line_len = nl ? (size_t)(nl - c->buf) : c->len;
        record(EV_RECEIVED, c, c->name, "receives \"%.*s\\n\"", (int)line_len, c->buf);
        if (c->replies++ == 0) {
            c->first_reply = now();
            c->reply_ev = nevents - 1;
        }
        line_len += nl != NULL;
        c->len -= line_len;
        memmove(c->buf, c->buf + line_len, c->len);
        c->buf[c->len] = '\0';
    }
}

/* --- waiting: one poll() over every process and client --- */

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Waits up to the deadline for something to happen, and handles it; 0 once the
 * deadline has passed (or the tour was interrupted). */
static int pump(double deadline)
{
    struct pollfd fds[MAX_PROCS + MAX_CLIENTS];
    void *owner[MAX_PROCS + MAX_CLIENTS];
    int n = 0, timeout;
    double left = deadline - now();
    if (interrupted)
        return fail("interrupted");
    if (left <= 0)
        return 0;
    for (int i = 0; i < nprocs; i++)
        if (procs[i].out >= 0) {
            fds[n] = (struct pollfd){ .fd = procs[i].out, .events = POLLIN };
            owner[n++] = &procs[i];
        }
    for (int i = 0; i < nclients; i++)
        if (clients[i].fd >= 0) {
            fds[n] = (struct pollfd){ .fd = clients[i].fd, .events = POLLIN };
            owner[n++] = &clients[i];
        }
    /* A process is reaped once its output ends: look again now and then. */
    timeout = (int)(left * 1000) + 1;
    if (timeout > 50)
        timeout = 50;
    if (poll(fds, (nfds_t)n, timeout) < 0 && errno != EINTR)
        return fail("poll: %s", strerror(errno));
    for (int i = 0; i < n; i++) {
        if (!fds[i].revents)
            continue;
        if (owner[i] >= (void *)procs && owner[i] < (void *)(procs + MAX_PROCS)) {
            proc_read(owner[i]);
        } else {
            client_read(owner[i]);
        }
    }
    reap();
    return 1;
}

/* Lets events come for ms milliseconds: to show what does NOT happen. */
static void pause_ms(int ms)
{
    double deadline = now() + ms / 1000.0;
    while (pump(deadline))
        ;
}

/* Waits for cond, at most MUST_S seconds; on timeout the scene fails, saying
 * what it waited for. */
#define WAIT_FOR(cond, ...)                                                  \
    do {                                                                     \
        double deadline_ = now() + MUST_S;                                   \
        while (!(cond))                                                      \
            if (failure[0] || !pump(deadline_))                              \
                return fail(__VA_ARGS__);                                    \
    } while (0)

/* Lines from p containing needle (case aside), from event index from on. */
static int count_lines(const struct proc *p, const char *needle, int from)
{
    int n = 0;
    for (int i = from; i < nevents; i++)
        n += events[i].kind == EV_LINE && events[i].src == p && contains(events[i].text, needle);
    return n;
}

/* The index of the first such line, or -1. */
static int find_line(const struct proc *p, const char *needle, int from)
{
    for (int i = from; i < nevents; i++)
        if (events[i].kind == EV_LINE && events[i].src == p && contains(events[i].text, needle))
            return i;
    return -1;
}

/* Starts a server (args end with its port, 0: any free one) and reads the port
 * it says it listens on; returns it, or -1. */
static int start_listening(struct proc **out, const char *who, const char *path, const char *const *args)
{
    struct proc *p = spawn(who, path, args, 0);
    int at;
    if (!p)
        return -1;
    *out = p;
    for (double deadline = now() + MUST_S; (at = find_line(p, "Listening on", 0)) < 0;)
        if (!pump(deadline) || (p->out < 0 && find_line(p, "Listening on", 0) < 0))
            return fail("%s did not say 'Listening on 127.0.0.1:PORT'%s", path,
                        p->out < 0 ? " before it exited" : " within 30 s");
    {
        const char *colon = strrchr(events[at].text, ':');
        int port = colon ? atoi(colon + 1) : 0;
        if (port <= 0)
            return fail("no port in %s's line: %s", who, events[at].text);
        return port;
    }
}

static int start_server(struct proc **out, const char *path, int verbose)
{
    const char *args[] = { verbose ? "-v" : "0", verbose ? "0" : NULL, NULL };
    return start_listening(out, "server", path, args);
}

/* Sends sig (SIGTERM to a server, SIGINT as Ctrl-C would), then waits; a
 * program that does not stop cleanly fails the tour. */
static int stop_proc(struct proc *p, int sig)
{
    if (p->pid > 0)
        kill(p->pid, sig);
    WAIT_FOR(p->pid == 0, "%s did not stop within 30 s of signal %d", p->who, sig);
    /* After Ctrl-C, 130 is as clean as 0: the shell's way to say "interrupted". */
    if (p->status < 0)
        return fail("%s did not stop cleanly: it was killed by a signal", p->who);
    if (p->status != 0 && !(sig == SIGINT && p->status == 128 + SIGINT))
        return fail("%s did not stop cleanly: exit status %d", p->who, p->status);
    return 0;
}

static void stop_all(void)
{
    for (int i = 0; i < nclients; i++)
        if (clients[i].fd >= 0) {
            close(clients[i].fd);
            clients[i].fd = -1;
        }
    for (int i = 0; i < nprocs; i++) {
        struct proc *p = &procs[i];
        if (p->pid > 0) {
            double deadline = now() + 5;
            kill(p->pid, SIGTERM);
            if (p->in >= 0)
                close(p->in);
            p->in = -1;
            while (p->pid > 0 && pump(deadline))
                ;
            if (p->pid > 0) {
                kill(p->pid, SIGKILL);
                waitpid(p->pid, NULL, 0);
                p->pid = 0;
            }
        }
        if (p->out >= 0)
            close(p->out);
        p->out = -1;
    }
}

/* --- the scenes --- */

static char top[256], dir[64];
static char images[256];       /* step 6: where the downloader writes, removed at the end */
static char verdict[8][300];
static int nverdicts;
static char conclusion[600];

static void passed(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (nverdicts < 8)
        vsnprintf(verdict[nverdicts++], sizeof verdict[0], fmt, ap);
    va_end(ap);
}

static const char *program(const char *name)
{
    static char paths[4][600];
    static int next;
    char *path = paths[next++ % 4];
    if (snprintf(path, sizeof paths[0], "%s/%s/%s", top, dir, name) >= (int)sizeof paths[0])
        path[0] = '\0'; /* too long to run: exec says so */
    return path;
}

/* Step 1: the blocking server. A is served; B and C connect and send while A
 * stays: nothing for them until A leaves, and C waits for B. */
static int scene_blocking(void)
{
    struct proc *server;
    struct client *a, *b, *c;
    int port = start_server(&server, program("server"), 0);
    if (port < 0)
        return -1;
    a = client_connect("A", port);
    WAIT_FOR(count_lines(server, "Connection from", 0) >= 1, "the server never logged A's 'Connection from'");
    if (client_send(a, "Hi, I am A\n") < 0)
        return -1;
    WAIT_FOR(a->replies >= 1, "A got no reply within 30 s");
    b = client_connect("B", port);
    c = client_connect("C", port);
    WAIT_FOR(b->connected && c->connected, "B and C could not connect");
    if (client_send(b, "Hi, I am B\n") < 0 || client_send(c, "Hi, I am C\n") < 0)
        return -1;
    record(EV_NOTE, NULL, "tour", "(A stays connected for a second: are B and C served meanwhile?)");
    pause_ms(1000);
    client_leave(a);
    WAIT_FOR(b->replies >= 1, "B got no reply within 30 s of A leaving");
    record(EV_NOTE, NULL, "tour", "(B stays half a second: is C served meanwhile?)");
    pause_ms(500);
    client_leave(b);
    WAIT_FOR(c->replies >= 1, "C got no reply within 30 s of B leaving");
    client_leave(c);
    WAIT_FOR(count_lines(server, "Connection closed", 0) >= 3, "the server did not log 'Connection closed' for A, B and C");
    if (stop_proc(server, SIGTERM) < 0)
        return -1;
    if (b->reply_ev < a->left_ev)
        return fail("B was answered at %.3f s, while A was still connected (A left at %.3f s): this server "
                    "does not block", b->first_reply, a->left);
    if (c->reply_ev < b->left_ev)
        return fail("C was answered at %.3f s, before B left at %.3f s: this server does not block",
                    c->first_reply, b->left);
    passed("B's reply came only after A left, C's only after B left");
    snprintf(conclusion, sizeof conclusion,
             "A blocking server serves one client at a time: B, connected with its line sent, was answered only "
             "when A left (%.3f s), and C only when B left (%.3f s).", a->left, b->left);
    return 0;
}

/* The fd numbers a line names ("fd 7", "fd=7"). */
static int line_fds(const char *text, int *fds, int max)
{
    int n = 0;
    for (const char *s = text; (s = strstr(s, "fd")) != NULL && n < max; s += 2) {
        const char *d = s + 2;
        while (*d == ' ' || *d == '=' || *d == '#')
            d++;
        if (isdigit((unsigned char)*d))
            fds[n++] = atoi(d);
    }
    return n;
}

/* Whether text names a read or write set: "to read", "readable", "read set",
 * not "ready". */
static int names_set(const char *text, const char *stem)
{
    size_t n = strlen(stem);
    for (const char *s = text; *s; s++) {
        size_t i = 0;
        while (i < n && tolower((unsigned char)s[i]) == stem[i])
            i++;
        if (i == n && tolower((unsigned char)s[n]) != 'y')
            return 1;
    }
    return 0;
}

/* Step 3's registering, when the trace does not name it: a callback on an fd
 * that no callback named before the first client connected (the client's
 * socket, registered with its callback when accepted). */
static int callback_on_new_fd(const struct proc *server)
{
    int seen[64], nseen = 0, connected = 0;
    for (int i = 0; i < nevents; i++) {
        int fds[4], n;
        if (events[i].kind != EV_LINE || events[i].src != server)
            continue;
        if (contains(events[i].text, "Connection from"))
            connected = 1;
        if (!contains(events[i].text, "call"))
            continue;
        n = line_fds(events[i].text, fds, 4);
        for (int j = 0; j < n; j++) {
            int known = 0;
            for (int k = 0; k < nseen; k++)
                known |= seen[k] == fds[j];
            if (!known && connected)
                return 1;
            if (!known && nseen < 64)
                seen[nseen++] = fds[j];
        }
    }
    return 0;
}

/* Steps 2 and 3: A connects and stays silent; B and C are answered meanwhile;
 * then A speaks and is answered too. */
static int scene_concurrent(void)
{
    struct proc *server;
    struct client *a, *b, *c;
    int port = start_server(&server, program("server"), 1), read_set = 0, write_set = 0, selects = 0;
    if (port < 0)
        return -1;
    a = client_connect("A", port);
    WAIT_FOR(count_lines(server, "Connection from", 0) >= 1, "the server never logged A's 'Connection from'");
    record(EV_NOTE, NULL, "tour", "(A is connected, and says nothing)");
    pause_ms(300);
    b = client_connect("B", port);
    WAIT_FOR(b->connected, "B could not connect");
    if (client_send(b, "Hi, I am B\n") < 0)
        return -1;
    WAIT_FOR(b->replies >= 1 || a->fd < 0, "B got no reply within 30 s while A stayed connected and silent");
    c = client_connect("C", port);
    WAIT_FOR(c->connected, "C could not connect");
    if (client_send(c, "Hi, I am C\n") < 0)
        return -1;
    WAIT_FOR(c->replies >= 1, "C got no reply within 30 s while A stayed connected and silent");
    if (a->fd < 0 || a->replies > 0)
        return fail("A was disturbed while silent: %s", a->fd < 0 ? "the server closed it" : "it received a reply");
    if (client_send(a, "Hi, I am A, at last\n") < 0)
        return -1;
    WAIT_FOR(a->replies >= 1, "A got no reply within 30 s");
    client_leave(b);
    client_leave(c);
    client_leave(a);
    WAIT_FOR(count_lines(server, "Connection closed", 0) >= 3, "the server did not log 'Connection closed' for A, B and C");
    if (stop_proc(server, SIGTERM) < 0)
        return -1;
    passed("B and C were answered while A stayed connected and silent");
    /* What the trace must show, loosely: the lesson's words, not the exact lines. */
    for (int i = 0; i < nevents; i++) {
        if (events[i].kind != EV_LINE || events[i].src != server || !contains(events[i].text, "select"))
            continue;
        selects++;
        read_set |= names_set(events[i].text, "read");
        write_set |= names_set(events[i].text, "writ");
    }
    if (step == 2) {
        if (!selects || !read_set || !write_set)
            return fail("the -v trace does not show select()'s read and write sets (%d lines mention select; "
                        "read set %s, write set %s)", selects, read_set ? "named" : "never named",
                        write_set ? "named" : "never named");
        passed("the trace shows select() waiting on a read set and a write set");
        snprintf(conclusion, sizeof conclusion,
                 "One select() loop serves everyone: it watches a read set and a write set, so B and C were "
                 "answered while A stayed connected and said nothing.");
    } else {
        int registers = count_lines(server, "regist", 0), callbacks = count_lines(server, "call", 0);
        if (!callbacks)
            return fail("the -v trace never shows a callback being called (no line mentions 'call')");
        if (!registers && !callback_on_new_fd(server))
            return fail("the -v trace shows no registering: it never says 'register', and no callback runs on a "
                        "client's fd");
        if (!registers)
            record(EV_NOTE, NULL, "tour", "(note: the trace never says 'register'; the registering shows only as "
                                          "callbacks on each new client's fd)");
        passed("the trace shows sockets registered with callbacks and called back (%d callback lines)", callbacks);
        snprintf(conclusion, sizeof conclusion,
                 "Each socket is registered with the selector together with its callback (accept for the "
                 "listening socket, reply for a client), and the loop calls back whoever is ready: B and C were "
                 "answered while A stayed silent.");
    }
    return 0;
}

/* Step 4: round robin's output, then the server of generators: A and B send
 * a line each in every round and are answered in turns, C stays silent. */
static int scene_generators(void)
{
    static const char expected[] = "a 0 n 1 y 2   3 s 4 t 5 r 6 i 7 n 8 g 9 10 ";
    char got[256] = "";
    size_t len = 0;
    struct proc *rr = spawn("round_robin", program("round_robin"), NULL, 0), *server;
    struct client *a, *b, *c;
    int first, port;
    if (!rr)
        return -1;
    first = nevents;
    WAIT_FOR(rr->pid == 0, "round_robin did not finish within 30 s");
    for (int i = first; i < nevents && len < sizeof got - 1; i++)
        if (events[i].kind == EV_LINE && events[i].src == rr)
            len += (size_t)snprintf(got + len, sizeof got - len, "%s ", events[i].text);
    if (rr->status != 0 || strcmp(got, expected) != 0)
        return fail("round_robin (exit %d) printed \"%s\", where the course prints \"%s\" (one per line)",
                    rr->status, got, expected);
    passed("round_robin prints the course's sequence: a 0 n 1 y 2 ... g 9 10");
    if ((port = start_server(&server, program("server"), 1)) < 0)
        return -1;
    c = client_connect("C", port);
    WAIT_FOR(count_lines(server, "Connection from", 0) >= 1, "the server never logged C's 'Connection from'");
    record(EV_NOTE, NULL, "tour", "(C is connected, and says nothing: its generator waits to read)");
    a = client_connect("A", port);
    b = client_connect("B", port);
    WAIT_FOR(count_lines(server, "Connection from", 0) >= 3, "the server never logged 'Connection from' for A and B");
    for (int round = 1; round <= 3; round++) {
        char line[32];
        snprintf(line, sizeof line, "A, round %d\n", round);
        if (client_send(a, line) < 0)
            return -1;
        snprintf(line, sizeof line, "B, round %d\n", round);
        if (client_send(b, line) < 0)
            return -1;
        WAIT_FOR((a->replies >= round && b->replies >= round) || a->fd < 0 || b->fd < 0,
                 "round %d: A had %d replies, B %d, after 30 s (expected %d each)", round, a->replies, b->replies,
                 round);
        if (a->replies != round || b->replies != round || a->fd < 0 || b->fd < 0)
            return fail("round %d: A has %d replies, B %d (expected %d each, both connected)", round, a->replies,
                        b->replies, round);
    }
    if (c->fd < 0 || c->replies)
        return fail("C was disturbed while silent");
    client_leave(a);
    client_leave(b);
    client_leave(c);
    WAIT_FOR(count_lines(server, "Connection closed", 0) >= 3, "the server did not log 'Connection closed' for A, B and C");
    if (stop_proc(server, SIGTERM) < 0)
        return -1;
    passed("the server of generators answered A and B in turns, three rounds, while C waited silently");
    snprintf(conclusion, sizeof conclusion,
             "Generators take turns: round robin runs each to its next yield and puts it back in the queue, and a "
             "server made of generators answers A and B in turns while C's generator waits for its socket.");
    return 0;
}

/* Types a command into the playground and waits for what it prints. */
static int type_command(struct proc *p, const char *command)
{
    char line[128];
    int before = count_lines(p, "", 0);
    snprintf(line, sizeof line, "%s\n", command);
    record(EV_SENT, p, "you", "> %s", command);
    if (write(p->in, line, strlen(line)) != (ssize_t)strlen(line))
        return fail("cannot type into %s: %s", p->who, strerror(errno));
    WAIT_FOR(count_lines(p, "", 0) > before || p->out < 0, "%s printed nothing within 30 s after '%s'", p->who,
             command);
    pause_ms(30); /* the rest of its answer, if it is several lines */
    return 0;
}

/* The next line of p from *at on that is exactly text (exact) or contains it;
 * moves *at past it. */
static int expect_next(const struct proc *p, int *at, const char *text, int exact)
{
    for (int i = *at; i < nevents; i++)
        if (events[i].kind == EV_LINE && events[i].src == p &&
            (exact ? strcmp(events[i].text, text) == 0 : contains(events[i].text, text))) {
            *at = i + 1;
            return 1;
        }
    return 0;
}

/* Step 5: a playground session with subgen() and average(), as the course's
 * console shows it, then the delegation demo. */
static int scene_coroutines(void)
{
    static const char *const session[] = {
        "use subgen", "state", "send hi", "next", "state", "send Ok", "state",
        "use average", "send 4", "send 5", "throw", "state",
    };
    struct proc *p = spawn("coroutines", program("coroutines"), NULL, 1), *d;
    int at, first;
    if (!p)
        return -1;
    first = nevents;
    for (size_t i = 0; i < sizeof session / sizeof *session; i++)
        if (type_command(p, session[i]) < 0)
            return -1;
    close(p->in);
    p->in = -1;
    WAIT_FOR(p->pid == 0, "the playground did not exit within 30 s of the end of its input");
    if (p->status != 0)
        return fail("the playground exited with status %d", p->status);
    /* What Python prints, in this order. */
    at = first;
#define EXPECT(text, exact, why)                                                                          \
    if (!expect_next(p, &at, text, exact))                                                                \
        return fail("the playground did not print %s'%s' (%s) where Python does", exact ? "the line " : "", \
                    text, why)
    EXPECT("GEN_CREATED", 0, "a new generator's state");
    EXPECT("TypeError", 0, "sending a value to a just-started generator");
    EXPECT("Ready to accept message", 0, "next() runs it to its first yield");
    EXPECT("GEN_SUSPENDED", 0, "its state at a yield");
    EXPECT("Subgen received: Ok", 0, "the value sent in");
    EXPECT("GEN_CLOSED", 0, "its state once it returned");
    EXPECT("4.0", 1, "average() after send 4: a float, as Python prints it");
    EXPECT("4.5", 1, "average() after send 5");
    EXPECT("Done", 0, "StopIteration thrown in, caught inside");
    EXPECT("4.5", 0, "the value average() returns, in StopIteration.value");
    EXPECT("GEN_CLOSED", 0, "its state once it returned");
#undef EXPECT
    passed("the playground prints what Python prints: TypeError, the states, 4.0, 4.5, Done");
    d = spawn("delegation", program("delegation"), NULL, 0);
    if (!d)
        return -1;
    first = nevents;
    WAIT_FOR(d->pid == 0, "delegation did not finish within 30 s");
    at = first;
    if (d->status != 0 || !expect_next(d, &at, "Subgen received", 0) || !expect_next(d, &at, "Returned from subgen()", 0))
        return fail("delegation (exit %d) did not show a message reaching subgen() and 'Returned from subgen()'",
                    d->status);
    passed("delegation runs: messages reach subgen() through the delegator, and its return value comes back");
    snprintf(conclusion, sizeof conclusion,
             "A coroutine is a generator that values are sent into: it must be primed first (else TypeError), "
             "average() gives 4.0 and 4.5, a thrown StopIteration ends it with Done and its return value, and "
             "yield from delegates all of this to a subgenerator.");
    return 0;
}

/* Files in path (or -1). */
static int count_files(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char file[1024];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            snprintf(file, sizeof file, "%s/%s", path, e->d_name);
            unlink(file);
        }
    closedir(d);
    rmdir(path);
}

/* Runs the downloader in one mode; returns its wall time, or -1. */
static double download(const char *mode, const char *images, const char *url)
{
    const char *args[] = { mode, "-o", images, url, NULL };
    int before = count_files(images), after;
    struct proc *p = spawn("downloader", program("downloader"), args, 0);
    double deadline = now() + MUST_S;
    if (!p)
        return -1;
    while (p->pid > 0)
        if (!pump(deadline))
            return fail("the downloader (%s) did not finish within 30 s", mode);
    after = count_files(images);
    if (p->status != 0 || after - before < 10)
        return fail("the downloader (%s) exited with status %d, having written %d files (10 expected)", mode,
                    p->status, after - before);
    return p->exited - p->started;
}

/* Step 6: the ticker's lines at 0 and 3 seconds; then 10 pictures from the
 * image server, one after another and then all at once. */
static int scene_asyncio(void)
{
    struct proc *ticker = spawn("ticker", program("ticker"), NULL, 0), *server;
    int zero, three, numbers = 0, others = 0, port, first, open = 0, most_open[2] = { 0, 0 };
    char url[64];
    double t_sync, t_async, ratio;
    const char *tmp = getenv("TMPDIR");
    if (!ticker)
        return -1;
    first = nevents;
    WAIT_FOR(find_line(ticker, "3 seconds have passed", first) >= 0 || ticker->pid == 0,
             "the ticker did not print '3 seconds have passed' within 30 s");
    three = find_line(ticker, "3 seconds have passed", first);
    if (three >= 0)
        WAIT_FOR(count_lines(ticker, "", three) >= 3 || ticker->pid == 0, "the ticker went quiet after 3 seconds");
    record(EV_NOTE, NULL, "tour", "(Ctrl-C for the ticker)");
    if (stop_proc(ticker, SIGINT) < 0)
        return -1;
    zero = find_line(ticker, "0 seconds have passed", first);
    for (int i = first; i < nevents; i++) {
        int n, end = 0;
        if (events[i].kind != EV_LINE || events[i].src != ticker)
            continue;
        if (sscanf(events[i].text, "%d seconds have passed%n", &n, &end) == 1 && events[i].text[end] == '\0')
            others += n != 0 && n != 3;
        else if (sscanf(events[i].text, "%d%n", &n, &end) == 1 && events[i].text[end] == '\0')
            numbers += zero >= 0 && i > zero && i < three;
    }
    if (zero < 0 || three < 0 || three < zero)
        return fail("the ticker did not print '0 seconds have passed' then '3 seconds have passed'");
    if (others)
        return fail("the ticker reported other seconds than 0 and 3 (every third second only)");
    if (events[three].t - events[zero].t < 2.9)
        return fail("the ticker said '3 seconds have passed' %.3f s after '0 seconds have passed'",
                    events[three].t - events[zero].t);
    if (numbers < 3)
        return fail("the ticker printed %d numbers between its 0 and 3 seconds lines: print_nums did not run "
                    "while print_time waited", numbers);
    passed("the ticker printed its lines at 0 and %.1f s, and %d numbers in between",
           events[three].t - events[zero].t, numbers);

    {
        const char *args[] = { "--delay-ms", PICTURE_DELAY, "0", NULL };
        if ((port = start_listening(&server, "image_server", program("image_server"), args)) < 0)
            return -1;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d/320/240", port);
    snprintf(images, sizeof images, "%s/tour-images.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(images))
        return fail("cannot make a folder for the pictures: %s", strerror(errno));
    first = nevents;
    t_sync = download("--sync", images, url);
    {
        int middle = nevents;
        t_async = t_sync < 0 ? -1 : download("--async", images, url);
        /* How many connections the image server had open at once, in each run. */
        for (int i = first; i < nevents; i++) {
            if (events[i].kind != EV_LINE || events[i].src != server)
                continue;
            if (contains(events[i].text, "Connection from"))
                open++;
            else if (contains(events[i].text, "Connection closed") && open > 0)
                open--;
            if (open > most_open[i >= middle])
                most_open[i >= middle] = open;
        }
    }
    if (t_sync < 0 || t_async < 0)
        return -1;
    if (stop_proc(server, SIGTERM) < 0)
        return -1;
    ratio = t_sync / (t_async > 0.001 ? t_async : 0.001);
    record(EV_NOTE, NULL, "tour", "(10 pictures: %.2f s one after another, %.2f s all at once: %.1fx; at most %d "
                                  "and %d connections open at once)", t_sync, t_async, ratio, most_open[0],
           most_open[1]);
    if (ratio < 5)
        return fail("async took %.2f s against sync's %.2f s: only %.1fx faster (the lesson: many times, here at "
                    "least 5x)", t_async, t_sync, ratio);
    passed("the downloader is %.1fx faster async (%.2f s) than sync (%.2f s)", ratio, t_async, t_sync);
    snprintf(conclusion, sizeof conclusion,
             "One thread runs many coroutines that wait: the ticker counted while print_time slept its 3 "
             "seconds, and 10 pictures that each take %s ms to come took %.2f s one after another but %.2f s "
             "all at once (%.1fx).", PICTURE_DELAY, t_sync, t_async, ratio);
    return 0;
}

/* The folder of step n under top: "n_something". */
static int find_step_dir(int n)
{
    DIR *d = opendir(top);
    struct dirent *e;
    char prefix[8];
    int found = 0;
    if (!d)
        return 0;
    snprintf(prefix, sizeof prefix, "%d_", n);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0 && strlen(e->d_name) < sizeof dir) {
            snprintf(dir, sizeof dir, "%s", e->d_name);
            found = 1;
        }
    closedir(d);
    return found;
}

static const char *const titles[] = {
    "",
    "a blocking server: the second client waits for the first to leave",
    "select(): one loop serves everyone at once",
    "selectors and callbacks: each socket registered with what to call",
    "generators: round robin, and a server of generators taking turns",
    "coroutines: send, throw, return, yield from",
    "asyncio: the ticker, and the downloader sync against async",
};

int main(int argc, char **argv)
{
    struct sigaction sa;
    char *end;
    int result;
    if (argc < 2 || argc > 3 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        int help = argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
        fprintf(help ? stdout : stderr,
                "usage: %s STEP [TOP]\n"
                "  Plays step STEP's scene (1-6) with the programs built under TOP (default .):\n"
                "  clients A, B and C, one timeline, and whether it shows what the lesson says.\n",
                argv[0]);
        return help ? 0 : 2;
    }
    step = (int)strtol(argv[1], &end, 10);
    if (*end != '\0' || end == argv[1] || step < 1 || step > 6) {
        fprintf(stderr, "%s: no step '%s': steps are 1 to 6\n", argv[0], argv[1]);
        return 2;
    }
    snprintf(top, sizeof top, "%s", argc == 3 ? argv[2] : ".");
    if (!find_step_dir(step)) {
        fprintf(stderr, "%s: no folder %d_* in %s\n", argv[0], step, top);
        return 2;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    clock_gettime(CLOCK_MONOTONIC, &start);
    printf("# Step %d, %s (%s)\n", step, titles[step], dir);
    printf("#    time  who          what\n");
    fflush(stdout);
    switch (step) {
    case 1: result = scene_blocking(); break;
    case 2:
    case 3: result = scene_concurrent(); break;
    case 4: result = scene_generators(); break;
    case 5: result = scene_coroutines(); break;
    default: result = scene_asyncio(); break;
    }
    stop_all();
    if (images[0])
        remove_dir(images);
    for (int i = 0; i < nverdicts; i++)
        printf("ok - tour step %d: %s\n", step, verdict[i]);
    if (result < 0 || failure[0]) {
        printf("not ok - tour step %d: %s\n", step, failure[0] ? failure : "the scene failed");
        return 1;
    }
    printf("Conclusion (%.1f s): %s\n", now(), conclusion);
    return 0;
}
