/* loadgen: the benchmark load generator for the step servers. It drives connections that send
 * newlines, checks every reply byte against "Hello world\n", and reports rate, latency, memory,
 * and the server's CPU time over the measured window. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/epoll.h>
#endif

#define REPLY "Hello world\n"
#define REPLY_LEN 12
#define NS_PER_S INT64_C(1000000000)
/* At most this many connects in flight: a burst of thousands of SYNs overflows the server's
 * listen backlog, and the kernel retries the dropped ones only after 1 s, 3 s, ... */
#define CONNECT_WINDOW 256
#define CONNECT_TIMEOUT_NS (10 * NS_PER_S)       /* one connect() */
#define CONNECT_PHASE_TIMEOUT_NS (60 * NS_PER_S) /* all of them */
#define MAX_SHOWN_ERRORS 10

static const char usage_line[] =
    "usage: loadgen [-c CONNS] [-k LINES] [-d SECONDS] [-i IDLE] [--pid PID] [--timeout SECONDS]\n"
    "               [--control CTL,ACK] [--json] HOST:PORT | -p PORT\n";
static const char help_text[] =
    "Sends newlines to a 'Hello world' server and checks every byte of the replies.\n"
    "  HOST:PORT          the server ([::1]:PORT for IPv6); -p PORT means 127.0.0.1:PORT\n"
    "  -c CONNS           active connections (default 1)\n"
    "  -k LINES           lines per round: 1 = ping-pong, more = pipelined (default 1)\n"
    "  -d SECONDS         measured duration, fractions allowed (default 5)\n"
    "  -i IDLE            silent connections, opened first and held for the whole run (default 0)\n"
    "  --pid PID          sample the server's VmRSS/VmHWM: before connecting, once all are\n"
    "                     connected and answered once, and at the end; and its CPU time\n"
    "                     (utime + stime) at the start and end of the measured window\n"
    "                     (Linux; n/a elsewhere)\n"
    "  --control CTL,ACK  FIFOs of a `perf stat --control fifo:CTL,ACK -D -1`: write 'enable'\n"
    "                     to CTL just before the measured window and 'disable' at its end,\n"
    "                     each time waiting for perf's 'ack' on ACK, so perf counts that window\n"
    "  --timeout SECONDS  a round not fully answered within this is an error (default 10)\n"
    "  --json             print one line of JSON instead of the report\n"
    "Exit status: 0 no errors; 1 errors (wrong byte, early close, timeout, failed connect);\n"
    "2 bad arguments.\n";

struct options {
    const char *host, *port, *control;
    long conns, lines, idle, pid;
    double seconds, timeout;
    bool json;
};

enum conn_state { CONN_NEW, CONN_CONNECTING, CONN_OPEN, CONN_DEAD };

struct conn {
    int fd;
    enum conn_state state;
    bool busy;          /* a round is in flight */
    bool want_write;    /* watched for writability: the last send() was short */
    int64_t started_ns; /* when connect() or the current round began */
    long to_send;       /* newlines of this round not yet written */
    long to_receive;    /* reply bytes this round still expects */
    unsigned pos;       /* offset in REPLY of the next expected byte */
    uint64_t received;  /* reply bytes received so far, to locate errors */
};

/* Latencies go into a log-linear histogram rather than a growable array: its memory and cost per
 * sample stay constant however long or fast the run, so measuring does not disturb what is
 * measured, and percentiles need no sort. Below 128 us each microsecond has its own bucket;
 * above, each power of two is split into 128 buckets, so a percentile is reported at most 0.8 %
 * high, well under run-to-run noise. The maximum is kept exactly. */
#define HIST_SUB_BITS 7
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((32 - HIST_SUB_BITS + 1) * HIST_SUB) /* every uint32_t microsecond */

struct memory { long rss_kb, hwm_kb; }; /* -1: unknown */
/* Where the measured window starts and ends, as the server's CPU time. */
struct window { long long cpu_ticks[2]; bool closed, controlled; }; /* -1: unknown */

enum error_kind { ERR_CONNECT, ERR_BAD_BYTE, ERR_CLOSED, ERR_TIMEOUT, ERR_IO, ERR_IDLE, ERR_KINDS };
static const char *const error_names[ERR_KINDS] = { "connect", "bad_byte", "closed",
                                                    "timeout", "io",       "idle" };

/* A minimal level-triggered readiness poller: epoll on Linux, where poll() would scan all 10,000
 * idle descriptors on every call; poll() elsewhere. Slots are indexes into ctx.conns. */
