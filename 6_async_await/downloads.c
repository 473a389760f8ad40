/* What each download of the downloader needs besides the fetching that
 * downloader.c shows: the answer turned into a file that appears whole or not
 * at all, one message per cause of failure saying what to do, the progress
 * line and the timeline. */
#define _POSIX_C_SOURCE 200809L
#define _DARWIN_C_SOURCE /* macOS: O_NOFOLLOW and O_DIRECTORY, hidden under _POSIX_C_SOURCE alone */
#include "downloads.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

const char *start_url = "http://127.0.0.1:8000/320/240";
int count = 10;
long long timeout_ms = 30000;
const char *dir_name = "images";
volatile sig_atomic_t interrupted;

static int dir_fd = -1;
static int on_terminal;

long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int open_folder(void)
{
    if (mkdir(dir_name, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "%s: cannot create %s: %s\n", prog, dir_name, strerror(errno));
        return -1;
    }
    dir_fd = open(dir_name, O_RDONLY | O_DIRECTORY);
    if (dir_fd < 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, dir_name, strerror(errno));
        return -1;
    }
    on_terminal = isatty(STDOUT_FILENO);
    return 0;
}

void close_folder(void)
{
    close(dir_fd);
}

/* ---- messages: one line each, its cause and what to do ---- */

static void fail_with(struct download *d, const char *fmt, ...)
{
    va_list ap;
    if (d->error[0])
        return;
    va_start(ap, fmt);
    vsnprintf(d->error, sizeof d->error, fmt, ap);
    va_end(ap);
}

/* 127.x.x.x and localhost: where the image server runs. */
static int is_local(const char *host)
{
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "localhost") == 0;
}

void download_fail(struct download *d, int err)
{
    const char *host = d->url.host;
    unsigned port = d->url.port;
    /* Only Ctrl-C or SIGTERM cancels a download (asyncio.run cancels main2, and
     * its gather each task); in sync mode they interrupt the blocking call. */
    if (err == ECANCELED || (interrupted && err == EINTR))
        fail_with(d, "interrupted");
    else if (err == ECONNREFUSED && is_local(host))
        fail_with(d, "nothing is listening on %s:%u; start the image server: 6_async_await/image_server %u", host,
                  port, port);
    else if (err == ECONNREFUSED)
        fail_with(d, "nothing is listening on %s:%u (connection refused); check the host and port", host, port);
    else if (err == ETIMEDOUT || err == EAGAIN || err == EWOULDBLOCK)
        fail_with(d, "no progress from %s:%u in %lld s (timed out); check the server, or wait longer with --timeout",
                  host, port, timeout_ms / 1000);
    else if (err == ECONNRESET || err == EPIPE)
        fail_with(d, "%s:%u reset the connection; try again", host, port);
    else
        fail_with(d, "%s:%u: %s", host, port, strerror(err));
}

/* What a status that brings no picture means, and what to do about it. */
static const char *status_advice(int status)
{
    static const struct { int status; const char *text; } advice[] = {
        { 400, " Bad Request: the server did not understand the request" },
        { 401, " Unauthorized: the picture needs a login" },
        { 403, " Forbidden: the server will not send it" },
        { 404, " Not Found: no picture at that address; check the URL" },
        { 410, " Gone: the picture was removed" },
        { 429, " Too Many Requests: try again later, or fewer at once with -c" },
        { 503, " Service Unavailable: try again later, or fewer at once with -c" },
    };
    for (size_t i = 0; i < sizeof advice / sizeof advice[0]; i++)
        if (advice[i].status == status)
            return advice[i].text;
    return status >= 500 ? ": the server failed; try again later" : ": no picture in that answer; check the URL";
}

/* The answer's first bytes, with anything unprintable as '.'. */
static void printable_start(const struct download *d, char *out)
{
    size_t i;
    for (i = 0; i < d->first_len; i++)
        out[i] = d->first[i] >= 0x20 && d->first[i] < 0x7f ? d->first[i] : '.';
    out[i] = '\0';
}

/* The parser refused the answer: is it HTTP at all? */
static void fail_answer(struct download *d, const char *error)
{
    char start[sizeof d->first + 1];
    size_t n = d->first_len < 5 ? d->first_len : 5;
    printable_start(d, start);
    if (d->first_len == 0)
        fail_with(d, "%s:%u closed the connection without answering; try again", d->url.host, d->url.port);
    else if (memcmp(d->first, "HTTP/", n) != 0)
        fail_with(d, "the answer from %s:%u is not HTTP (it begins \"%s\"); check that the URL names a web server",
                  d->url.host, d->url.port, start);
    else if (strcmp(error, "truncated body") == 0)
        fail_with(d, "the connection closed before the whole picture came (truncated body); try again");
    else if (strcmp(error, "truncated head") == 0)
        fail_with(d, "the connection closed in the middle of the answer's head (truncated head); try again");
    else
        fail_with(d, "malformed answer from %s:%u (%s)", d->url.host, d->url.port, error);
}

/* ---- the answer, into a file that appears whole or not at all ---- */

/* getaddrinfo() blocks, and in async mode it blocks the loop while the resolver
 * works (asyncio hands it to a thread; we have none). For names in /etc/hosts or
 * a nearby resolver that is a moment, once per connection; acceptable here. */
int download_resolve(struct download *d)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    char port[8];
    int rc;
    snprintf(port, sizeof port, "%u", d->url.port);
    rc = getaddrinfo(d->url.host, port, &hints, &d->addrs);
    if (rc != 0) {
        fail_with(d, "unknown host %s (%s); check the URL", d->url.host, gai_strerror(rc));
        return 0;
    }
    return 1;
}

