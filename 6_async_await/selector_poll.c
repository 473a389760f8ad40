/* poll() backend, for every POSIX system: no FD_SETSIZE limit like select(),
 * but each wait hands the kernel the whole list of registered fds. */
#include <poll.h>
#include <unistd.h>

#define BACKEND_NAME "poll"

struct sel_backend {
    struct pollfd *fds; /* the list poll() scans */
    int count, cap;
    int *slot;          /* slot[fd]: index of fd in fds[] */
    int nslots;
    int next;           /* where the next scan starts, so no fd is starved */
};

static int backend_create(struct sel_backend *b)
{
    (void)b; /* calloc'ed by sel_create(): empty lists */
    return 0;
}

static void backend_free(struct sel_backend *b)
{
    free(b->fds);
    free(b->slot);
}

static short poll_events(int events)
{
    return (short)((events & SEL_READ ? POLLIN : 0) | (events & SEL_WRITE ? POLLOUT : 0));
}

static int backend_update(struct sel_backend *b, int fd, int old_events, int new_events)
{
    if (old_events == 0 && new_events == 0)
        return 0;
    if (old_events == 0) { /* add at the end */
        if (b->count == b->cap) {
            int cap = b->cap ? b->cap * 2 : 64;
            struct pollfd *fds = realloc(b->fds, (size_t)cap * sizeof *fds);
            if (!fds)
                return -1;
            b->fds = fds;
            b->cap = cap;
        }
        if (fd >= b->nslots) {
            int n = b->nslots ? b->nslots : 64;
            int *slot;
            while (n <= fd)
                n *= 2;
            slot = realloc(b->slot, (size_t)n * sizeof *slot);
            if (!slot)
                return -1;
            b->slot = slot;
            b->nslots = n;
        }
        b->slot[fd] = b->count;
        b->fds[b->count++] = (struct pollfd){ .fd = fd, .events = poll_events(new_events) };
    } else if (new_events == 0) { /* remove: move the last entry into the hole */
        int i = b->slot[fd];
        b->fds[i] = b->fds[--b->count];
        b->slot[b->fds[i].fd] = i;
    } else {
        b->fds[b->slot[fd]].events = poll_events(new_events);
    }
    return 0;
}

static int backend_wait(struct sel_backend *b, struct sel_event *ready, int max, int timeout_ms)
{
    int n = 0, found = poll(b->fds, (nfds_t)b->count, timeout_ms);
    if (found <= 0)
        return found;
    /* Scan from where the last scan stopped, so when more fds are ready than
     * fit in ready[], the ones at the end get their turn next time. */
    for (int k = 0; k < b->count && n < max && found > 0; k++) {
        struct pollfd *p = &b->fds[(b->next + k) % b->count];
        if (!p->revents)
            continue;
        found--;
        ready[n].fd = p->fd;
        ready[n].events = (p->revents & (POLLIN | POLLHUP | POLLERR) ? SEL_READ : 0) |
                          (p->revents & (POLLOUT | POLLHUP | POLLERR) ? SEL_WRITE : 0);
        n++;
    }
    b->next = b->count ? (b->next + 1) % b->count : 0;
    return n;
}