struct poller {
#ifdef __linux__
    int epfd;
    struct epoll_event *events;
#else
    struct pollfd *fds; /* one per slot; fd -1 = not watched */
#endif
    size_t slots;
};

struct ready { size_t slot; bool readable, writable; };

struct ctx {
    struct options opt;
    struct addrinfo *addr;
    struct conn *conns; /* idle ones first, then active ones */
    size_t total;
    struct poller poller;
    struct ready *ready;
    char *request;      /* opt.lines newlines, sent as one write */
    size_t busy;        /* connections with a round in flight */
    bool measuring;
    int64_t end_ns;     /* rounds finishing later are neither counted nor restarted */
    size_t connected_active, connected_idle;
    uint64_t rounds, replies, errors, error_counts[ERR_KINDS];
    uint64_t hist[HIST_BUCKETS], lat_count, lat_max;
    struct memory mem_before, mem_open, mem_end;
    struct window window;
    int ctl_fd, ack_fd; /* --control, or -1 */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* ---- Arguments ---- */

static void bad_usage(const char *fmt, ...)
{
    va_list ap;
    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(usage_line, stderr);
    exit(2);
}

static long parse_long(const char *opt, const char *s, long min, long max)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno || v < min || v > max)
        bad_usage("%s wants a whole number from %ld to %ld, not '%s'", opt, min, max, s);
    return v;
}

static double parse_seconds(const char *opt, const char *s)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || *end != '\0' || errno || !(v > 0 && v <= 86400))
        bad_usage("%s wants seconds above 0 and up to 86400, not '%s'", opt, s);
    return v;
}

static void parse_args(struct options *o, int argc, char **argv)
{
    static const char *const with_value[] = { "-c", "-k", "-i", "-d", "-p", "--pid", "--timeout",
                                              "--control" };
    static char host[256];
    const char *target = NULL, *port = NULL, *colon;
    size_t host_len;
    *o = (struct options){ .conns = 1, .lines = 1, .pid = -1, .seconds = 5, .timeout = 10 };
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        bool known = false;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            printf("%s%s", usage_line, help_text);
            exit(0);
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        } else if (a[0] != '-' || a[1] == '\0') {
            if (target)
                bad_usage("unexpected argument '%s'", a);
            target = a;
            continue;
        }
        for (size_t j = 0; j < sizeof with_value / sizeof *with_value; j++)
            known = known || strcmp(a, with_value[j]) == 0;
        if (!known)
            bad_usage("unknown option %s", a);
        if (!(v = argv[++i])) /* argv[argc] is NULL */
            bad_usage("%s needs a value", a);
        if (strcmp(a, "-c") == 0)
            o->conns = parse_long(a, v, 1, 1000000);
        else if (strcmp(a, "-k") == 0)
            o->lines = parse_long(a, v, 1, 1000000);
        else if (strcmp(a, "-i") == 0)
            o->idle = parse_long(a, v, 0, 1000000);
        else if (strcmp(a, "--pid") == 0)
            o->pid = parse_long(a, v, 1, 0x7fffffff);
        else if (strcmp(a, "-d") == 0)
            o->seconds = parse_seconds(a, v);
        else if (strcmp(a, "--timeout") == 0)
            o->timeout = parse_seconds(a, v);
        else if (strcmp(a, "--control") == 0)
            o->control = v;
        else if (parse_long(a, v, 1, 65535))
            port = v;
    }
    if (target && port)
        bad_usage("give either HOST:PORT or -p PORT, not both");
    if (!target && !port)
        bad_usage("no server given");
    if (port) {
        o->host = "127.0.0.1";
        o->port = port;
        return;
    }
    colon = strrchr(target, ':');
    host_len = colon ? (size_t)(colon - target) : 0;
    if (host_len == 0 || host_len >= sizeof host)
        bad_usage("'%s' is not HOST:PORT", target);
    if (target[0] == '[' && host_len >= 2 && target[host_len - 1] == ']')
        memcpy(host, target + 1, host_len -= 2); /* [::1]:5000 */
    else
        memcpy(host, target, host_len);
    host[host_len] = '\0';
    o->host = host;
    o->port = colon + 1;
    parse_long("the port", o->port, 1, 65535);
}

/* ---- Latency histogram and memory samples ---- */

