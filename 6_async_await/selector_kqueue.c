/* kqueue backend (macOS, BSD): like epoll, the kernel keeps the interest list;
 * reading and writing are two separate filters. */
#include <sys/types.h>
#include <sys/event.h>
#include <sys/time.h>
#include <unistd.h>

#define BACKEND_NAME "kqueue"

struct sel_backend {
    int kq;
    struct kevent *events; /* filled by kevent() */
    int size;
};

static int backend_create(struct sel_backend *b)
{
    b->kq = kqueue();
    return b->kq < 0 ? -1 : 0;
}

static void backend_free(struct sel_backend *b)
{
    close(b->kq);
    free(b->events);
}

static int backend_update(struct sel_backend *b, int fd, int old_events, int new_events)
{
    struct kevent changes[2];
    int n = 0;
    if ((old_events ^ new_events) & SEL_READ) {
        EV_SET(&changes[n], fd, EVFILT_READ, new_events & SEL_READ ? EV_ADD : EV_DELETE, 0, 0, NULL);
        n++;
    }
    if ((old_events ^ new_events) & SEL_WRITE) {
        EV_SET(&changes[n], fd, EVFILT_WRITE, new_events & SEL_WRITE ? EV_ADD : EV_DELETE, 0, 0, NULL);
        n++;
    }
    return n ? kevent(b->kq, changes, n, NULL, 0, NULL) : 0;
}

static int backend_wait(struct sel_backend *b, struct sel_event *ready, int max, int timeout_ms)
{
    struct timespec ts, *tsp = NULL;
    int n;
    if (max > b->size) {
        struct kevent *events = realloc(b->events, (size_t)max * sizeof *events);
        if (!events)
            return -1;
        b->events = events;
        b->size = max;
    }
    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
        tsp = &ts;
    }
    n = kevent(b->kq, NULL, 0, b->events, max, tsp);
    for (int i = 0; i < n; i++) {
        /* EV_EOF and EV_ERROR come with the filter; the read or write that
         * follows sees end-of-stream or the error. */
        ready[i].fd = (int)b->events[i].ident;
        ready[i].events = b->events[i].filter == EVFILT_WRITE ? SEL_WRITE : SEL_READ;
    }
    return n;
}
