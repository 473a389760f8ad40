/* Step 6's image downloader (the lesson's demo): the same downloads one after another with blocking
 * sockets, then all at once as tasks on the small asyncio, and how long each way took.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o downloader downloader.c common.c tasks.c futures.c loop.c signals.c sockets.c gen.c selector.c http.c */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE /* macOS: O_NOFOLLOW and O_DIRECTORY, hidden under _POSIX_C_SOURCE alone */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "asyncio.h"
#include "common.h"
#include "http.h"

#define DEFAULT_URL "http://127.0.0.1:8000/320/240"
#define MAX_REDIRECTS 10
#define MAX_COUNT 10000

static const char *start_url = DEFAULT_URL;
static int count = 10, concurrency; /* 0: no limit */
static int run_sync = 1, run_async = 1;
static long long timeout_ms = 30000;  /* without progress */
static const char *dir_name = "images";
static const char *timeline_file;
static int dir_fd = -1;
static int on_terminal;
/* Ctrl-C or SIGTERM: downloads under way stop and remove their part files. */
static volatile sig_atomic_t interrupted;

/* One image: where it is, what became of it. In async mode it is also the
 * frame of the task that downloads it. */
struct download {
    struct gen gen;          /* first: the coroutine's frame starts here */
    struct task task;
    struct sock_op io;
    struct wait_for_fut wait;
    struct fut turn;         /* -c: done when a slot is free for it */
    struct loop *loop;
    int index;               /* 1, 2, ... as the messages count them */
    http_url url;            /* the current URL: the start URL, then each redirect */
    int redirects;
    struct addrinfo *addrs, *addr;
    int fd;                  /* the connection, or -1 */
    int outcome;
    http_response resp;
    int file_fd;             /* the temporary file, or -1 */
    char part[64];           /* its name in the folder */
    char name[HTTP_NAME_MAX + 1]; /* the name it was saved under */
    long long bytes;
    long long start_ms, end_ms;   /* relative to the mode's start */
    char error[300];         /* "" while all is well */
    char request[HTTP_PATH_MAX + HTTP_HOST_MAX + 128];
    char buf[32768];         /* large reads: a thousand downloads at once move 230 MB */
};

/* ---- what both modes share: time, messages, the response, the file ---- */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct mode {
    const char *name;        /* "sync" or "async" */
    struct download *downloads;
    long long start_ms, elapsed_ms, bytes;
    int done, ok;
};

static void progress(const struct mode *m)
{
    if (on_terminal)
        printf("\r%s: %d/%d images, %.1f MB", m->name, m->done, count, m->bytes / 1e6);
    else
        printf("%s: %d/%d images, %.1f MB\n", m->name, m->done, count, m->bytes / 1e6);
    fflush(stdout);
}

/* Records the first error only: it is the cause, what follows is cleanup. */
static void fail(struct download *d, const char *fmt, ...)
{
    va_list ap;
    if (d->error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
}

static const char *error_text(int err)
{
    if (interrupted && (err == EINTR || err == ECANCELED))
        return "interrupted";
    return err == ETIMEDOUT ? "timed out" : err == ECONNREFUSED ? "connection refused" : strerror(err);
}

static const char *status_text(int status)
{
    switch (status) {
    case 400: return " Bad Request";
    case 401: return " Unauthorized";
    case 403: return " Forbidden";
    case 404: return " Not Found";
    case 405: return " Method Not Allowed";
    case 410: return " Gone";
    case 429: return " Too Many Requests";
    case 500: return " Internal Server Error";
    case 502: return " Bad Gateway";
    case 503: return " Service Unavailable";
    case 504: return " Gateway Timeout";
    default: return "";
    }
}

/* getaddrinfo() blocks, and in async mode it blocks the loop while the resolver
 * works (asyncio hands it to a thread; we have none). For names in /etc/hosts or
 * a nearby resolver that is a moment, once per connection; acceptable here. */
static int resolve(struct download *d)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    char port[8];
    int rc;
    snprintf(port, sizeof port, "%u", d->url.port);
    rc = getaddrinfo(d->url.host, port, &hints, &d->addrs);
    if (rc != 0) {
        fail(d, "unknown host %s: %s", d->url.host, gai_strerror(rc));
        return 0;
    }
    return 1;
}