static size_t hist_index(uint32_t v)
{
    unsigned msb = 31, shift;
    if (v < HIST_SUB)
        return v;
    while (!(v >> msb))
        msb--;
    shift = msb - HIST_SUB_BITS;
    return (size_t)(shift + 1) * HIST_SUB + (v >> shift) - HIST_SUB;
}

/* The largest value that lands in bucket i, so percentiles err on the high side. */
static uint64_t hist_upper(size_t i)
{
    unsigned shift;
    if (i < HIST_SUB)
        return i;
    shift = (unsigned)(i / HIST_SUB) - 1;
    return ((i % HIST_SUB + HIST_SUB + 1) << shift) - 1;
}

static void record_latency(struct ctx *ctx, int64_t ns)
{
    uint64_t us = ns > 0 ? (uint64_t)ns / 1000 : 0;
    if (us > UINT32_MAX)
        us = UINT32_MAX;
    ctx->hist[hist_index((uint32_t)us)]++;
    ctx->lat_count++;
    if (us > ctx->lat_max)
        ctx->lat_max = us;
}

static unsigned long long percentile(const struct ctx *ctx, unsigned per_mille)
{
    uint64_t rank = (ctx->lat_count * per_mille + 999) / 1000, seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += ctx->hist[i];
        if (seen >= rank && seen > 0)
            return hist_upper(i) < ctx->lat_max ? hist_upper(i) : ctx->lat_max;
    }
    return ctx->lat_max;
}

static struct memory sample_memory(long pid)
{
    struct memory m = { -1, -1 };
#ifdef __linux__
    char path[64], line[256];
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    if (pid <= 0 || !(f = fopen(path, "r")))
        return m;
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "VmRSS: %ld", &m.rss_kb);
        sscanf(line, "VmHWM: %ld", &m.hwm_kb);
    }
    fclose(f);
#else
    (void)pid; /* no /proc/PID/status here: reported as n/a */
#endif
    return m;
}

/* The server's utime + stime in clock ticks, all its threads included, or -1. */
static long long sample_cpu_ticks(long pid)
{
    long long ticks = -1;
#ifdef __linux__
    char path[64], buf[1024], *p;
    unsigned long long utime, stime;
    size_t n = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    if (pid <= 0 || !(f = fopen(path, "r")))
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 14 and 15, counted after the command name, which may hold spaces and ')'. */
    if ((p = strrchr(buf, ')')) &&
        sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) == 2)
        ticks = (long long)(utime + stime);
#else
    (void)pid;
#endif
    return ticks;
}

/* ---- The measured window, told to a perf stat started with --control ---- */

static int open_control(struct ctx *ctx)
{
    char ctl[512];
    const char *comma = ctx->opt.control ? strchr(ctx->opt.control, ',') : NULL;
    ctx->ctl_fd = ctx->ack_fd = -1;
    if (!ctx->opt.control)
        return 0;
    if (!comma || comma == ctx->opt.control || !comma[1] ||
        (size_t)(comma - ctx->opt.control) >= sizeof ctl)
        bad_usage("--control wants CTL,ACK (two FIFO paths), not '%s'", ctx->opt.control);
    memcpy(ctl, ctx->opt.control, (size_t)(comma - ctx->opt.control));
    ctl[comma - ctx->opt.control] = '\0';
    /* Opening a FIFO to write fails (ENXIO) until its reader has it open: wait up to 10 s. */
    for (int tries = 0; tries < 1000 && ctx->ctl_fd < 0; tries++) {
        ctx->ctl_fd = open(ctl, O_WRONLY | O_NONBLOCK);
        if (ctx->ctl_fd < 0 && errno != ENXIO)
            break;
        if (ctx->ctl_fd < 0)
            nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
    }
    /* Read-write: never blocks to open, and never reads end of file while the writer is away. */
    ctx->ack_fd = open(comma + 1, O_RDWR);
    if (ctx->ctl_fd < 0 || ctx->ack_fd < 0) {
        fprintf(stderr, "loadgen: --control %s: cannot open the FIFOs: %s\n", ctx->opt.control,
                strerror(errno));
        return -1;
    }
    return 0;
}

/* Sends "enable" or "disable" and waits up to 5 s for the line "ack"; false if none came. perf
 * writes "ack\n" with its terminating NUL: NULs are skipped. */