void download_request(struct download *d)
{
    char port[16] = "";
    if (d->url.port != 80)
        snprintf(port, sizeof port, ":%u", d->url.port);
    snprintf(d->request, sizeof d->request,
             "GET %s HTTP/1.1\r\nHost: %s%s\r\nUser-Agent: downloader\r\nAccept: */*\r\nConnection: close\r\n\r\n",
             d->url.path, d->url.host, port);
    http_response_init(&d->resp, false);
    d->first_len = 0;
}

static int on_head(struct download *d)
{
    int s = d->resp.status;
    const char *error;
    if (s == 301 || s == 302 || s == 303 || s == 307 || s == 308) {
        if (!d->resp.location[0]) {
            fail_with(d, "HTTP %d without a Location header: the server says the picture moved, not where to", s);
            return FAILED;
        }
        if (++d->redirects > MAX_REDIRECTS) {
            fail_with(d, "too many redirects (%d, the last to %s): the server sends the downloader in circles",
                      MAX_REDIRECTS, d->resp.location);
            return FAILED;
        }
        if ((error = http_url_resolve(&d->url, &d->url, d->resp.location)) != NULL) {
            fail_with(d, "cannot follow the redirect to %s: %s", d->resp.location, error);
            return FAILED;
        }
        return FOLLOW; /* Connection: close, so the rest of this answer is not needed */
    }
    if (s < 200 || s > 299) {
        fail_with(d, "HTTP %d%s", s, status_advice(s));
        return FAILED;
    }
    /* The body goes to a temporary file, named after nothing the server chose:
     * O_EXCL|O_NOFOLLOW, so it is a new file, never a link planted there. */
    snprintf(d->part, sizeof d->part, ".download-%ld-%d.part", (long)getpid(), d->index);
    d->file_fd = openat(dir_fd, d->part, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0644);
    if (d->file_fd < 0) {
        fail_with(d, "cannot create %s/%s: %s", dir_name, d->part, strerror(errno));
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
        fail_with(d, "cannot write %s/%s: %s", dir_name, d->part, strerror(errno));
        return FAILED;
    }
    http_safe_name(safe, d->url.path, (unsigned long)d->index);
    snprintf(d->name, sizeof d->name, "%s", safe);
    for (unsigned n = 1; linkat(dir_fd, d->part, dir_fd, d->name, 0) < 0; n++) {
        if (errno != EEXIST || n > 100000) {
            fail_with(d, "cannot save %s/%s: %s", dir_name, d->name, strerror(errno));
            return FAILED;
        }
        http_numbered_name(d->name, safe, n);
    }
    unlinkat(dir_fd, d->part, 0);
    d->part[0] = '\0';
    return SAVED;
}

int download_take(struct download *d, const char *data, size_t len)
{
    http_slice in = { data, len }, body;
    size_t keep = sizeof d->first - d->first_len;
    memcpy(d->first + d->first_len, data, len < keep ? len : keep);
    d->first_len += len < keep ? len : keep;
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
                fail_with(d, "cannot write %s/%s: %s", dir_name, d->part, strerror(errno));
                return FAILED;
            }
            d->bytes += (long long)body.len;
            break;
        case HTTP_DONE:
            if (d->file_fd >= 0)
                return publish(d);
            fail_with(d, "HTTP %d%s", d->resp.status, status_advice(d->resp.status)); /* a 101 */
            return FAILED;
        case HTTP_ERROR:
            fail_answer(d, d->resp.error);
            return FAILED;
        }
    }
}

/* ---- counting and reporting ---- */

static void progress(const struct mode *m)
{
    int failed = m->done - m->ok;
    printf(on_terminal ? "\r%s: %d/%d images, %.1f MB" : "%s: %d/%d images, %.1f MB", m->name, m->ok, count,
           m->bytes / 1e6);
    if (failed)
        printf(", %d failed", failed);
    printf(on_terminal ? "\033[K" : "\n");
    fflush(stdout);
}

/* Says d's error unless an earlier download said the same: a cause once,
 * however many downloads it stopped. */
static void say_once(const struct download *d)
{
    static char said[16][sizeof d->error];
    static int nsaid;
    for (int i = 0; i < nsaid; i++)
        if (strcmp(said[i], d->error) == 0)
            return;
    if (nsaid < 16)
        strcpy(said[nsaid++], d->error);
    fprintf(stderr, "%simage %d: %s: %s\n", on_terminal ? "\r\033[K" : "", d->index, start_url, d->error);
}

void download_finish(struct download *d, struct mode *m)
{
    if (d->addrs)
        freeaddrinfo(d->addrs);
    d->addrs = NULL;
    if (d->fd >= 0 && d->loop)
        loop_forget_fd(d->loop, d->fd); /* before close(): its number will be reused */
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
        say_once(d);
    } else {
        m->ok++;
        m->bytes += d->bytes;
    }
    progress(m);
}

void mode_start(struct mode *m, const http_url *url)
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
}

void mode_report(const struct mode *m)
{
    if (on_terminal)
        printf("\n");
    printf("%s: %d images, %lld bytes in %.2f s", m->name, m->ok, m->bytes, m->elapsed_ms / 1000.0);
    if (m->ok < m->done)
        printf(", %d failed", m->done - m->ok);
    printf("\n");
    fflush(stdout);
}

/* ---- the timeline: one bar per download, a panel per mode ---- */

void write_timeline(const char *file, struct mode *modes[], int n)
{
    const double left = 70, width = 720, bar = 12, gap = 4, top = 30;
    long long span = 1, step = 1;
    double y = 10, x_per_ms;
    FILE *f = fopen(file, "w");
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, file, strerror(errno));
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
               "font-family=\"sans-serif\" font-size=\"11\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
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
        fprintf(stderr, "%s: cannot write %s: %s\n", prog, file, strerror(errno));
}
