/* Just enough of BSD's <sys/event.h>, as its manual page declares it, to
 * compile the kqueue backend on a system without kqueue: a check that the
 * backend stays warning-free where it cannot run. Never linked. */
#ifndef KQUEUE_STUB_SYS_EVENT_H
#define KQUEUE_STUB_SYS_EVENT_H
#include <stdint.h>
#include <time.h>

struct kevent {
    uintptr_t ident;
    short filter;
    unsigned short flags;
    unsigned int fflags;
    intptr_t data;
    void *udata;
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)
#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_EOF 0x8000
#define EV_ERROR 0x4000

#define EV_SET(kevp, a, b, c, d, e, f)                                         \
    do {                                                                       \
        struct kevent *ev_ = (kevp);                                           \
        ev_->ident = (a);                                                      \
        ev_->filter = (b);                                                     \
        ev_->flags = (c);                                                      \
        ev_->fflags = (d);                                                     \
        ev_->data = (e);                                                       \
        ev_->udata = (f);                                                      \
    } while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist, int nevents,
           const struct timespec *timeout);
#endif