static bool control(struct ctx *ctx, const char *command)
{
    char line[64], ack[8];
    size_t got = 0;
    int len = snprintf(line, sizeof line, "%s\n", command);
    if (ctx->ctl_fd < 0 || write(ctx->ctl_fd, line, (size_t)len) != len)
        return false;
    for (;;) {
        struct pollfd p = { .fd = ctx->ack_fd, .events = POLLIN };
        char c;
        if (poll(&p, 1, 5000) <= 0 || read(ctx->ack_fd, &c, 1) != 1)
            break;
        if (c == '\n' && got == 3 && memcmp(ack, "ack", 3) == 0)
            return true;
        if (c != '\0' && (c == '\n' || got == sizeof ack))
            break;
        if (c != '\0')
            ack[got++] = c;
    }
    fprintf(stderr, "loadgen: --control: no 'ack' for '%s' within 5 s\n", command);
    return false;
}

static void window_begin(struct ctx *ctx)
{
    ctx->window.controlled = ctx->ctl_fd >= 0 && control(ctx, "enable");
    ctx->window.cpu_ticks[0] = sample_cpu_ticks(ctx->opt.pid);
}

static void window_end(struct ctx *ctx)
{
    if (ctx->window.closed)
        return;
    ctx->window.closed = true;
    ctx->window.cpu_ticks[1] = sample_cpu_ticks(ctx->opt.pid);
    if (ctx->window.controlled)
        ctx->window.controlled = control(ctx, "disable");
}

/* ---- Poller ---- */

static int poller_init(struct poller *p, size_t slots)
{
    p->slots = slots;
#ifdef __linux__
    p->events = calloc(slots, sizeof *p->events);
    p->epfd = epoll_create1(0);
    return p->events && p->epfd >= 0 ? 0 : -1;
#else
    if (!(p->fds = calloc(slots, sizeof *p->fds)))
        return -1;
    for (size_t i = 0; i < slots; i++)
        p->fds[i].fd = -1;
    return 0;
#endif
}

/* Watch fd (in slot) for reading and/or writing; neither = stop watching. */
static void poller_watch(struct poller *p, size_t slot, int fd, bool watched, bool rd, bool wr)
{
#ifdef __linux__
    struct epoll_event ev = { .events = (rd ? EPOLLIN : 0u) | (wr ? EPOLLOUT : 0u) };
    int op = !rd && !wr ? EPOLL_CTL_DEL : watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    ev.data.u64 = slot;
    epoll_ctl(p->epfd, op, fd, &ev);
#else
    (void)watched;
    p->fds[slot].fd = rd || wr ? fd : -1;
    p->fds[slot].events = (short)((rd ? POLLIN : 0) | (wr ? POLLOUT : 0));
#endif
}

/* Errors and hang-ups count as both readable and writable: recv() or SO_ERROR then tells which. */
static size_t poller_wait(struct poller *p, int timeout_ms, struct ready *out)
{
    size_t n = 0;
#ifdef __linux__
    int max = p->slots < 65536 ? (int)p->slots : 65536;
    int got = epoll_wait(p->epfd, p->events, max, timeout_ms);
    for (int i = 0; i < got; i++) {
        uint32_t e = p->events[i].events;
        out[n++] = (struct ready){ (size_t)p->events[i].data.u64,
                                   e & (EPOLLIN | EPOLLERR | EPOLLHUP),
                                   e & (EPOLLOUT | EPOLLERR | EPOLLHUP) };
    }
#else
    if (poll(p->fds, (nfds_t)p->slots, timeout_ms) <= 0)
        return 0;
    for (size_t i = 0; i < p->slots; i++) {
        short e = p->fds[i].fd >= 0 ? p->fds[i].revents : 0;
        if (e)
            out[n++] = (struct ready){ i, e & (POLLIN | POLLERR | POLLHUP),
                                       e & (POLLOUT | POLLERR | POLLHUP) };
    }
#endif
    return n;
}

/* ---- Errors: counted by kind, the first few explained, the connection closed ---- */

static void drop_conn(struct ctx *ctx, size_t slot, enum error_kind kind)
{
    struct conn *c = &ctx->conns[slot];
    ctx->errors++;
    ctx->error_counts[kind]++;
    ctx->busy -= c->busy;
    c->busy = false;
    if (c->fd >= 0)
        close(c->fd); /* which also takes it out of the epoll set */
#ifndef __linux__
    ctx->poller.fds[slot].fd = -1;
#endif
    c->fd = -1;
    c->state = CONN_DEAD;
}

