/* The selector: a table of keys indexed by fd, and a backend that asks the
 * kernel which fds are ready. As in Redis's ae.c, the backend is chosen here,
 * at compile time, by including one file; each defines the same few functions. */
#define _POSIX_C_SOURCE 200809L
#include "selector.h"

#include <errno.h>
#include <stdlib.h>

/* make BACKEND=poll (or epoll, kqueue) forces a backend; otherwise the best one
 * this platform has. */
#if defined(SEL_USE_EPOLL) || (defined(__linux__) && !defined(SEL_USE_POLL) && !defined(SEL_USE_KQUEUE))
#include "selector_epoll.c"
#elif defined(SEL_USE_KQUEUE) || (!defined(SEL_USE_POLL) && (defined(__APPLE__) || defined(__FreeBSD__) || \
    defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)))
#include "selector_kqueue.c"
#else
#include "selector_poll.c"
#endif

struct selector {
    struct sel_key *keys; /* indexed by fd */
    int nkeys;            /* size of keys[] */
    struct sel_backend backend;
};

struct selector *sel_create(void)
{
    struct selector *sel = calloc(1, sizeof *sel);
    if (sel && backend_create(&sel->backend) < 0) {
        free(sel);
        return NULL;
    }
    return sel;
}

void sel_close(struct selector *sel)
{
    if (!sel)
        return;
    backend_free(&sel->backend);
    free(sel->keys);
    free(sel);
}

const char *sel_backend(void)
{
    return BACKEND_NAME;
}

const struct sel_key *sel_get_key(const struct selector *sel, int fd)
{
    if (fd < 0 || fd >= sel->nkeys || sel->keys[fd].fd < 0)
        return NULL;
    return &sel->keys[fd];
}

int sel_register(struct selector *sel, int fd, int events, sel_callback *callback, void *data)
{
    if (fd < 0 || (events & ~(SEL_READ | SEL_WRITE)) || !callback) {
        errno = EINVAL;
        return -1;
    }
    if (sel_get_key(sel, fd)) {
        errno = EEXIST;
        return -1;
    }
    /* The table grows with the largest fd seen, doubling, so no fixed cap. */
    if (fd >= sel->nkeys) {
        int n = sel->nkeys ? sel->nkeys : 64;
        struct sel_key *keys;
        while (n <= fd)
            n *= 2;
        keys = realloc(sel->keys, (size_t)n * sizeof *keys);
        if (!keys)
            return -1;
        for (int i = sel->nkeys; i < n; i++)
            keys[i].fd = -1;
        sel->keys = keys;
        sel->nkeys = n;
    }
    if (backend_update(&sel->backend, fd, 0, events) < 0)
        return -1;
    sel->keys[fd] = (struct sel_key){ fd, events, callback, data };
    return 0;
}

int sel_modify(struct selector *sel, int fd, int events, sel_callback *callback, void *data)
{
    struct sel_key *key = (struct sel_key *)sel_get_key(sel, fd);
    if (!key) {
        errno = fd < 0 ? EINVAL : ENOENT;
        return -1;
    }
    if ((events & ~(SEL_READ | SEL_WRITE)) || !callback) {
        errno = EINVAL;
        return -1;
    }
    /* Only a change of events costs a system call. */
    if (events != key->events && backend_update(&sel->backend, fd, key->events, events) < 0)
        return -1;
    *key = (struct sel_key){ fd, events, callback, data };
    return 0;
}

int sel_unregister(struct selector *sel, int fd)
{
    struct sel_key *key = (struct sel_key *)sel_get_key(sel, fd);
    if (!key) {
        errno = fd < 0 ? EINVAL : ENOENT;
        return -1;
    }
    /* Unregister before close(): once closed, the kernel may hand the same fd
     * number to the next connection. */
    backend_update(&sel->backend, fd, key->events, 0);
    key->fd = -1;
    return 0;
}

int sel_select(struct selector *sel, struct sel_event *ready, int max, int timeout_ms)
{
    if (max <= 0) {
        errno = EINVAL;
        return -1;
    }
    return backend_wait(&sel->backend, ready, max, timeout_ms);
}