/* Called before each request: what to send, and a parser for the answer. */
static void prepare_request(struct download *d)
{
    char port[16] = "";
    if (d->url.port != 80)
        snprintf(port, sizeof port, ":%u", d->url.port);
    snprintf(d->request, sizeof d->request,
             "GET %s HTTP/1.1\r\nHost: %s%s\r\nUser-Agent: downloader\r\nAccept: */*\r\nConnection: close\r\n\r\n",
             d->url.path, d->url.host, port);
    http_response_init(&d->resp, false);
}

enum outcome { GOING, FOLLOW, SAVED, FAILED };

static int on_head(struct download *d)
{
    int s = d->resp.status;
    const char *error;
    if ((s == 301 || s == 302 || s == 303 || s == 307 || s == 308) && d->resp.location[0]) {
        if (++d->redirects > MAX_REDIRECTS) {
            fail(d, "too many redirects");
            return FAILED;
        }
        if ((error = http_url_resolve(&d->url, &d->url, d->resp.location)) != NULL) {
            fail(d, "redirect to %s: %s", d->resp.location, error);
            return FAILED;
        }
        return FOLLOW; /* Connection: close, so the rest of this answer is not needed */
    }
    if (s < 200 || s > 299) {
        fail(d, "HTTP %d%s", s, status_text(s));
        return FAILED;
    }
    /* The body goes to a temporary file, named after nothing the server chose:
     * O_EXCL|O_NOFOLLOW, so it is a new file, never a link planted there. */
    snprintf(d->part, sizeof d->part, ".download-%ld-%d.part", (long)getpid(), d->index);
    d->file_fd = openat(dir_fd, d->part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
    if (d->file_fd < 0) {
        fail(d, "cannot create %s/%s: %s", dir_name, d->part, strerror(errno));
        return FAILED;
    }
    return GOING;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The file is complete: give it its name. link() never replaces an existing
 * name (a file or a symlink), so we try name, name-1, name-2, ... until one
 * is free; a rename could overwrite. */
static int publish(struct download *d)
{
    char safe[HTTP_NAME_MAX + 1];
    int rc = close(d->file_fd);
    d->file_fd = -1;
    if (rc < 0) {
        fail(d, "cannot write %s/%s: %s", dir_name, d->part, strerror(errno));
        return FAILED;
    }
    http_safe_name(safe, d->url.path, (unsigned long)d->index);
    snprintf(d->name, sizeof d->name, "%s", safe);
    for (unsigned n = 1; linkat(dir_fd, d->part, dir_fd, d->name, 0) < 0; n++) {
        if (errno != EEXIST || n > 100000) {
            fail(d, "cannot save %s/%s: %s", dir_name, d->name, strerror(errno));
            return FAILED;
        }
        http_numbered_name(d->name, safe, n);
    }
    unlinkat(dir_fd, d->part, 0);
    d->part[0] = '\0';
    return SAVED;
}

/* Feeds received bytes to the parser (len 0: the server closed) and says
 * what they mean: more to come, a redirect to follow, saved, or failed. */
static int take(struct download *d, const char *data, size_t len)
{
    http_slice in = { data, len }, body;
    for (;;) {
        http_event ev = len == 0 ? http_response_eof(&d->resp) : http_response_feed(&d->resp, &in, &body);
        int outcome;
        switch (ev) {
        case HTTP_MORE:
            return GOING;
        case HTTP_HEAD:
            if ((outcome = on_head(d)) != GOING)
                return outcome;
            break;
        case HTTP_BODY:
            if (write_all(d->file_fd, body.data, body.len) < 0) {
                fail(d, "cannot write %s/%s: %s", dir_name, d->part, strerror(errno));
                return FAILED;
            }
            d->bytes += (long long)body.len;
            break;
        case HTTP_DONE:
            return d->file_fd >= 0 ? publish(d) : (fail(d, "no response"), FAILED);
        case HTTP_ERROR:
            fail(d, "%s", d->resp.error);
            return FAILED;
        }
    }
}

/* However it ended: nothing half-written stays behind; count and report it. */
static void finish(struct download *d, struct mode *m)
{
    if (d->addrs)
        freeaddrinfo(d->addrs);
    d->addrs = NULL;
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    if (d->file_fd >= 0)
        close(d->file_fd);
    d->file_fd = -1;
    if (d->part[0])
        unlinkat(dir_fd, d->part, 0);
    d->end_ms = now_ms() - m->start_ms;
    m->done++;
    if (d->error[0]) {
        d->bytes = 0;
        fprintf(stderr, "%simage %d: %s: %s\n", on_terminal ? "\r\033[K" : "", d->index, start_url, d->error);
    } else {
        m->ok++;
        m->bytes += d->bytes;
    }
    progress(m);
}

/* ---- synchronous: blocking sockets, one download after another ---- */

/* A blocking connection to d's host, or -1. connect() itself has no time
 * limit, so it runs non-blocking and poll() waits for it; recv() and send()
 * get theirs from SO_RCVTIMEO and SO_SNDTIMEO. */
static int connect_blocking(struct download *d)
{
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    int err = 0;
    if (!resolve(d))
        return -1;
    for (d->addr = d->addrs; d->addr; d->addr = d->addr->ai_next) {
        struct pollfd pfd;
        socklen_t len = sizeof err;
        int fd = socket(d->addr->ai_family, SOCK_STREAM, 0);
        if (fd < 0) {
            err = errno;
            continue;
        }
        fcntl(fd, F_SETFL, O_NONBLOCK);
        if (connect(fd, d->addr->ai_addr, d->addr->ai_addrlen) == 0) {
            err = 0;
        } else if (errno != EINPROGRESS) {
            err = errno;
        } else {
            pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
            int ready = poll(&pfd, 1, (int)timeout_ms);
            if (ready <= 0)
                err = ready < 0 ? errno : ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        }
        if (err == 0) {
            fcntl(fd, F_SETFL, 0);
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
            freeaddrinfo(d->addrs);
            d->addrs = NULL;
            return fd;
        }
        close(fd);
    }
    fail(d, "%s", error_text(err));
    return -1;
}

static void download_sync(struct download *d, struct mode *m)
{
    int outcome = FOLLOW;
    d->start_ms = now_ms() - m->start_ms;
    while (outcome == FOLLOW) {
        size_t sent = 0;
        if ((d->fd = connect_blocking(d)) < 0)
            break;
        prepare_request(d);
        while (sent < strlen(d->request)) {
            ssize_t n = send(d->fd, d->request + sent, strlen(d->request) - sent, 0);
            if (n < 0 && errno == EINTR && !interrupted)
                continue;
            if (n < 0) {
                fail(d, "%s", error_text(errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno));
                break;
            }
            sent += (size_t)n;
        }
        outcome = d->error[0] ? FAILED : GOING;
        while (outcome == GOING) {
            ssize_t n = interrupted ? (errno = EINTR, -1) : recv(d->fd, d->buf, sizeof d->buf, 0);
            if (n < 0 && errno == EINTR && !interrupted)
                continue;
            if (n < 0)
                fail(d, "%s", error_text(errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno));
            outcome = n < 0 ? FAILED : take(d, d->buf, (size_t)n);
        }
        close(d->fd);
        d->fd = -1;
    }
    finish(d, m);
}

/* ---- asynchronous: a task per image, awaited together ---- */

static struct mode *async_mode;
/* -c: how many downloads are under way, and those waiting for a slot, in order. */
static int active;
static struct download **waiting;
static int waiting_head, waiting_tail;

/* Wraps an operation in the time limit: no progress for timeout_ms fails it. */
static struct fut *in_time(struct download *d, struct fut *op)
{
    return aio_wait_for(d->loop, &d->wait, op, timeout_ms);
}

static int download_body(struct gen *g)
{
    struct download *d = (struct download *)g;
    GEN_BEGIN(g);
    if (concurrency > 0 && active >= concurrency) {
        fut_init(&d->turn, d->loop);
        waiting[waiting_tail++] = d;
        AWAIT(g, &d->turn); /* the slot of a download that ended is ours now */
    } else {
        active++;
    }
    d->start_ms = now_ms() - async_mode->start_ms;
    d->outcome = FOLLOW;
    while (d->outcome == FOLLOW) {
        d->outcome = FAILED;
        if (!resolve(d))
            break;
        for (d->addr = d->addrs; d->addr && d->fd < 0; d->addr = d->addr->ai_next) {
            d->fd = socket(d->addr->ai_family, SOCK_STREAM, 0);
            if (d->fd < 0) {
                fail(d, "socket: %s", strerror(errno));
                continue;
            }
            fcntl(d->fd, F_SETFL, O_NONBLOCK);
            AWAIT_CATCH(g, in_time(d, sock_connect(d->loop, &d->io, d->fd, d->addr->ai_addr, d->addr->ai_addrlen)));
            if (g->thrown) {
                close(d->fd);
                d->fd = -1;
                d->error[0] = '\0'; /* the next address may work: report the last error */
                fail(d, "%s", error_text(g->thrown));
                if (g->thrown == ECANCELED)
                    break;
            }
        }
        freeaddrinfo(d->addrs);
        d->addrs = NULL;
        if (d->fd < 0)
            break;
        d->error[0] = '\0';
        prepare_request(d);
        AWAIT_CATCH(g, in_time(d, sock_sendall(d->loop, &d->io, d->fd, d->request, strlen(d->request))));
        d->outcome = GOING;
        if (g->thrown) {
            fail(d, "%s", error_text(g->thrown));
            d->outcome = FAILED;
        }
        while (d->outcome == GOING) {
            AWAIT_CATCH(g, in_time(d, sock_recv(d->loop, &d->io, d->fd, d->buf, sizeof d->buf)));
            if (g->thrown) {
                fail(d, "%s", error_text(g->thrown));
                d->outcome = FAILED;
            } else {
                d->outcome = take(d, d->buf, d->io.n);
            }
        }
        close(d->fd);
        d->fd = -1;
    }
    finish(d, async_mode);
    if (concurrency > 0) { /* hand the slot over, or give it back */
        if (waiting_head < waiting_tail)
            fut_set_result(&waiting[waiting_head++]->turn, NULL);
        else
            active--;
    }
    GEN_END(g);
}

/* Ctrl-C in async mode: every download is cancelled at its await point, and
 * cleans up as for any other error. */
static void cancel_downloads(void *arg)
{
    struct mode *m = arg;
    interrupted = 1;
    for (int i = 0; i < count; i++)
        task_cancel(&m->downloads[i].task);
}

static void download_async(struct mode *m)
{
    struct loop *loop = loop_create();
    struct fut **futs = calloc((size_t)count, sizeof *futs), *done;
    struct gather_fut all;
    waiting = calloc((size_t)count, sizeof *waiting);
    if (!loop || !futs || !waiting) {
        fprintf(stderr, "%s: %s\n", prog, strerror(errno));
        exit(1);
    }
    async_mode = m;
    loop_add_signal_handler(loop, SIGINT, cancel_downloads, m);
    loop_add_signal_handler(loop, SIGTERM, cancel_downloads, m);
    for (int i = 0; i < count; i++) {
        struct download *d = &m->downloads[i];
        gen_init(&d->gen, download_body);
        d->loop = loop;
        futs[i] = &aio_create_task(loop, &d->task, &d->gen)->fut;
    }
    /* The lesson's asyncio.gather(*tasks): done when every download is. EINTR
     * only says a signal arrived (Ctrl-C): its handler runs next. */
    done = aio_gather(loop, &all, futs, NULL, (size_t)count);
    while (loop_run_until_complete(loop, done) < 0) {
        if (errno != EINTR) {
            perror("select");
            exit(1);
        }
    }
    loop_shutdown(loop);
    loop_close(loop);
    free(futs);
    free(waiting);
}

/* ---- the timeline: one bar per download, a panel per mode ---- */

static void write_timeline(struct mode *modes[], int n)
{
    const double left = 70, width = 720, bar = 12, gap = 4, top = 30;
    long long span = 1, step = 1;
    double y = 10, x_per_ms;
    FILE *f = fopen(timeline_file, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, timeline_file, strerror(errno));
        return;
    }
    for (int i = 0; i < n; i++)
        span = modes[i]->elapsed_ms > span ? modes[i]->elapsed_ms : span;
    x_per_ms = width / (double)span;
    /* Ticks at 1, 2 or 5 times a power of ten, at most 10 of them. */
    for (long long p = 1;; p *= 10) {
        if (span / p <= 10) { step = p; break; }
        if (span / (2 * p) <= 10) { step = 2 * p; break; }
        if (span / (5 * p) <= 10) { step = 5 * p; break; }
    }
    double height = 10;
    for (int i = 0; i < n; i++)
        height += top + count * (bar + gap) + 30;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            left + width + 30, height);
    for (int i = 0; i < n; i++) {
        struct mode *m = modes[i];
        double axis;
        fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" font-size=\"14\">%s: %d images in %.2f s</text>\n", left, y + 16,
                m->name, m->ok, m->elapsed_ms / 1000.0);
        y += top;
        for (int j = 0; j < count; j++) {
            struct download *d = &m->downloads[j];
            double w = (double)(d->end_ms - d->start_ms) * x_per_ms;
            fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"end\">image %d</text>\n", left - 6, y + bar - 2,
                    d->index);
            fprintf(f, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" fill=\"%s\"/>\n",
                    left + (double)d->start_ms * x_per_ms, y, w < 1 ? 1 : w, bar,
                    d->error[0] ? "#d62728" : "#1f77b4");
            y += bar + gap;
        }
        axis = y + 2;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" stroke=\"black\"/>\n", left, axis,
                left + width, axis);
        for (long long t = 0; t <= span; t += step)
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.0f\" stroke=\"black\"/>"
                       "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%lld ms</text>\n",
                    left + (double)t * x_per_ms, axis, left + (double)t * x_per_ms, axis + 4,
                    left + (double)t * x_per_ms, axis + 16, t);
        y += 30;
    }
    fprintf(f, "</svg>\n");
    if (fclose(f) != 0)
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, timeline_file, strerror(errno));
}