static void conn_error(struct ctx *ctx, size_t slot, enum error_kind kind, const char *fmt, ...)
{
    va_list ap;
    if (ctx->errors < MAX_SHOWN_ERRORS) {
        fprintf(stderr, "loadgen: %s connection %zu: ",
                slot < (size_t)ctx->opt.idle ? "idle" : "active", slot);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
    } else if (ctx->errors == MAX_SHOWN_ERRORS) {
        fputs("loadgen: further errors are counted, not shown\n", stderr);
    }
    drop_conn(ctx, slot, kind);
}

/* ---- Connecting: failures are summed up in one message, not one line each ---- */

static void connect_failed(struct ctx *ctx, size_t slot, int err, int *first_err)
{
    *first_err = *first_err ? *first_err : err;
    drop_conn(ctx, slot, ERR_CONNECT);
}

static void start_connect(struct ctx *ctx, size_t slot, int *first_err)
{
    struct conn *c = &ctx->conns[slot];
    int one = 1;
    c->started_ns = now_ns();
    if ((c->fd = socket(ctx->addr->ai_family, SOCK_STREAM, 0)) < 0) {
        connect_failed(ctx, slot, errno, first_err);
        return;
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    /* A request is one small write; Nagle must never hold it back behind an unacked one. */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, ctx->addr->ai_addr, ctx->addr->ai_addrlen) == 0) {
        c->state = CONN_OPEN;
    } else if (errno == EINPROGRESS || errno == EINTR) {
        c->state = CONN_CONNECTING;
        poller_watch(&ctx->poller, slot, c->fd, false, false, true);
    } else {
        connect_failed(ctx, slot, errno, first_err);
    }
}

/* Connect slots [first, first + count), CONNECT_WINDOW at a time; returns how many succeeded. */
static size_t open_connections(struct ctx *ctx, size_t first, size_t count, const char *what)
{
    size_t next = first, end = first + count, oldest = first, in_flight = 0, ok = 0;
    int first_err = 0;
    int64_t now = now_ns(), deadline = now + CONNECT_PHASE_TIMEOUT_NS;
    while ((next < end || in_flight > 0) && now < deadline) {
        for (; next < end && in_flight < CONNECT_WINDOW; next++) {
            start_connect(ctx, next, &first_err);
            ok += ctx->conns[next].state == CONN_OPEN;
            in_flight += ctx->conns[next].state == CONN_CONNECTING;
        }
        size_t n = in_flight ? poller_wait(&ctx->poller, 100, ctx->ready) : 0;
        for (size_t i = 0; i < n; i++) {
            struct conn *c = &ctx->conns[ctx->ready[i].slot];
            int err = 0;
            socklen_t len = sizeof err;
            if (c->state != CONN_CONNECTING)
                continue;
            in_flight--;
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
            if (err) {
                connect_failed(ctx, ctx->ready[i].slot, err, &first_err);
            } else {
                c->state = CONN_OPEN;
                poller_watch(&ctx->poller, ctx->ready[i].slot, c->fd, true, false, false);
                ok++;
            }
        }
        now = now_ns();
        while (oldest < next && ctx->conns[oldest].state != CONN_CONNECTING)
            oldest++;
        for (size_t s = oldest; s < next; s++)
            if (ctx->conns[s].state == CONN_CONNECTING &&
                now - ctx->conns[s].started_ns > CONNECT_TIMEOUT_NS) {
                connect_failed(ctx, s, ETIMEDOUT, &first_err);
                in_flight--;
            }
    }
    for (size_t s = first; s < end; s++) /* the phase timed out: whatever is left failed */
        if (ctx->conns[s].state == CONN_NEW || ctx->conns[s].state == CONN_CONNECTING)
            connect_failed(ctx, s, ETIMEDOUT, &first_err);
    if (ok < count)
        fprintf(stderr, "loadgen: only %zu of %zu %s connections to %s:%s succeeded (%s)\n", ok,
                count, what, ctx->opt.host, ctx->opt.port, strerror(first_err));
    return ok;
}

/* ---- Rounds ---- */

static void send_pending(struct ctx *ctx, size_t slot)
{
    struct conn *c = &ctx->conns[slot];
    while (c->to_send > 0) {
        ssize_t n = send(c->fd, ctx->request, (size_t)c->to_send, 0); /* all bytes are '\n' */
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->want_write)
                poller_watch(&ctx->poller, slot, c->fd, true, true, true);
            c->want_write = true;
            return;
        }
        if (n < 0) {
            conn_error(ctx, slot, ERR_IO, "send: %s", strerror(errno));
            return;
        }
        c->to_send -= n;
    }
    if (c->want_write)
        poller_watch(&ctx->poller, slot, c->fd, true, true, false);
    c->want_write = false;
}

