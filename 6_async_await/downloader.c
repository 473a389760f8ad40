/* Step 6's image downloader (the lesson's demo): the same pictures fetched one after another with
 * blocking sockets, then all at once as tasks on the small asyncio (asyncio.run(main2())), and how
 * long each way took.
 * What every download needs besides the fetching (files, messages, progress, timeline): downloads.c.
 * Build alone: cc -std=c11 -Wall -Wextra -Wpedantic -o downloader downloader.c downloads.c common.c tasks.c futures.c loop.c signals.c sockets.c gen.c selector.c http.c */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "asyncio.h"
#include "common.h"
#include "downloads.h"
#include "http.h"

#define MAX_COUNT 10000

static int concurrency; /* -c: at most this many at once in async mode (0: no limit) */
static int run_sync = 1, run_async = 1;
static const char *timeline_file;

static int connect_blocking(struct download *d); /* connect() with a time limit, below */

/* ---- one picture, the blocking way (the course's get_file and write_file) ---- */

/* Connect, send the request, read the answer into the file; again for each
 * redirect (requests.get(url, allow_redirects=True)). Each call blocks: while
 * one picture comes, nothing else happens. */
static void fetch_sync(struct download *d)
{
    int outcome = FOLLOW;
    while (outcome == FOLLOW) {
        size_t sent = 0, len;
        if ((d->fd = connect_blocking(d)) < 0)
            return;
        download_request(d);
        len = strlen(d->request);
        outcome = GOING;
        /* EINTR: Ctrl-C (interrupted) stops the download; any other signal
         * (a stop and continue, say) only interrupted the call: go on. */
        while (outcome == GOING && sent < len) {
            ssize_t n = send(d->fd, d->request + sent, len - sent, 0);
            if (n < 0 && !(errno == EINTR && !interrupted)) {
                download_fail(d, errno);
                outcome = FAILED;
            }
            sent += n > 0 ? (size_t)n : 0;
        }
        while (outcome == GOING) {
            ssize_t n = interrupted ? (errno = EINTR, -1) : recv(d->fd, d->buf, sizeof d->buf, 0);
            if (n < 0 && errno == EINTR && !interrupted)
                continue;
            if (n < 0)
                download_fail(d, errno);
            outcome = n < 0 ? FAILED : download_take(d, d->buf, (size_t)n);
        }
        close(d->fd);
        d->fd = -1;
    }
}

/* ---- one picture as a coroutine (the course's fetch_content) ---- */

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

/* The loop forgets the fd before it is closed: the next download's socket
 * may get the same number. */
static void close_connection(struct download *d)
{
    loop_forget_fd(d->loop, d->fd);
    close(d->fd);
    d->fd = -1;
}

/* The same steps as fetch_sync, each socket operation awaited: while this
 * task waits for its bytes, the loop runs the others. */
static int fetch_async(struct gen *g)
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
        if (!download_resolve(d))
            break;
        for (d->addr = d->addrs; d->addr && d->fd < 0; d->addr = d->addr->ai_next) {
            d->fd = socket(d->addr->ai_family, SOCK_STREAM, 0);
            if (d->fd < 0) {
                download_fail(d, errno);
                continue;
            }
            fcntl(d->fd, F_SETFL, O_NONBLOCK);
            AWAIT_CATCH(g, in_time(d, sock_connect(d->loop, &d->io, d->fd, d->addr->ai_addr,
                                                   d->addr->ai_addrlen)));
            if (g->thrown) {
                close_connection(d);
                d->error[0] = '\0'; /* the next address may work: report the last error */
                download_fail(d, g->thrown);
                if (g->thrown == ECANCELED)
                    break;
            }
        }
        freeaddrinfo(d->addrs);
        d->addrs = NULL;
        if (d->fd < 0)
            break;
        d->error[0] = '\0';
        download_request(d);
        AWAIT_CATCH(g, in_time(d, sock_sendall(d->loop, &d->io, d->fd, d->request, strlen(d->request))));
        d->outcome = GOING;
        if (g->thrown) {
            download_fail(d, g->thrown);
            d->outcome = FAILED;
        }
        while (d->outcome == GOING) {
            AWAIT_CATCH(g, in_time(d, sock_recv(d->loop, &d->io, d->fd, d->buf, sizeof d->buf)));
            if (g->thrown) {
                download_fail(d, g->thrown);
                d->outcome = FAILED;
            } else {
                d->outcome = download_take(d, d->buf, d->io.n);
            }
        }
        close_connection(d);
    }
    if (concurrency > 0) { /* hand the slot over, or give it back */
        if (waiting_head < waiting_tail)
            fut_set_result(&waiting[waiting_head++]->turn, NULL);
        else
            active--;
    }
    GEN_END(g);
}

/* ---- many pictures: one after another, then all at once ---- */

/* The course's main(): a loop of blocking downloads. */
static void fetch_all_sync(struct mode *m)
{
    for (int i = 0; i < count && !interrupted; i++) {
        struct download *d = &m->downloads[i];
        d->start_ms = now_ms() - m->start_ms;
        fetch_sync(d);
        download_finish(d, m);
    }
}

