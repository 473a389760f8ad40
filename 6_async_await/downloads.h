/* downloads.h - what each download of the downloader needs besides the
 * fetching that downloader.c shows: a file that appears whole or not at all,
 * one message per cause of failure saying what to do, the progress line and
 * the timeline (downloads.c). */
#ifndef DOWNLOADS_H
#define DOWNLOADS_H

#include <netdb.h>
#include <signal.h>

#include "asyncio.h"
#include "http.h"

#define MAX_REDIRECTS 10

/* Set from the command line; the same for every download. */
extern const char *start_url;
extern int count;            /* downloads per mode */
extern long long timeout_ms; /* without progress */
extern const char *dir_name; /* where the pictures go */
/* Ctrl-C or SIGTERM: downloads under way stop and remove their part files. */
extern volatile sig_atomic_t interrupted;

/* One picture: where it is, what became of it. In async mode it is also the
 * frame of the task that fetches it. */
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
    int outcome;             /* GOING, FOLLOW, SAVED or FAILED */
    http_response resp;
    int file_fd;             /* the temporary file, or -1 */
    char part[64];           /* its name in the folder */
    char name[HTTP_NAME_MAX + 1]; /* the name it was saved under */
    long long bytes;
    long long start_ms, end_ms;   /* relative to the mode's start */
    char error[400];         /* "" while all is well */
    char first[16];          /* the answer's first bytes: is it HTTP at all? */
    size_t first_len;
    char request[HTTP_PATH_MAX + HTTP_HOST_MAX + 128];
    char buf[32768];         /* large reads: a thousand downloads at once move 230 MB */
};

/* What the answer so far means. */
enum outcome { GOING, FOLLOW, SAVED, FAILED };

/* One way of downloading them all: "sync" or "async". */
struct mode {
    const char *name;
    struct download *downloads;
    long long start_ms, elapsed_ms, bytes;
    int done, ok;
};

long long now_ms(void);

/* Creates (if need be) and opens the folder the pictures go to; or says why
 * not and returns -1. */
int open_folder(void);
void close_folder(void);

/* Before a mode: count fresh downloads of the start URL. */
void mode_start(struct mode *m, const http_url *url);
/* "sync: 10 images, 1152540 bytes in 1.02 s" (and how many failed). */
void mode_report(const struct mode *m);

/* Finds d's host (getaddrinfo: d->addrs): 1, or 0 with d's error set. */
int download_resolve(struct download *d);
/* Before each request: what to send (d->request) and a parser for the answer. */
void download_request(struct download *d);
/* Feeds received bytes to the parser (len 0: the server closed): GOING,
 * FOLLOW (d->url is the next URL), SAVED or FAILED. */
int download_take(struct download *d, const char *data, size_t len);
/* Records the first error only (the cause; what follows is cleanup), as the
 * message for err, a failed socket operation's errno value. */
void download_fail(struct download *d, int err);
/* However d ended: nothing half-written stays behind; it is counted, and its
 * error said unless an earlier download said the same. */
void download_finish(struct download *d, struct mode *m);

/* Draws each download's start and end into an SVG file. */
void write_timeline(const char *file, struct mode *modes[], int n);

#endif