static void start_round(struct ctx *ctx, size_t slot, int64_t now)
{
    struct conn *c = &ctx->conns[slot];
    c->busy = true;
    ctx->busy++;
    c->to_send = ctx->opt.lines;
    c->to_receive = ctx->opt.lines * REPLY_LEN;
    c->started_ns = now;
    send_pending(ctx, slot);
}

static const char *show_byte(unsigned char b, char out[8])
{
    snprintf(out, 8, b >= 0x20 && b < 0x7f ? "'%c'" : "0x%02x", b);
    return out;
}

/* Check every received byte against the endless stream "Hello world\nHello world\n...". */
static void on_readable(struct ctx *ctx, size_t slot)
{
    struct conn *c = &ctx->conns[slot];
    unsigned char buf[65536];
    char got[8], want[8];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    int64_t now = now_ns();
    bool counts = ctx->measuring && now <= ctx->end_ns;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        conn_error(ctx, slot, ERR_IO, "recv: %s", strerror(errno));
    if (n == 0)
        conn_error(ctx, slot, ERR_CLOSED, "closed by the server after %llu bytes, %ld more "
                   "expected", (unsigned long long)c->received, c->to_receive);
    for (ssize_t i = 0; i < n; i++) {
        if (c->to_receive == 0) {
            conn_error(ctx, slot, ERR_BAD_BYTE, "%zd unrequested bytes after byte %llu, from %s",
                       n - i, (unsigned long long)c->received, show_byte(buf[i], got));
            return;
        }
        if (buf[i] != (unsigned char)REPLY[c->pos]) {
            conn_error(ctx, slot, ERR_BAD_BYTE, "wrong byte at offset %llu: got %s, expected %s",
                       (unsigned long long)c->received, show_byte(buf[i], got),
                       show_byte((unsigned char)REPLY[c->pos], want));
            return;
        }
        c->received++;
        c->to_receive--;
        if (++c->pos == REPLY_LEN) {
            c->pos = 0;
            ctx->replies += counts;
        }
    }
    if (n > 0 && c->to_receive == 0 && c->to_send == 0) {
        c->busy = false;
        ctx->busy--;
        if (counts) {
            ctx->rounds++;
            record_latency(ctx, now - c->started_ns);
        }
        if (now < ctx->end_ns)
            start_round(ctx, slot, now);
    }
}

/* Every active connection runs rounds back to back until `seconds` have passed; rounds still in
 * flight then are finished (and checked) but not counted. seconds = 0: exactly one round each. */
static void run_rounds(struct ctx *ctx, double seconds, bool measuring)
{
    int64_t timeout_ns = (int64_t)(ctx->opt.timeout * 1e9), start, last_check;
    if (measuring)
        window_begin(ctx);
    start = last_check = now_ns();
    ctx->measuring = measuring;
    ctx->end_ns = start + (int64_t)(seconds * 1e9);
    for (size_t s = (size_t)ctx->opt.idle; s < ctx->total; s++)
        if (ctx->conns[s].state == CONN_OPEN)
            start_round(ctx, s, start);
    while (ctx->busy > 0) {
        size_t n = poller_wait(&ctx->poller, 50, ctx->ready);
        for (size_t i = 0; i < n; i++) {
            struct ready r = ctx->ready[i];
            struct conn *c = &ctx->conns[r.slot];
            if (r.writable && c->want_write && c->state == CONN_OPEN)
                send_pending(ctx, r.slot);
            if (r.readable && c->state == CONN_OPEN)
                on_readable(ctx, r.slot);
        }
        int64_t now = now_ns();
        if (measuring && now >= ctx->end_ns)
            window_end(ctx);
        if (now - last_check < NS_PER_S / 10)
            continue;
        last_check = now;
        for (size_t s = (size_t)ctx->opt.idle; s < ctx->total; s++)
            if (ctx->conns[s].busy && now - ctx->conns[s].started_ns > timeout_ns)
                conn_error(ctx, s, ERR_TIMEOUT, "%ld reply bytes of a round of %ld lines still "
                           "missing after %.1f s", ctx->conns[s].to_receive, ctx->opt.lines,
                           ctx->opt.timeout);
    }
    if (measuring)
        window_end(ctx); /* every connection failed before the end */
}