/* ---- the command line ---- */

void usage(FILE *out)
{
    fprintf(out, "usage: %s [-n COUNT] [-c CONCURRENCY] [-o DIR] [--sync | --async] [--timeout S]\n"
                 "       [--timeline FILE.svg] [URL]\n"
                 "  Downloads COUNT images (default 10) from URL (default %s) into DIR\n"
                 "  (default images), first one after another, then all at once, and compares.\n"
                 "  -c N          async: at most N downloads at a time (default: no limit)\n"
                 "  --sync        only the synchronous way;  --async  only the asynchronous way\n"
                 "  --timeout S   give up on a download after S seconds without progress (default 30)\n"
                 "  --timeline F  draw each download's start and end into the SVG file F\n"
                 "  -h            show this help\n",
            prog, DEFAULT_URL);
}

static long number_arg(int argc, char **argv, int *i, long min, long max)
{
    char *end;
    long n;
    if (*i + 1 == argc)
        bad_usage("missing value", argv[*i]);
    errno = 0;
    n = strtol(argv[++*i], &end, 10);
    if (end == argv[*i] || *end != '\0' || errno || n < min || n > max)
        bad_usage("not a valid number", argv[*i]);
    return n;
}

static void parse_args(int argc, char **argv)
{
    int have_url = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(arg, "-n") == 0) {
            count = (int)number_arg(argc, argv, &i, 1, MAX_COUNT);
        } else if (strcmp(arg, "-c") == 0) {
            concurrency = (int)number_arg(argc, argv, &i, 1, MAX_COUNT);
        } else if (strcmp(arg, "--timeout") == 0) {
            timeout_ms = number_arg(argc, argv, &i, 1, 86400) * 1000;
        } else if (strcmp(arg, "-o") == 0 || strcmp(arg, "--timeline") == 0) {
            if (i + 1 == argc)
                bad_usage("missing value", arg);
            *(arg[1] == 'o' ? &dir_name : &timeline_file) = argv[++i];
        } else if (strcmp(arg, "--sync") == 0 || strcmp(arg, "--async") == 0) {
            if (!run_sync || !run_async)
                bad_usage("choose one of --sync and --async", arg);
            run_sync = arg[2] == 's';
            run_async = !run_sync;
        } else if (arg[0] == '-' && arg[1] != '\0') {
            bad_usage("unknown option", arg);
        } else if (have_url) {
            bad_usage("more than one URL", arg);
        } else {
            start_url = arg;
            have_url = 1;
        }
    }
}

