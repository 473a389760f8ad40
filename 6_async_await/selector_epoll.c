/* epoll backend (Linux): the kernel keeps the interest list, so each wait
 * costs in proportion to the ready fds, not to all registered ones. */
#include <sys/epoll.h>
#include <unistd.h>

#define BACKEND_NAME "epoll"

struct sel_backend {
    int epfd;
    struct epoll_event *events; /* filled by epoll_wait() */
    int size;
};

static int backend_create(struct sel_backend *b)
{
    b->epfd = epoll_create1(EPOLL_CLOEXEC);
    return b->epfd < 0 ? -1 : 0;
}

static void backend_free(struct sel_backend *b)
{
    close(b->epfd);
    free(b->events);
}

static int backend_update(struct sel_backend *b, int fd, int old_events, int new_events)
{
    struct epoll_event ev = { 0 };
    int op = old_events == 0 ? EPOLL_CTL_ADD : new_events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    if (old_events == 0 && new_events == 0)
        return 0;
    ev.events = (new_events & SEL_READ ? EPOLLIN : 0) | (new_events & SEL_WRITE ? EPOLLOUT : 0);
    ev.data.fd = fd;
    return epoll_ctl(b->epfd, op, fd, &ev);
}

static int backend_wait(struct sel_backend *b, struct sel_event *ready, int max, int timeout_ms)
{
    int n;
    if (max > b->size) {
        struct epoll_event *events = realloc(b->events, (size_t)max * sizeof *events);
        if (!events)
            return -1;
        b->events = events;
        b->size = max;
    }
    n = epoll_wait(b->epfd, b->events, max, timeout_ms);
    for (int i = 0; i < n; i++) {
        unsigned e = b->events[i].events;
        /* A hang-up or error is reported as both: the read or the write that
         * follows returns end-of-stream or the error. */
        ready[i].fd = b->events[i].data.fd;
        ready[i].events = (e & (EPOLLIN | EPOLLHUP | EPOLLERR) ? SEL_READ : 0) |
                          (e & (EPOLLOUT | EPOLLHUP | EPOLLERR) ? SEL_WRITE : 0);
    }
    return n;
}