/* After the run nothing may be waiting on any connection: not a byte, not an end of stream. */
static void check_quiet(struct ctx *ctx)
{
    struct timespec grace = { 0, 50 * 1000 * 1000 }; /* lets stray bytes arrive */
    nanosleep(&grace, NULL);
    for (size_t s = 0; s < ctx->total; s++) {
        bool idle = s < (size_t)ctx->opt.idle;
        unsigned char b;
        char shown[8];
        ssize_t n = ctx->conns[s].state == CONN_OPEN ? recv(ctx->conns[s].fd, &b, 1, 0) : -1;
        if (n > 0)
            conn_error(ctx, s, idle ? ERR_IDLE : ERR_BAD_BYTE, "unrequested bytes, from %s",
                       show_byte(b, shown));
        else if (n == 0)
            conn_error(ctx, s, idle ? ERR_IDLE : ERR_CLOSED, "closed by the server");
        else if (ctx->conns[s].state == CONN_OPEN && errno != EAGAIN && errno != EWOULDBLOCK)
            conn_error(ctx, s, idle ? ERR_IDLE : ERR_IO, "recv: %s", strerror(errno));
    }
}

/* ---- Report ---- */

static void print_memory(const char *sep, const char *name, struct memory m, bool json)
{
    if (json && m.rss_kb < 0)
        printf("%s\"%s\":null", sep, name);
    else if (json)
        printf("%s\"%s\":{\"rss_kb\":%ld,\"hwm_kb\":%ld}", sep, name, m.rss_kb, m.hwm_kb);
    else if (m.rss_kb < 0)
        printf("%s%s n/a", sep, name);
    else
        printf("%s%s %ld/%ld", sep, name, m.rss_kb, m.hwm_kb);
}

static double clock_ticks(void)
{
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)hz : 100.0;
}

static void report(const struct ctx *ctx)
{
    const struct options *o = &ctx->opt;
    double rate = (double)ctx->replies / o->seconds;
    if (o->json) {
        printf("{\"conns\":%ld,\"lines\":%ld,\"idle\":%ld,\"seconds\":%.3f,\"connected\":%zu,"
               "\"idle_connected\":%zu,\"rounds\":%llu,\"replies\":%llu,\"replies_per_s\":%.1f,",
               o->conns, o->lines, o->idle, o->seconds, ctx->connected_active, ctx->connected_idle,
               (unsigned long long)ctx->rounds, (unsigned long long)ctx->replies, rate);
        if (ctx->lat_count)
            printf("\"p50_us\":%llu,\"p99_us\":%llu,\"max_us\":%llu,", percentile(ctx, 500),
                   percentile(ctx, 990), (unsigned long long)ctx->lat_max);
        else
            printf("\"p50_us\":null,\"p99_us\":null,\"max_us\":null,");
        printf("\"errors\":%llu,\"error_kinds\":{", (unsigned long long)ctx->errors);
        for (int k = 0; k < ERR_KINDS; k++)
            printf("%s\"%s\":%llu", k ? "," : "", error_names[k],
                   (unsigned long long)ctx->error_counts[k]);
        printf("},");
        if (ctx->window.cpu_ticks[0] >= 0 && ctx->window.cpu_ticks[1] >= 0)
            printf("\"server_cpu_s\":%.3f,", (double)(ctx->window.cpu_ticks[1] -
                                                    ctx->window.cpu_ticks[0]) / clock_ticks());
        else
            printf("\"server_cpu_s\":null,");
        printf("\"controlled\":%s,\"memory\":{", ctx->window.controlled ? "true" : "false");
        print_memory("", "before", ctx->mem_before, true);
        print_memory(",", "open", ctx->mem_open, true);
        print_memory(",", "end", ctx->mem_end, true);
        printf("}}\n");
        return;
    }
    printf("loadgen %s:%s: %ld connection%s, %ld line%s per round, %.2f s, %ld idle\n", o->host,
           o->port, o->conns, o->conns == 1 ? "" : "s", o->lines, o->lines == 1 ? "" : "s",
           o->seconds, o->idle);
    printf("  connected  %zu of %ld active, %zu of %ld idle\n", ctx->connected_active, o->conns,
           ctx->connected_idle, o->idle);
    printf("  replies    %llu in %llu rounds: %.0f replies/s\n", (unsigned long long)ctx->replies,
           (unsigned long long)ctx->rounds, rate);
    if (ctx->lat_count)
        printf("  latency    p50 %llu us, p99 %llu us, max %llu us per round\n",
               percentile(ctx, 500), percentile(ctx, 990), (unsigned long long)ctx->lat_max);
    printf("  errors     %llu", (unsigned long long)ctx->errors);
    for (int k = 0; k < ERR_KINDS; k++)
        if (ctx->error_counts[k])
            printf(" (%s %llu)", error_names[k], (unsigned long long)ctx->error_counts[k]);
    if (ctx->window.cpu_ticks[0] >= 0 && ctx->window.cpu_ticks[1] >= 0 && ctx->replies)
        printf("\n  server CPU %.3f s in the window, %.2f us per reply",
               (double)(ctx->window.cpu_ticks[1] - ctx->window.cpu_ticks[0]) / clock_ticks(),
               (double)(ctx->window.cpu_ticks[1] - ctx->window.cpu_ticks[0]) / clock_ticks() * 1e6 /
                   (double)ctx->replies);
    if (o->pid > 0) {
        printf("\n  server kB  VmRSS/VmHWM ");
        print_memory("", "before", ctx->mem_before, false);
        print_memory(", ", o->idle ? "all idle open" : "connected", ctx->mem_open, false);
        print_memory(", ", "end", ctx->mem_end, false);
    }
    printf("\n");
}