/* Runs one mode over fresh downloads; prints its summary. */
static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void run_mode(struct mode *m, const http_url *url)
{
    m->downloads = calloc((size_t)count, sizeof *m->downloads);
    if (!m->downloads) {
        fprintf(stderr, "%s: %s\n", prog, strerror(errno));
        exit(1);
    }
    for (int i = 0; i < count; i++) {
        struct download *d = &m->downloads[i];
        d->index = i + 1;
        d->url = *url;
        d->fd = d->file_fd = -1;
    }
    m->start_ms = now_ms();
    if (strcmp(m->name, "sync") == 0)
        for (int i = 0; i < count && !interrupted; i++)
            download_sync(&m->downloads[i], m);
    else
        download_async(m);
    m->elapsed_ms = now_ms() - m->start_ms;
    if (on_terminal)
        printf("\n");
    printf("%s: %d images, %lld bytes in %.2f s\n", m->name, m->ok, m->bytes, m->elapsed_ms / 1000.0);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static http_url url;
    struct mode sync_run = { .name = "sync" }, async_run = { .name = "async" };
    struct mode *ran[2];
    int n = 0, failed = 0;
    const char *error;
    struct sigaction sa;
    if (argc > 0)
        prog = argv[0];
    parse_args(argc, argv);
    raise_fd_limit(); /* every download at once holds a socket and a file */
    if ((error = http_url_parse(&url, start_url)) != NULL) {
        /* Every image would fail the same way: say it once per image all the
         * same, as for any other error, and leave nothing behind. */
        for (int i = 1; i <= count; i++)
            fprintf(stderr, "image %d: %s: %s\n", i, start_url, error);
        return 1;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN; /* a server that resets: EPIPE, not death */
    sigaction(SIGPIPE, &sa, NULL);
    /* Ctrl-C: the blocking call returns EINTR (no SA_RESTART) and the download
     * stops cleanly; a second Ctrl-C kills at once (SA_RESETHAND). */
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (mkdir(dir_name, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, dir_name, strerror(errno));
        return 1;
    }
    dir_fd = open(dir_name, O_RDONLY | O_DIRECTORY);
    if (dir_fd < 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, dir_name, strerror(errno));
        return 1;
    }
    on_terminal = isatty(STDOUT_FILENO);
    if (run_sync) {
        run_mode(&sync_run, &url);
        ran[n++] = &sync_run;
    }
    if (run_async && !interrupted) {
        run_mode(&async_run, &url);
        ran[n++] = &async_run;
    }
    if (n == 2)
        printf("speedup: %.1f\xc3\x97\n", (double)sync_run.elapsed_ms / (double)(async_run.elapsed_ms > 0 ? async_run.elapsed_ms : 1));
    if (timeline_file)
        write_timeline(ran, n);
    for (int i = 0; i < n; i++) {
        failed |= ran[i]->ok < count;
        free(ran[i]->downloads);
    }
    close(dir_fd);
    return interrupted ? 130 : failed ? 1 : 0; /* 130: the shell's code for Ctrl-C */
}
