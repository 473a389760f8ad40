/* A selectors-like object, after Python's selectors module: register a file
 * descriptor with the events it waits for and a callback, then ask which are ready. */
#ifndef SELECTOR_H
#define SELECTOR_H

enum { SEL_READ = 1, SEL_WRITE = 2 };

struct selector;

/* Called by the event loop with the events that are ready (a subset of the
 * registered ones) and the data given at registration. */
typedef void sel_callback(struct selector *sel, int fd, int events, void *data);

/* What is registered for one fd: Python's SelectorKey (fileobj, events, data). */
struct sel_key {
    int fd; /* -1: nothing registered */
    int events;
    sel_callback *callback;
    void *data;
};

/* One ready fd, as sel_select() reports it. */
struct sel_event {
    int fd;
    int events;
};

/* All functions returning int give 0 (or a count) on success, -1 with errno
 * set on failure: EEXIST registering twice, ENOENT for an fd never registered,
 * EINVAL for a negative fd or unknown events, EINTR when a signal interrupts
 * sel_select(). */
struct selector *sel_create(void);
int sel_register(struct selector *sel, int fd, int events, sel_callback *callback, void *data);
int sel_modify(struct selector *sel, int fd, int events, sel_callback *callback, void *data);
int sel_unregister(struct selector *sel, int fd);
/* The key registered for fd, or NULL. Look it up again after running any
 * callback: a callback may unregister fds, its own or others. */
const struct sel_key *sel_get_key(const struct selector *sel, int fd);
/* Wait up to timeout_ms (-1: forever) and fill ready[0..max) with ready fds;
 * returns how many. An fd may appear twice (once readable, once writable). */
int sel_select(struct selector *sel, struct sel_event *ready, int max, int timeout_ms);
void sel_close(struct selector *sel);
/* "epoll", "kqueue" or "poll": which backend this build uses. */
const char *sel_backend(void);

#endif