int main(int argc, char **argv)
{
    static struct ctx ctx; /* static: zeroed, and the histogram alone is 26 kB */
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
    struct sigaction ignore = { .sa_handler = SIG_IGN };
    struct rlimit lim = { 0, 0 };
    int rc;

    parse_args(&ctx.opt, argc, argv);
    if ((rc = getaddrinfo(ctx.opt.host, ctx.opt.port, &hints, &ctx.addr)) != 0)
        bad_usage("%s: %s", ctx.opt.host, gai_strerror(rc));
    sigaction(SIGPIPE, &ignore, NULL); /* a server that resets must give EPIPE, not kill us */

    /* Every connection is a descriptor: take all that the hard limit allows. */
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &lim) < 0)
            getrlimit(RLIMIT_NOFILE, &lim);
    }
    ctx.total = (size_t)(ctx.opt.conns + ctx.opt.idle);
    if (lim.rlim_cur != RLIM_INFINITY && ctx.total + 16 > lim.rlim_cur) {
        fprintf(stderr, "loadgen: %zu connections need %zu descriptors; the limit is %llu\n",
                ctx.total, ctx.total + 16, (unsigned long long)lim.rlim_cur);
        return 1;
    }
    ctx.conns = calloc(ctx.total, sizeof *ctx.conns);
    ctx.ready = calloc(ctx.total, sizeof *ctx.ready);
    ctx.request = malloc((size_t)ctx.opt.lines);
    if (!ctx.conns || !ctx.ready || !ctx.request || poller_init(&ctx.poller, ctx.total) < 0) {
        perror("loadgen: setup");
        return 1;
    }
    memset(ctx.request, '\n', (size_t)ctx.opt.lines);
    for (size_t s = 0; s < ctx.total; s++)
        ctx.conns[s].fd = -1;

    ctx.window.cpu_ticks[0] = ctx.window.cpu_ticks[1] = -1;
    if (open_control(&ctx) < 0)
        return 1;
    ctx.mem_before = sample_memory(ctx.opt.pid);
    ctx.mem_open = sample_memory(-1); /* n/a unless the connections are all made */
    ctx.connected_idle = open_connections(&ctx, 0, (size_t)ctx.opt.idle, "idle");
    if (ctx.errors == 0)
        ctx.connected_active =
            open_connections(&ctx, (size_t)ctx.opt.idle, (size_t)ctx.opt.conns, "active");
    if (ctx.errors == 0) {
        /* One unmeasured round per active connection. It warms the server up, and as the server
         * accepts in order from one queue, once every active connection (opened last) has been
         * answered every idle one has been accepted too: only then is "open" memory meaningful. */
        for (size_t s = (size_t)ctx.opt.idle; s < ctx.total; s++)
            poller_watch(&ctx.poller, s, ctx.conns[s].fd, false, true, false);
        run_rounds(&ctx, 0, false);
        ctx.mem_open = sample_memory(ctx.opt.pid);
        if (ctx.errors == 0)
            run_rounds(&ctx, ctx.opt.seconds, true);
        check_quiet(&ctx);
    }
    ctx.mem_end = sample_memory(ctx.opt.pid);
    report(&ctx);
    for (size_t s = 0; s < ctx.total; s++)
        if (ctx.conns[s].fd >= 0)
            close(ctx.conns[s].fd);
    freeaddrinfo(ctx.addr);
    return ctx.errors ? 1 : 0;
}