/* Each task's done callback, however it ended: count and report it. */
static void on_fetched(struct fut *task, void *d)
{
    if (task->error) /* cancelled before it began: Ctrl-C */
        download_fail(d, task->error);
    download_finish(d, async_mode);
}

/* The course's main2(): a task per picture, then await asyncio.gather(*tasks). */
struct main2 {
    struct gen gen;
    struct loop *loop;
    struct mode *m;
    struct fut **tasks;
    struct gather_fut all;
};

static int main2_body(struct gen *g)
{
    struct main2 *self = (struct main2 *)g;
    GEN_BEGIN(g);
    for (int i = 0; i < count; i++) {
        struct download *d = &self->m->downloads[i];
        gen_init(&d->gen, fetch_async);
        d->loop = self->loop;
        self->tasks[i] = &aio_create_task(self->loop, &d->task, &d->gen)->fut;
        fut_add_done_callback(self->tasks[i], on_fetched, d);
    }
    AWAIT(g, aio_gather(self->loop, &self->all, self->tasks, NULL, (size_t)count));
    GEN_END(g);
}

/* asyncio.run(main2()). Ctrl-C or SIGTERM cancels main2, the gather cancels
 * every download at its await point, and each cleans up as for any other
 * error; main2 then ends cancelled. */
static void fetch_all_async(struct mode *m)
{
    struct main2 main2 = { .loop = loop_create(), .m = m, .tasks = calloc((size_t)count, sizeof(struct fut *)) };
    int rc;
    waiting = calloc((size_t)count, sizeof *waiting);
    if (!main2.loop || !main2.tasks || !waiting) {
        fprintf(stderr, "%s: %s\n", prog, strerror(errno));
        exit(1);
    }
    async_mode = m;
    gen_init(&main2.gen, main2_body);
    rc = aio_run(main2.loop, &main2.gen);
    if (rc < 0) {
        fprintf(stderr, "%s: the event loop failed: %s\n", prog, strerror(errno));
        exit(1);
    }
    if (rc == ECANCELED)
        interrupted = 1;
    loop_close(main2.loop);
    free(main2.tasks);
    free(waiting);
}

/* ---- connect() with a time limit ---- */

/* A connected blocking socket to d's host, or -1 with d's error set. connect()
 * itself has no time limit, so it runs non-blocking and poll() waits for it;
 * recv() and send() get theirs from SO_RCVTIMEO and SO_SNDTIMEO. */
static int connect_blocking(struct download *d)
{
    struct timeval tv = { .tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000 };
    int err = 0;
    if (!download_resolve(d))
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
    download_fail(d, err);
    return -1;
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
            prog, start_url);
}

/* The number after option argv[*i], in [min, max]; else one line saying the
 * range, and exit 2. */
static long number_arg(int argc, char **argv, int *i, long min, long max)
{
    const char *option = argv[*i];
    char *end;
    long n;
    if (*i + 1 == argc)
        bad_usage("missing value", option);
    errno = 0;
    n = strtol(argv[++*i], &end, 10);
    if (end == argv[*i] || *end != '\0' || errno || n < min || n > max) {
        fprintf(stderr, "%s: %s %s: give a whole number from %ld to %ld\n", prog, option, argv[*i], min, max);
        exit(2);
    }
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

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Runs one mode over fresh downloads of url, and says how it went. */
static void run_mode(struct mode *m, const http_url *url)
{
    mode_start(m, url);
    if (strcmp(m->name, "sync") == 0)
        fetch_all_sync(m);
    else
        fetch_all_async(m);
    m->elapsed_ms = now_ms() - m->start_ms;
    mode_report(m);
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
    if ((error = http_url_parse(&url, start_url)) != NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, start_url, error); /* every download would say the same */
        return 2;
    }
    raise_fd_limit(); /* every download at once holds a socket and a file */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_IGN; /* a server that resets: EPIPE, not death */
    sigaction(SIGPIPE, &sa, NULL);
    /* Ctrl-C in sync mode: the blocking call returns EINTR (no SA_RESTART) and
     * the download stops cleanly; a second Ctrl-C kills at once (SA_RESETHAND).
     * In async mode asyncio.run's own handlers take over (aio_run). */
    sa.sa_handler = on_interrupt;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (open_folder() < 0)
        return 1;
    if (run_sync) {
        run_mode(&sync_run, &url);
        ran[n++] = &sync_run;
    }
    /* After a mode that saved nothing, the other would only fail the same way. */
    if (run_async && !interrupted && (n == 0 || sync_run.ok > 0)) {
        run_mode(&async_run, &url);
        ran[n++] = &async_run;
    }
    if (n == 2 && sync_run.ok > 0 && async_run.ok > 0)
        printf("speedup: %.1f\xc3\x97\n",
               (double)sync_run.elapsed_ms / (double)(async_run.elapsed_ms > 0 ? async_run.elapsed_ms : 1));
    if (timeline_file)
        write_timeline(timeline_file, ran, n);
    for (int i = 0; i < n; i++) {
        failed |= ran[i]->ok < count;
        free(ran[i]->downloads);
    }
    failed |= n < run_sync + run_async;
    close_folder();
    return interrupted ? 130 : failed ? 1 : 0; /* 130: the shell's code for Ctrl-C */
}
