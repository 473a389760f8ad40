/* Signals, after asyncio's add_signal_handler (unix_events.py): a handler runs
 * from the loop, like any callback, not from inside the signal. */
#define _POSIX_C_SOURCE 200809L
#include "loop_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* A signal handler may interrupt anything, so it only does what is safe there:
 * write the signal's number to the self-pipe. The loop reads it like any fd. */
static int signal_pipe = -1; /* its write end: a handler knows no loop */

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char byte = (unsigned char)sig;
    ssize_t n = write(signal_pipe, &byte, 1); /* full pipe: that signal is pending already */
    (void)n;
    errno = saved;
}

/* The self-pipe's reader: run the handlers of the signals that arrived. */
static void read_signals(void *arg)
{
    struct loop *loop = arg;
    unsigned char sigs[64];
    ssize_t n;
    while ((n = read(loop->wakeup[0], sigs, sizeof sigs)) > 0)
        for (ssize_t i = 0; i < n; i++)
            for (int k = 0; k < loop->nsignals; k++)
                if (loop->signals[k].sig == sigs[i]) {
                    TRACE(loop, "signal %d: running its handler", sigs[i]);
                    loop->signals[k].fn(loop->signals[k].arg);
                }
}

int loop_add_signal_handler(struct loop *loop, int sig, loop_callback *fn, void *arg)
{
    struct sigaction sa;
    int k = 0;
    while (k < loop->nsignals && loop->signals[k].sig != sig)
        k++;
    if (k == MAX_SIGNALS || sig <= 0 || sig > UCHAR_MAX) {
        errno = EINVAL;
        return -1;
    }
    if (loop->wakeup[0] < 0) {
        if (pipe(loop->wakeup) < 0)
            return -1;
        for (int i = 0; i < 2; i++) {
            fcntl(loop->wakeup[i], F_SETFL, fcntl(loop->wakeup[i], F_GETFL) | O_NONBLOCK);
            fcntl(loop->wakeup[i], F_SETFD, FD_CLOEXEC);
        }
        if (loop_add_reader(loop, loop->wakeup[0], read_signals, loop) < 0)
            return -1;
        signal_pipe = loop->wakeup[1];
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART; /* the pipe wakes the loop; other calls may go on */
    if (sigaction(sig, &sa, NULL) < 0)
        return -1;
    loop->signals[k].sig = sig;
    loop->signals[k].fn = fn;
    loop->signals[k].arg = arg;
    if (k == loop->nsignals)
        loop->nsignals++;
    return 0;
}

void loop_remove_signal_handler(struct loop *loop, int sig)
{
    for (int k = 0; k < loop->nsignals; k++)
        if (loop->signals[k].sig == sig) {
            signal(sig, SIG_DFL);
            loop->signals[k] = loop->signals[--loop->nsignals];
            return;
        }
}

void loop_close_signals(struct loop *loop)
{
    for (int k = 0; k < loop->nsignals; k++)
        signal(loop->signals[k].sig, SIG_DFL);
    if (loop->wakeup[0] >= 0) {
        signal_pipe = -1;
        close(loop->wakeup[0]);
        close(loop->wakeup[1]);
    }
}
